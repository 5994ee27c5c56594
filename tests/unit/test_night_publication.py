"""One night from generated data to the warehouse contract: sample data, ingest, segments, designs,
a strict sustainability gate (one design optimised, two rejected, a segment left with nothing that
passes), publication; then a rerun of the gate under the shipped policy and a republish."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.core.formats import read_json, write_parquet
from packaging_pipeline.core.keys import PUBLISHED_LATEST_KEY, published_success_key, rejected_prefix
from packaging_pipeline.design.right_size import orders_shipping_next
from packaging_pipeline.gate.night import gate_night
from packaging_pipeline.publication.publish import publish_batch
from tests.support.gate import STAGING
from tests.support.lakes import RecordingLake
from tests.support.nights import DS
from tests.support.privacy import objects_holding, raw_customer_ids
from tests.support.published import batch_of


def batch(lake) -> tuple[dict, set[str], list[dict]]:
    """The manifest, every key of the night's batch (relative to its folder), every assignment row."""
    published = batch_of(lake, DS)
    manifest = json.loads(lake.read_bytes(published.manifest_key))
    rows = [row for wh in manifest["warehouses"]
            for row in csv.DictReader(io.StringIO(lake.read_text(published.key(wh["assignments_key"]))))]  # fmt: skip
    return manifest, {o.key[len(published.prefix):] for o in lake.list(published.prefix)}, rows


def test_a_gated_night_is_published_whole_and_a_rerun_replaces_it(gated):
    lake, settings, _, gate, _ = gated
    recorder = RecordingLake(lake)
    publish_batch(recorder, DS)
    manifest, keys, rows = batch(lake)

    # Complete and verifiable: the manifest lists every file of the batch with its size and sha256.
    listed = {f["key"]: f for f in manifest["files"]}
    assert set(listed) == keys - {"manifest.json"}
    for key, entry in listed.items():
        data = lake.read_bytes(batch_of(lake, DS).key(key))
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"]), key
    puts = [key for op, key in recorder.events if op == "put"]
    # _SUCCESS after every batch file
    assert puts[-3:] == [batch_of(lake, DS).manifest_key, published_success_key(DS), PUBLISHED_LATEST_KEY]

    # Every order shipping tomorrow is listed, one row per parcel, each with a published print file of
    # its box: the multi-item order no single standard box takes is split into parcels, not left out.
    lines, _ = orders_shipping_next(lake, DS)
    shipping = set(lines.loc[lines["quantity"] > 0, "order_id"])  # an order of returns only ships nothing
    assert {r["order_id"] for r in rows} == shipping
    assert manifest["counts"]["orders"] == len(shipping) < manifest["counts"]["parcels"] == len(rows)
    assert manifest["counts"]["orders_without_design"] == 0 and all(r["box_code"] for r in rows)
    for r in rows:
        if r["box_code"]:
            assert r["print_file_key"] in listed and f"-{r['box_code']}-" in r["print_file_key"], r
            assert not r["note"]

    # Rejected designs are kept aside with their reasons and reach no warehouse.
    rejected = [d["design_id"] for d in gate["designs"] if d["status"] == "rejected"]
    assert len(rejected) == 2
    for design_id in rejected:
        reasons = read_json(lake, f"{rejected_prefix(DS)}{design_id}/reasons.json")
        assert {f["rule"] for f in reasons["failed_rules"]} == {"max_total_ink_coverage"}
        assert any("total ink coverage" in r for r in reasons["reasons"])
        assert not any(f"/{design_id}/" in k for k in keys) and design_id not in {r["design_id"] for r in rows}

    # The segment nothing passed for still ships: every one of its orders gets the published fallback.
    (segment,) = [s for s in gate["segments"] if s["fallback"]]
    plain = segment["fallback"]["design_id"]
    gated_orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    its_orders = set(gated_orders.loc[gated_orders["segment_id"] == segment["segment_id"], "order_id"])
    assert its_orders and {r["design_id"] for r in rows if r["order_id"] in its_orders} == {plain}
    assert any(d["design_id"] == plain for d in manifest["designs"])

    # No personal data: no raw customer id of the generated data anywhere outside raw/ (accepted,
    # quarantine, segments, parcels, staging, reports, the published batch), Parquet read decoded.
    raw_ids = raw_customer_ids(lake)
    assert len(raw_ids) > 50
    assert objects_holding(lake, raw_ids) == {}
    leaked = next(iter(raw_ids))  # the scan does find one where it does not belong, also inside Parquet
    write_parquet(lake, "reports/leak/part-00000.parquet", pa.table({"note": [f"order of {leaked}"]}))
    assert objects_holding(lake, raw_ids) == {"reports/leak/part-00000.parquet": [leaked]}
    lake.delete("reports/leak/part-00000.parquet")

    # Rerun: the shipped (looser) policy passes what the strict one rejected; republishing swaps in a
    # new batch as a whole, so the fallback's files are not in it and the rejected designs are back.
    regate = gate_night(settings, DS, log_to_mlflow=False)
    assert regate["counts"]["rejected"] == 0 and regate["counts"]["fallbacks"] == 0
    publish_batch(lake, DS)
    manifest2, keys2, rows2 = batch(lake)
    assert manifest2["batch_id"] != manifest["batch_id"]
    listed2 = {f["key"] for f in manifest2["files"]}
    assert set(listed2) == keys2 - {"manifest.json"}
    assert not any(f"/{plain}/" in k for k in keys2) and plain not in {r["design_id"] for r in rows2}
    assert sorted(r["order_id"] for r in rows2) == sorted(r["order_id"] for r in rows)
    assert all(r["print_file_key"] in listed2 for r in rows2 if r["box_code"])


def test_a_declared_empty_night_is_published_as_a_batch_that_says_so(tmp_path):
    """A shop's zero-order day: orders declared empty by a lone _SUCCESS, then every stage to a batch."""
    import datetime as dt

    from packaging_pipeline.core.config import Settings
    from packaging_pipeline.core.formats import write_json, write_parquet
    from packaging_pipeline.core.keys import raw_prefix, segment_assignments_prefix, segment_profiles_key
    from packaging_pipeline.core.storage import LocalLake
    from packaging_pipeline.design.batch import generate_night_designs
    from packaging_pipeline.design.right_size import right_size_stage
    from packaging_pipeline.ingest.raw import ingest_range
    from packaging_pipeline.publication.pull import pull_batch
    from packaging_pipeline.sample_data.generate import generate_sample_data
    from tests.conftest import TEST_PSEUDONYM_KEY
    from tests.support.nights import PALETTES

    night = "2026-11-01"
    lake = LocalLake(tmp_path / "lake")
    generate_sample_data(lake, start=dt.date.fromisoformat(night), days=1, customers=100, seed=5)
    lake.delete_prefix(raw_prefix("orders", night))
    lake.write_bytes(raw_prefix("orders", night) + "_SUCCESS", b"")  # the producer: "no orders today"
    settings = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY)
    (report,) = ingest_range(settings, night, night)
    assert report.sources["orders"].read == report.sources["orders"].accepted == 0
    write_parquet(lake, segment_assignments_prefix(night) + "part-00000.parquet",
                  pa.table({"customer_key": ["k0", "k1"], "segment_id": pa.array([0, 1], pa.int32())}))  # fmt: skip
    write_json(lake, segment_profiles_key(night), {"ds": night, "segments": [
        {"segment_id": s, "label": f"segment {s}", "palette": PALETTES[s], "size": 1,
         "top_categories": [{"category": "home", "share": 1.0}]} for s in (0, 1)]})  # fmt: skip

    _, sized = right_size_stage(settings, night)
    assert sized["orders"] == sized["parcels"] == 0
    designs = generate_night_designs(settings, night, designs_per_segment=1, use_model=False, workers=1)
    assert designs["orders_with_design"] == 0 and designs["print_files"] == 0
    assert gate_night(settings, night, log_to_mlflow=False)["ds"] == night
    published = publish_batch(lake, night)
    manifest = json.loads(lake.read_bytes(batch_of(lake, night).manifest_key))
    assert published["latest"] == night and manifest["counts"]["orders"] == manifest["counts"]["parcels"] == 0
    assert manifest["warehouses"] == [] and manifest["report"]["key"] in {f["key"] for f in manifest["files"]}
    # Every warehouse pulls the night's empty share and ends with exit 0: the manifest, no assignments.
    pulled = pull_batch(lake, "latest", "WH-BER", tmp_path / "dest")
    assert (pulled["ds"], pulled["orders"], pulled["parcels"], pulled["warehouses_with_orders"]) == (night, 0, 0, [])
    local_manifest = Path(pulled["folder"]) / "manifest.json"
    assert local_manifest.read_bytes() == lake.read_bytes(batch_of(lake, night).manifest_key)
