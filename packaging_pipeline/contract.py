"""Reading a published batch: the warehouse contract seen from the lake (docs/warehouse-contract.md).

A batch counts only once its ``_SUCCESS`` is there. Pull, feedback, the gate's fallback and the
sample data's simulated customers all read batches through here, so they agree on what a
complete batch is and where its parts are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterator
from typing import Any

from packaging_pipeline.core import keys
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.storage import Lake

log = logging.getLogger(__name__)

PLAIN_SUFFIX = "-plain"  # design ids of the gate's plain fallback boxes: no artwork to reuse


def is_complete(lake: Lake, ds: str) -> bool:
    """True when night ``ds`` has a complete batch (its ``_SUCCESS`` is written last)."""
    return lake.exists(keys.published_success_key(ds))


def read_manifest(lake: Lake, ds: str) -> dict[str, Any]:
    return read_json(lake, keys.published_manifest_key(ds))


def read_spec(lake: Lake, ds: str, design_id: str) -> dict[str, Any]:
    """The published ``spec.json`` of one design."""
    return read_json(lake, keys.design_file_key(ds, design_id, keys.SPEC_NAME))


def iter_assignments(lake: Lake, ds: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(warehouse_id, CSV row) of every assignment of night ``ds``; nothing when the batch is not complete."""
    if not is_complete(lake, ds):
        return
    for obj in lake.list(keys.published_prefix(ds) + "assignments/"):
        if not keys.ASSIGNMENTS_KEY.match(obj.key):
            continue
        warehouse = obj.key.rsplit("/", 2)[-2].removeprefix("warehouse=")
        for row in csv.DictReader(io.StringIO(lake.read_text(obj.key))):
            yield warehouse, row


def last_published_design(
    lake: Lake, segment_id: int, before_ds: str, lookback_days: int = 30
) -> dict[str, Any] | None:
    """The newest design of ``segment_id`` in a complete published batch before ``before_ds``.

    Starts at ``published/LATEST`` (or the night before ``before_ds`` when LATEST is not earlier,
    as in a backfill) and walks back at most ``lookback_days`` nights; only batches with ``_SUCCESS``
    count. A batch's ``manifest.json`` lists ``designs``: ``{design_id, segment_id, orders, files}``,
    files as keys (relative to the batch or absolute in the lake) or ``{"key": ...}``; without
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
        prefix = keys.published_prefix(day)
        if not is_complete(lake, day) or not lake.exists(keys.published_manifest_key(day)):
            continue
        mine = []
        for entry in read_manifest(lake, day).get("designs") or []:
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
            files = [f if f.startswith(keys.PUBLISHED_BASE) else prefix + f.lstrip("/")
                     for f in files if isinstance(f, str)]  # fmt: skip
            by_name = {f.rsplit("/", 1)[-1]: f for f in files}
            base = keys.published_design_prefix(day, design_id)
            return {"ds": day, "design_id": design_id, "segment_id": int(segment_id),
                    "spec_key": by_name.get(keys.SPEC_NAME, base + keys.SPEC_NAME),
                    "artwork_key": by_name.get("artwork.png", base + "artwork.png")}  # fmt: skip
    return None
