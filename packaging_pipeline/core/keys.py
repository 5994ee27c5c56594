"""The lake's key layout: the one place that knows where each dataset lives.

Keys are relative to the lake URI and identical on a local directory and on S3.
"""

from __future__ import annotations

import datetime as dt
import re

RAW_SOURCES = ("clickstream", "orders", "catalog", "feedback")
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


def parse_ds(ds: str) -> dt.date:
    """Parse a partition date ``YYYY-MM-DD``, naming the bad value on failure."""
    from packaging_pipeline.core.errors import PipelineError

    try:
        return dt.date.fromisoformat(ds)
    except (TypeError, ValueError):
        raise PipelineError(f"invalid ds {ds!r}: expected a date as YYYY-MM-DD, e.g. 2026-11-01") from None


def safe_part(value: str) -> str:
    """Return ``value`` if it is safe as one key segment (no slashes, no '..'), else raise ValueError."""
    if not _SAFE_PART.match(value) or ".." in value:
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


def daily_features_prefix(ds: str) -> str:
    """Per-customer partial aggregates of the events and orders that arrived on night ``ds``."""
    return partition("features", "daily", ds=ds)


def customer_features_prefix(ds: str) -> str:
    """Rolling-window customer features as of ``ds``."""
    return partition("features", "customer", ds=ds)


def segments_prefix(ds: str) -> str:
    return partition("segments", ds=ds)


def segment_assignments_prefix(ds: str) -> str:
    return segments_prefix(ds) + "assignments/"


def segment_profiles_key(ds: str) -> str:
    return segments_prefix(ds) + "profiles.json"


PUBLISHED_LATEST_KEY = "published/LATEST"


def published_prefix(ds: str) -> str:
    """``published/ds=<ds>/``: one night's batch for warehouses (the contract in docs/warehouse-contract.md)."""
    return partition("published", ds=ds)


def published_success_key(ds: str) -> str:
    """Written last: a batch without it is not complete, whatever else is there."""
    return published_prefix(ds) + "_SUCCESS"


def published_manifest_key(ds: str) -> str:
    return published_prefix(ds) + "manifest.json"


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
