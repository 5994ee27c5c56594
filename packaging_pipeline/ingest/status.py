"""What the lake holds for one night: a quick look for operators and the demo."""

from __future__ import annotations

from typing import Any

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.storage import open_lake


def night_status(settings: Settings, ds: str) -> dict[str, Any]:
    """Object counts and sizes per dataset for ``ds``, plus the ingest report when there is one."""
    lake = open_lake(settings)
    datasets: dict[str, dict[str, int]] = {}
    for layer, prefix_of in (("raw", keys.raw_prefix), ("accepted", keys.accepted_prefix),
                             ("quarantine", keys.quarantine_prefix)):  # fmt: skip
        for source in keys.RAW_SOURCES:
            objects = lake.list(prefix_of(source, ds))
            datasets[f"{layer}/{source}"] = {"objects": len(objects), "bytes": sum(o.size for o in objects)}
    for name, prefix in (
        (keys.DAILY_FEATURES_BASE.rstrip("/"), keys.daily_features_prefix(ds)),
        (keys.CUSTOMER_FEATURES_BASE.rstrip("/"), keys.customer_features_prefix(ds)),
        ("segments", keys.segments_prefix(ds)),
    ):
        objects = lake.list(prefix)
        datasets[name] = {"objects": len(objects), "bytes": sum(o.size for o in objects)}
    report_key, profiles_key = keys.ingest_report_key(ds), keys.segment_profiles_key(ds)
    ingest = read_json(lake, report_key) if lake.exists(report_key) else None
    segments = None
    if lake.exists(profiles_key):
        profiles = read_json(lake, profiles_key)
        segments = {
            "customers": profiles["customers"],
            "previous_ds": profiles["previous_ds"],
            "new_segments": profiles["new_segments"],
            "vanished_segments": profiles["vanished_segments"],
            "segments": [{k: s[k] for k in ("segment_id", "size", "label", "palette")} for s in profiles["segments"]],
        }
    return {"ds": ds, "lake": lake.uri, "datasets": datasets, "ingest": ingest, "segments": segments}
