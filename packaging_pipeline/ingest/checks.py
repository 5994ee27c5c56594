"""Pre-flight checks a night runs before doing work."""

from __future__ import annotations

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import Lake, open_lake


def missing_required_inputs(settings: Settings, ds: str, lake: Lake | None = None) -> list[str]:
    """Required sources whose raw partition for ``ds`` has no non-empty data file yet."""
    keys.parse_ds(ds)
    lake = lake or open_lake(settings)
    missing = []
    for source in settings.required_sources:
        objects = lake.list(keys.raw_prefix(source, ds))
        if not any(o.size > 0 and not o.key.rsplit("/", 1)[-1].startswith(("_", ".")) for o in objects):
            missing.append(f"{source} ({lake.uri_of(keys.raw_prefix(source, ds))})")
    return missing
