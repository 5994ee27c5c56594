"""Pre-flight checks a night runs before doing work."""

from __future__ import annotations

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.ingest.raw import SUCCESS_MARKER, skip_reason


def missing_required_inputs(settings: Settings, ds: str, lake: Lake | None = None) -> list[str]:
    """Required sources whose raw partition for ``ds`` is not delivered yet: it has neither a non-empty data
    file of its own (what ingest reads) nor the producer's ``_SUCCESS`` marker (a night declared complete,
    possibly with no rows)."""
    keys.parse_ds(ds)
    lake = lake or open_lake(settings)
    missing = []
    for source in settings.required_sources:
        prefix = keys.raw_prefix(source, ds)
        objects = lake.list(prefix)
        delivered = any(o.key == prefix + SUCCESS_MARKER or (o.size > 0 and skip_reason(o, prefix) is None)
                        for o in objects)  # fmt: skip
        if not delivered:
            missing.append(f"{source} ({lake.uri_of(prefix)})")
    return missing
