"""What the lake holds for one night: a quick look for operators and the demo."""

from __future__ import annotations

from typing import Any

from packaging_pipeline import lake as keys
from packaging_pipeline.config import Settings
from packaging_pipeline.formats import read_json
from packaging_pipeline.storage import open_lake


def night_status(settings: Settings, ds: str) -> dict[str, Any]:
    """Object counts and sizes per dataset for ``ds``, plus the ingest report when there is one."""
    lake = open_lake(settings)
    datasets: dict[str, dict[str, int]] = {}
    for layer, prefix_of in (("raw", keys.raw_prefix), ("accepted", keys.accepted_prefix),
                             ("quarantine", keys.quarantine_prefix)):  # fmt: skip
        for source in keys.RAW_SOURCES:
            objects = lake.list(prefix_of(source, ds))
            datasets[f"{layer}/{source}"] = {"objects": len(objects), "bytes": sum(o.size for o in objects)}
    report_key = keys.ingest_report_key(ds)
    ingest = read_json(lake, report_key) if lake.exists(report_key) else None
    return {"ds": ds, "lake": lake.uri, "datasets": datasets, "ingest": ingest}
