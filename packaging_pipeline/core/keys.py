"""The lake's key layout: the one place that knows where each dataset lives.

Keys are relative to the lake URI and identical on a local directory and on S3.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Protocol

from packaging_pipeline.core.errors import PipelineError


class _TextObjects(Protocol):
    """What reading and writing ``published/LATEST`` needs of a lake (``core.storage.Lake`` has it)."""

    def exists(self, key: str) -> bool: ...
    def read_text(self, key: str) -> str: ...
    def write_text(self, key: str, text: str) -> None: ...
    def uri_of(self, key: str) -> str: ...

RAW_SOURCES = ("clickstream", "orders", "catalog", "feedback")
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


def parse_ds(ds: str) -> dt.date:
    """Parse a partition date ``YYYY-MM-DD``, naming the bad value on failure."""
    try:
        return dt.date.fromisoformat(ds)
    except (TypeError, ValueError):
        raise PipelineError(f"invalid ds {ds!r}: expected a date as YYYY-MM-DD, e.g. 2026-11-01") from None


def is_safe_part(value: str) -> bool:
    """Whether ``value`` can be one key segment: letters, digits, '.', '_', '-', '=', no '..'."""
    return bool(_SAFE_PART.match(value)) and ".." not in value


def safe_part(value: str) -> str:
    """Return ``value`` if it is safe as one key segment (no slashes, no '..'), else raise ValueError."""
    if not is_safe_part(value):
        raise ValueError(f"unsafe key segment {value!r}: use letters, digits, '.', '_', '-', '='")
    return value


def partition(*parts: str, ds: str) -> str:
    """Key prefix ``<parts>/ds=<ds>/`` with every segment checked."""
    parse_ds(ds)
    return "/".join(safe_part(p) for p in parts) + f"/ds={ds}/"


def raw_prefix(source: str, ds: str) -> str:
    return partition("raw", source, ds=ds)


def accepted_prefix(source: str, ds: str) -> str:
    """Validated, pseudonymised rows in canonical Parquet: what later stages read."""
    return partition("accepted", source, ds=ds)


def quarantine_prefix(source: str, ds: str) -> str:
    return partition("quarantine", source, ds=ds)


def ingest_report_key(ds: str) -> str:
    return partition("reports", "ingest", ds=ds) + "ingest.json"


GROUND_TRUTH_KEY = "raw/_ground_truth/customer_segments.parquet"

DAILY_FEATURES_BASE = "features/daily/"
SESSION_CARRY_BASE = "features/sessions/"
WINDOW_STATE_BASE = "features/state/"
CUSTOMER_FEATURES_BASE = "features/customer/"


def accepted_base(source: str) -> str:
    """``accepted/<source>/``: the parent of every night's accepted partition of ``source``."""
    return f"accepted/{safe_part(source)}/"


def daily_features_prefix(ds: str) -> str:
    """Per-customer partial aggregates of the events and orders that arrived on night ``ds``."""
    return partition("features", "daily", ds=ds)


def session_carry_prefix(ds: str) -> str:
    """The sessions seen in night ``ds``'s clickstream with their state so far, which the next night continues."""
    return partition("features", "sessions", ds=ds)


def window_state_prefix(ds: str) -> str:
    """Each customer's running window totals as of ``ds``, which the next night updates."""
    return partition("features", "state", ds=ds)


def window_arrivals_key(ds: str) -> str:
    """Which arrival nights hold partials of each event date of the window ending ``ds``."""
    return window_state_prefix(ds) + "_arrivals.json"


def customer_features_prefix(ds: str) -> str:
    """Rolling-window customer features as of ``ds``."""
    return partition("features", "customer", ds=ds)


def segments_prefix(ds: str) -> str:
    return partition("segments", ds=ds)


def segment_assignments_prefix(ds: str) -> str:
    return segments_prefix(ds) + "assignments/"


def segment_profiles_key(ds: str) -> str:
    return segments_prefix(ds) + "profiles.json"


def feedback_events_prefix(ds: str) -> str:
    """Accepted feedback of night ``ds`` joined to the published design (segment, motif, box) each order got."""
    return partition("feedback", "events", ds=ds)


def feedback_unmatched_prefix(ds: str) -> str:
    """Contract-valid feedback naming an order or design no published batch knows, with reasons."""
    return quarantine_prefix("feedback_unmatched", ds)


def feedback_report_key(ds: str) -> str:
    return partition("reports", "feedback", ds=ds) + "feedback.json"


def feedback_stats_prefix(ds: str) -> str:
    """Decayed Beta posteriors per (segment, motif class) and (segment, palette) as of ``ds``."""
    return partition("feedback", "stats", ds=ds)


FEEDBACK_STATS_NAME = "stats.json"


def parcels_prefix(ds: str) -> str:
    """Right-sizing of night ``ds``: every order's parcels (box, sizes, ESR, reason), no customer data."""
    return partition("parcels", ds=ds)


PARCELS_NAME = "parcels.parquet"
PARCELS_SUMMARY_NAME = "summary.json"


# --------------------------------------------------------------------------------------------------
# Designs: the night's staging (one folder per segment and design) and what the gate rejected

PLAN_NAME = "plan.json"  # written last by the design stage: without it the staging is incomplete
SPEC_NAME = "spec.json"
ORDER_DESIGNS_NAME = "order_designs.parquet"
ORDER_DESIGNS_GATED_NAME = "order_designs_gated.parquet"
SUSTAINABILITY_NAME = "sustainability.parquet"
GATE_NAME = "gate.json"  # written last by the gate: gate outputs without it are a gate run that died


def staging_prefix(ds: str) -> str:
    return partition("designs", "staging", ds=ds)


def segment_staging_prefix(ds: str, segment_id: int) -> str:
    """``designs/staging/ds=<ds>/segment=<id>/``: one segment's designs, what one design task replaces."""
    return f"{staging_prefix(ds)}segment={segment_id}/"


def design_prefix(ds: str, segment_id: int, design_id: str) -> str:
    return f"{segment_staging_prefix(ds, segment_id)}{safe_part(design_id)}/"


DESIGN_WORK_NAME = "designs.json"
DESIGN_TILES_NAME = "tiles.npz"


def design_work_prefix(ds: str) -> str:
    """``designs/work/ds=<ds>/``: the night's design plan and tiles, which the per-segment design tasks read.

    Never published; replaced with the staging by the next plan of the night.
    """
    return partition("designs", "work", ds=ds)


def print_file_name(box_code: str, inner_mm: Sequence[float]) -> str:
    """``dieline-<box_code>-<LxWxH>``: the print file's name without its .pdf/.svg extension."""
    return f"dieline-{safe_part(box_code)}-{'x'.join(f'{v:g}' for v in inner_mm)}"


def print_file_key(ds: str, segment_id: int, design_id: str, box_code: str, inner_mm: Sequence[float]) -> str:
    """The staged PDF of one design on one box (its SVG sits next to it)."""
    return design_prefix(ds, segment_id, design_id) + print_file_name(box_code, inner_mm) + ".pdf"


def rejected_prefix(ds: str) -> str:
    return partition("designs", "rejected", ds=ds)


def gan_checkpoint_prefix(ds: str) -> str:
    """The pattern GAN's resumable training state of night ``ds``."""
    return partition("models", "pattern-gan", "checkpoints", ds=ds)


def gan_evaluation_key(ds: str) -> str:
    """The pattern GAN promotion gate's report of night ``ds``."""
    return partition("reports", "model", ds=ds) + "evaluation.json"


# --------------------------------------------------------------------------------------------------
# Published batches: the warehouse contract (docs/warehouse-contract.md)

PUBLISHED_BASE = "published/"
PUBLISHED_LATEST_KEY = PUBLISHED_BASE + "LATEST"
SUCCESS_NAME = "_SUCCESS"
MANIFEST_NAME = "manifest.json"


def published_prefix(ds: str) -> str:
    """``published/ds=<ds>/``: one night's folder: its ``_SUCCESS`` pointer and its batch folders."""
    return partition("published", ds=ds)


def published_success_key(ds: str) -> str:
    """The night's pointer to its complete batch, written last: without it the night has none."""
    return published_prefix(ds) + SUCCESS_NAME


BATCH_FOLDER = re.compile(r"^batch=([0-9a-f]{16})/$")
"""``batch=<first 16 hex digits of the batch_id>/``: one complete or in-progress batch of a night."""


def published_batch_prefix(ds: str, batch_id: str) -> str:
    """``published/ds=<ds>/batch=<id16>/``: where one batch's files live; ``_SUCCESS`` names the complete one."""
    folder = f"batch={batch_id[:16]}/"
    if not BATCH_FOLDER.match(folder):
        raise ValueError(f"batch_id {batch_id!r} is not a sha256 hex digest")
    return published_prefix(ds) + folder


# Keys inside a batch are relative to its folder: the files that name other files (spec.json,
# assignments.csv) cannot hold the folder, whose name is a hash of their own bytes.


def batch_assignments_key(warehouse_id: str) -> str:
    """The warehouse's assignments in its batch; the id becomes one key segment, so it may not contain '/'."""
    return f"assignments/{safe_part('warehouse=' + warehouse_id)}/assignments.csv"


BATCH_ASSIGNMENTS_KEY = re.compile(r"^assignments/warehouse=([^/]+)/assignments\.csv$")


def published_design_folder(design_id: str) -> str:
    """``designs/<design_id>/``: a design's folder relative to its batch's folder."""
    return f"designs/{safe_part(design_id)}/"


def batch_design_key(design_id: str, name: str) -> str:
    """A file of one published design (``spec.json``, ``preview.png``, a print file), relative to its batch."""
    return published_design_folder(design_id) + safe_part(name)


class LatestUnreadable(PipelineError):
    """``published/LATEST`` holds something that is not a night."""


def read_latest(lake: _TextObjects) -> str | None:
    """The night ``published/LATEST`` names, or None before the first publication.

    Accepts the plain ``YYYY-MM-DD`` line the publisher writes (and a ``{"ds": ...}`` object);
    anything else raises :class:`LatestUnreadable` naming what it holds.
    """
    if not lake.exists(PUBLISHED_LATEST_KEY):
        return None
    text = lake.read_text(PUBLISHED_LATEST_KEY).strip()
    try:
        return parse_ds(json.loads(text)["ds"] if text.startswith("{") else text).isoformat()
    except (PipelineError, ValueError, KeyError, TypeError):
        raise LatestUnreadable(
            f"{lake.uri_of(PUBLISHED_LATEST_KEY)} holds {text[:40]!r}, not a date YYYY-MM-DD"
        ) from None


def write_latest(lake: _TextObjects, ds: str) -> None:
    lake.write_text(PUBLISHED_LATEST_KEY, parse_ds(ds).isoformat() + "\n")
