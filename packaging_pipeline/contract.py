"""Reading a published batch: the warehouse contract seen from the lake (docs/warehouse-contract.md).

A night's batch counts only once its ``_SUCCESS`` names it: the marker points at the batch's
folder (``published/ds=<ds>/batch=<id>/``) and carries the manifest's sha256. Pull, feedback, the
gate's fallback and the sample data's simulated customers all read batches through here, so they
agree on what a complete batch is and where its parts are.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.storage import Lake, check_key, is_missing

log = logging.getLogger(__name__)

PLAIN_SUFFIX = "-plain"  # design ids of the gate's plain fallback boxes: no artwork to reuse


class MarkerInvalid(PipelineError):
    """A night's ``_SUCCESS`` that does not name a complete batch (empty, garbage, or missing a field)."""


@dataclasses.dataclass(frozen=True)
class PublishedBatch:
    """The complete batch a night's ``_SUCCESS`` points to: its folder and the manifest's digest."""

    ds: str
    batch_id: str
    prefix: str  # published/ds=<ds>/batch=<id16>/
    manifest_sha256: str

    @property
    def manifest_key(self) -> str:
        return self.prefix + keys.MANIFEST_NAME

    def key(self, relative: str) -> str:
        """The lake key of a file the batch names relative to its folder (manifest, CSV, spec)."""
        return self.prefix + check_key(relative)

    def marker(self) -> dict[str, str]:
        return {"ds": self.ds, "batch_id": self.batch_id, "prefix": self.prefix,
                "manifest_sha256": self.manifest_sha256}  # fmt: skip


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def parse_marker(lake: Lake, ds: str, data: bytes) -> PublishedBatch:
    """The batch ``_SUCCESS`` names; MarkerInvalid unless it carries the ds, a batch_id, its folder and the
    manifest's sha256 (a marker without the digest would turn every reader's manifest check off)."""
    where = lake.uri_of(keys.published_success_key(ds))
    try:
        marker = json.loads(data)
    except ValueError:
        marker = None
    if not isinstance(marker, dict):
        raise MarkerInvalid(f"{where} is not a JSON object ({len(data)} bytes): it names no batch; republish ds={ds}")
    batch_id, digest, prefix = marker.get("batch_id"), marker.get("manifest_sha256"), marker.get("prefix")
    valid_id = isinstance(batch_id, str) and bool(_SHA256.match(batch_id))
    problems = [name for name, ok in (
        ("ds", marker.get("ds") == ds),
        ("batch_id", valid_id),
        ("manifest_sha256", isinstance(digest, str) and bool(_SHA256.match(digest))),
        ("prefix", valid_id and prefix == keys.published_batch_prefix(ds, batch_id)),
    ) if not ok]  # fmt: skip
    if problems:
        raise MarkerInvalid(
            f"{where} does not name a complete batch of ds={ds}: {', '.join(problems)} missing or wrong "
            f"(written by another publisher version, or edited); republish ds={ds}"
        )
    return PublishedBatch(ds, batch_id, prefix, digest)


def read_batch(lake: Lake, ds: str) -> PublishedBatch | None:
    """The night's complete batch, or None when ``_SUCCESS`` is absent; MarkerInvalid when it is unreadable."""
    key = keys.published_success_key(ds)
    try:
        data = lake.read_bytes(key)
    except Exception as exc:  # S3's NoSuchKey arrives as a ClientError
        if is_missing(exc):
            return None
        raise
    return parse_marker(lake, ds, data)


def complete_batch(lake: Lake, ds: str) -> PublishedBatch | None:
    """:func:`read_batch` for readers that skip what they cannot use: an invalid marker is logged, not raised."""
    try:
        return read_batch(lake, ds)
    except MarkerInvalid as exc:
        log.warning("%s; the night is skipped", exc)
        return None


def read_manifest(lake: Lake, batch: PublishedBatch) -> dict[str, Any]:
    return read_json(lake, batch.manifest_key)


def read_spec(lake: Lake, batch: PublishedBatch, design_id: str) -> dict[str, Any]:
    """The published ``spec.json`` of one design."""
    return read_json(lake, batch.key(keys.batch_design_key(design_id, keys.SPEC_NAME)))


def iter_assignments(lake: Lake, batch: PublishedBatch | None) -> Iterator[tuple[str, dict[str, str]]]:
    """(warehouse_id, CSV row) of every assignment of a complete batch; nothing for None (no batch)."""
    if batch is None:
        return
    for obj in lake.list(batch.prefix + "assignments/"):
        m = keys.BATCH_ASSIGNMENTS_KEY.match(obj.key[len(batch.prefix):])
        if not m:
            continue
        for row in csv.DictReader(io.StringIO(lake.read_text(obj.key))):
            yield m.group(1), row


def last_published_design(
    lake: Lake, segment_id: int, before_ds: str, lookback_days: int = 30
) -> dict[str, Any] | None:
    """The newest design of ``segment_id`` in a complete published batch before ``before_ds``.

    Starts at ``published/LATEST`` (or the night before ``before_ds`` when LATEST is not earlier,
    as in a backfill) and walks back at most ``lookback_days`` nights; only batches with ``_SUCCESS``
    count. A batch's ``manifest.json`` lists ``designs``: ``{design_id, segment_id, orders, files}``,
    files as keys relative to the batch folder, or ``{"key": ...}``; without
    ``files`` the warehouse contract's ``designs/<design_id>/`` layout is assumed. Of several designs
    of the segment the one that shipped most orders wins; plain fallback boxes are not artwork to reuse.

    Returns:
        ``{ds, design_id, segment_id, spec_key, artwork_key}``, or None when there is none.
    """
    night = keys.parse_ds(before_ds)
    try:
        latest_ds = keys.read_latest(lake)
    except keys.LatestUnreadable as exc:
        log.warning("%s: no previous design is reused", exc)
        return None
    if latest_ds is None:
        return None
    latest = keys.parse_ds(latest_ds)
    start = min(latest, night - dt.timedelta(days=1))
    for back in range((start - (night - dt.timedelta(days=lookback_days))).days + 1):
        day = (start - dt.timedelta(days=back)).isoformat()
        batch = complete_batch(lake, day)
        if batch is None or not lake.exists(batch.manifest_key):
            continue
        mine = []
        for entry in read_manifest(lake, batch).get("designs") or []:
            try:
                if int(entry.get("segment_id")) == int(segment_id) and not str(entry["design_id"]).endswith(
                    PLAIN_SUFFIX
                ):
                    mine.append(entry)
            except (KeyError, TypeError, ValueError):
                continue
        if mine:  # the design that shipped most that night (manifest order breaks ties)
            entry = max(mine, key=lambda e: int(e.get("orders") or 0))
            design_id = keys.safe_part(str(entry["design_id"]))
            files = [(f.get("key") or f.get("path")) if isinstance(f, dict) else f for f in entry.get("files") or []]
            files = [batch.prefix + f.lstrip("/") for f in files if isinstance(f, str)]
            by_name = {f.rsplit("/", 1)[-1]: f for f in files}
            base = batch.key(keys.published_design_folder(design_id))
            return {"ds": day, "design_id": design_id, "segment_id": int(segment_id),
                    "spec_key": by_name.get(keys.SPEC_NAME, base + keys.SPEC_NAME),
                    "artwork_key": by_name.get("artwork.png", base + "artwork.png")}  # fmt: skip
    return None
