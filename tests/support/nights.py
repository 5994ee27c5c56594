"""A small segmented night on a local lake: the input of the design stage, shared by the night's tests.

Two ingested nights of a 300-customer shop and hand-made segments (customers split in two by their
pseudonym), so the design, gate, publish and feedback tests start from the same lake without Spark.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import read_parquet_prefix, write_json, write_parquet
from packaging_pipeline.core.keys import accepted_prefix, segment_assignments_prefix, segment_profiles_key
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.ingest.raw import ingest_range
from packaging_pipeline.sample_data.generate import generate_sample_data
from tests.conftest import TEST_PSEUDONYM_KEY

DS = "2026-11-02"
PALETTES = (
    [{"color": "navy", "hex": "#1f2a44"}, {"color": "yellow", "hex": "#f2c230"}],
    [{"color": "purple", "hex": "#7d4e9e"}, {"color": "pink", "hex": "#e68aa8"}, {"color": "black", "hex": "#1d1d1b"}],
)


def segmented_night(root) -> tuple[LocalLake, Settings]:
    """Two ingested nights and hand-made segments: customers split in two by their pseudonym."""
    lake = LocalLake(root)
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=3, customers=300, seed=5)
    settings = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY)
    ingest_range(settings, "2026-11-01", DS)
    keys = set()
    for day in ("2026-11-01", DS):
        orders = read_parquet_prefix(lake, accepted_prefix("orders", day))
        keys |= {k for k in orders.column("customer_key").to_pylist() if k}
    keys = sorted(keys)[:-5]  # a few customers stay unsegmented: their orders take the default design
    segment = [int(k, 16) % 2 for k in keys]
    table = pa.table({"customer_key": keys, "segment_id": pa.array(segment, pa.int32())})
    write_parquet(lake, segment_assignments_prefix(DS) + "part-00000.parquet", table)
    profiles = [
        {"segment_id": s, "label": f"segment {s}", "palette": PALETTES[s], "size": segment.count(s),
         "top_categories": [{"category": ("home", "toys")[s], "share": 0.5}]}
        for s in (0, 1)
    ]  # fmt: skip
    write_json(lake, segment_profiles_key(DS), {"ds": DS, "segments": profiles})
    return lake, settings
