"""Ingest on hand-made inputs with bad rows of every kind, on a local lake and on S3."""

from __future__ import annotations

import decimal
import gzip
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json, read_parquet
from packaging_pipeline.ingest.privacy import pseudonym
from packaging_pipeline.ingest.raw import ingest_partition
from tests.conftest import TEST_PSEUDONYM_KEY

DS = "2026-11-01"


def _event(event_id, **over):
    row = {
        "event_id": event_id,
        "event_time": "2026-11-01T10:00:00Z",
        "customer_id": "CUST-RAW-1",
        "session_id": "s1",
        "event_type": "view",
        "product_id": "P1",
        "category": "home",
        "price": 12.5,
        "color": "green",
        "dwell_ms": 1500,
        "device": "mobile",
    }
    row.update(over)
    return row


def _jsonl(rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    return buf.getvalue()


def _order(order_id, product_id, **over):
    row = {
        "order_id": order_id,
        "order_time": "2026-11-01T11:00:00+00:00",
        "customer_id": "CUST-RAW-1",
        "warehouse_id": "WH-BER",
        "ship_date": "2026-11-02",
        "product_id": product_id,
        "quantity": 1,
        "unit_price": 20.0,
    }
    row.update(over)
    return row


CLICK_ROWS = [
    _event("e1"),
    _event("e2", event_type="teleport"),  # bad_enum
    _event("e3", price="abc"),  # bad_type
    _event("e4", price=-1),  # out_of_range
    _event("e5", customer_id=None),  # missing_field
    _event("e6", event_time="2026-11-09T00:00:00Z"),  # future_timestamp
    _event("e1"),  # duplicate_id (same file)
    b'{"event_id": "e7", "event_time": ',  # malformed_json
    b"[1, 2, 3]",  # malformed_record
    _event("e8", event_type="ADD_TO_CART", product_id=None, price=None, dwell_ms=None),  # valid, enum normalised
    _event("e9", event_time="2026-10-20T09:00:00Z"),  # late data is fine
    _event("e10", dwell_ms=True),  # bool is not an int
    b"   ",  # blank line: not a row
]
CLICK_GZ_ROWS = [_event("e1"), _event("e11"), {**_event("e12"), "event_id": None}]  # duplicate across files, missing id


def _write_inputs(lake):
    lake.write_bytes(f"raw/clickstream/ds={DS}/producer-a.jsonl", _jsonl(CLICK_ROWS))
    lake.write_bytes(f"raw/clickstream/ds={DS}/producer-b.jsonl.gz", gzip.compress(_jsonl(CLICK_GZ_ROWS)))
    lake.write_bytes(f"raw/clickstream/ds={DS}/_SUCCESS", b"")
    orders = pd.DataFrame(
        [
            _order("o1", "P1"),
            _order("o1", "P2", quantity=-1),  # a return: accepted
            _order("o2", "P1", customer_id=None),  # guest checkout: accepted
            _order("o3", "P1", quantity=0),  # out_of_range
            _order("o4", "P1", unit_price=-3.0),  # out_of_range
            _order("o1", "P1"),  # duplicate (order_id, product_id)
            _order("o5", "P1", ship_date="not a date"),  # bad_type
        ]
    )
    lake.write_bytes(f"raw/orders/ds={DS}/orders.parquet", _parquet(orders))
    lake.write_bytes(f"raw/catalog/ds={DS}/catalog.jsonl", _jsonl(
        [
            {"product_id": "P1", "category": "home", "length_mm": 200, "width_mm": 100, "height_mm": 50,
             "weight_g": 300, "fragile": False, "colors": ["green", "white"]},
            {"product_id": "P2", "category": "home", "length_mm": 0, "width_mm": 100, "height_mm": 50,
             "weight_g": 300, "fragile": "yes", "colors": "red, blue"},
        ]
    ))  # fmt: skip


def test_counts_reasons_and_reconciliation(lake, settings_for):
    _write_inputs(lake)
    report = ingest_partition(settings_for(lake, max_bad_row_share=0.9), DS, lake).as_dict()
    click, orders, catalog, feedback = (report["sources"][s] for s in ("clickstream", "orders", "catalog", "feedback"))
    assert click["reasons"] == {
        "bad_enum:event_type": 1,
        "bad_type:dwell_ms": 1,
        "bad_type:price": 1,
        "duplicate_id": 2,
        "future_timestamp:event_time": 1,
        "malformed_json": 1,
        "malformed_record": 1,
        "missing_field:customer_id": 1,
        "missing_field:event_id": 1,
        "out_of_range:price": 1,
    }
    assert (click["read"], click["accepted"], click["quarantined"]) == (15, 4, 11)
    assert orders["reasons"] == {"bad_type:ship_date": 1, "duplicate_id": 1, "out_of_range:quantity": 1,
                                 "out_of_range:unit_price": 1}  # fmt: skip
    assert (orders["read"], orders["accepted"], orders["quarantined"]) == (7, 3, 4)
    assert (catalog["read"], catalog["accepted"], catalog["reasons"]) == (2, 1, {"out_of_range:length_mm": 1})
    assert feedback == {**feedback, "read": 0, "partition_found": False}
    for src in report["sources"].values():
        assert src["read"] == src["accepted"] + src["quarantined"]
        assert src["quarantined"] == sum(src["reasons"].values())
    assert read_json(lake, f"reports/ingest/ds={DS}/ingest.json")["sources"]["clickstream"]["read"] == 15

    accepted = read_parquet(lake, click["accepted_key"]).to_pandas()
    assert sorted(accepted["event_id"]) == ["e1", "e11", "e8", "e9"]
    assert set(accepted["event_type"]) == {"view", "add_to_cart"}
    assert "customer_id" not in accepted.columns
    assert set(accepted["customer_key"]) == {pseudonym(TEST_PSEUDONYM_KEY.encode(), "CUST-RAW-1")}
    assert str(accepted["event_time"].dtype) == "datetime64[us, UTC]"

    orders_ok = read_parquet(lake, orders["accepted_key"]).to_pandas()
    assert sorted(orders_ok["quantity"].tolist()) == [-1, 1, 1]
    assert orders_ok["customer_key"].isna().sum() == 1  # the guest order keeps a null key

    quarantine = read_parquet(lake, click["quarantine_key"]).to_pandas()
    assert len(quarantine) == 11
    assert set(quarantine.columns) >= {"source_file", "line", "reason", "reasons", "record"}
    malformed = quarantine[quarantine["reason"] == "malformed_json"].iloc[0]
    assert (malformed["source_file"], malformed["line"]) == (f"raw/clickstream/ds={DS}/producer-a.jsonl", 8)
    bad_price = json.loads(quarantine[quarantine["reason"] == "bad_type:price"].iloc[0]["record"])
    assert bad_price["price"] == "abc" and "customer_id" not in bad_price


def test_raw_customer_ids_never_leave_raw(local_lake, settings_for):
    _write_inputs(local_lake)
    ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake)
    for obj in local_lake.list(""):
        if not obj.key.startswith("raw/"):
            assert b"CUST-RAW-1" not in local_lake.read_bytes(obj.key), obj.key


def test_rerun_replaces_outputs(lake, settings_for):
    _write_inputs(lake)
    settings = settings_for(lake, max_bad_row_share=0.9)
    first = ingest_partition(settings, DS, lake).as_dict()
    lake.write_bytes(f"accepted/clickstream/ds={DS}/stale-part.parquet", b"left by an older run")
    second = ingest_partition(settings, DS, lake).as_dict()
    assert first["sources"] == second["sources"]
    assert [o.key for o in lake.list(f"accepted/clickstream/ds={DS}/")] == [
        f"accepted/clickstream/ds={DS}/part-00000.parquet"
    ]
    assert read_parquet(lake, f"accepted/clickstream/ds={DS}/part-00000.parquet").num_rows == 4


def test_a_rerun_that_dies_leaves_every_source_agreeing_with_the_report(lake, settings_for):
    """Outputs are written over, never deleted first: a dying rerun leaves the last run's rows in place."""
    from tests.support.lakes import RecordingLake

    _write_inputs(lake)
    settings = settings_for(lake, max_bad_row_share=0.9)
    first = ingest_partition(settings, DS, lake).as_dict()
    for fail_on_put in (1, 2, 3):
        dying = RecordingLake(lake, fail_on_put=fail_on_put)
        with pytest.raises(OSError, match="injected failure"):
            ingest_partition(settings, DS, dying)
        assert not [e for e in dying.events if e[0] != "put"]  # nothing deleted before the failure
        report = read_json(lake, f"reports/ingest/ds={DS}/ingest.json")
        assert report["sources"] == first["sources"]
        for source, counts in report["sources"].items():
            if counts["accepted_key"]:
                assert read_parquet(lake, counts["accepted_key"]).num_rows == counts["accepted"], source


def test_too_many_bad_rows_fails_after_writing_quarantine(lake, settings_for):
    _write_inputs(lake)
    with pytest.raises(InputError) as err:
        ingest_partition(settings_for(lake, max_bad_row_share=0.2), DS, lake)
    message = str(err.value)
    assert "clickstream partition" in message and f"raw/clickstream/ds={DS}/" in message
    assert "11 of 15 rows" in message and "duplicate_id (2)" in message
    assert lake.exists(f"quarantine/clickstream/ds={DS}/part-00000.parquet")  # nothing is lost


def test_missing_required_partition_is_a_clear_error(lake, settings_for):
    with pytest.raises(InputError, match=r"no clickstream data for ds=2026-11-01.*PACKAGING_REQUIRED_SOURCES"):
        ingest_partition(settings_for(lake), DS, lake)


def test_missing_optional_sources_report_zero(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))
    report = ingest_partition(settings_for(local_lake), DS, local_lake).as_dict()
    assert report["sources"]["feedback"]["read"] == 0
    assert report["sources"]["catalog"]["partition_found"] is False
    assert report["sources"]["orders"]["accepted"] == 1


@pytest.mark.parametrize(
    ("name", "payload", "match"),
    [
        ("broken.jsonl.gz", b"\x1f\x8b\x08\x00garbage", r"cannot read .*broken\.jsonl\.gz.*replace it"),
        ("broken.parquet", b"PAR1 this is not parquet", r"cannot read .*broken\.parquet"),
        ("orders.xls", b"\xd0\xcf\x11\xe0", r"unknown format.*orders\.xls"),
    ],
)
def test_unreadable_or_unknown_files_name_the_file(local_lake, settings_for, name, payload, match):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    local_lake.write_bytes(f"raw/orders/ds={DS}/{name}", payload)
    with pytest.raises(InputError, match=match):
        ingest_partition(settings_for(local_lake), DS, local_lake)


def test_only_empty_files_in_a_required_source(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", b"")
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))
    with pytest.raises(InputError, match="holds only empty files"):
        ingest_partition(settings_for(local_lake), DS, local_lake)


@pytest.mark.parametrize("declaration", ["marker", "zero-row parquet"])
def test_a_producer_can_declare_a_night_with_no_orders(local_lake, settings_for, declaration):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    if declaration == "marker":
        local_lake.write_bytes(f"raw/orders/ds={DS}/_SUCCESS", b"")
    else:
        empty = pa.Table.from_pandas(pd.DataFrame([_order("o1", "P1")]), preserve_index=False).slice(0, 0)
        buf = io.BytesIO()
        pq.write_table(empty, buf)
        local_lake.write_bytes(f"raw/orders/ds={DS}/orders.parquet", buf.getvalue())
    orders = ingest_partition(settings_for(local_lake), DS, local_lake).as_dict()["sources"]["orders"]
    assert orders["declared_empty"] and orders["partition_found"]
    assert (orders["read"], orders["accepted"], orders["quarantined"], orders["accepted_key"]) == (0, 0, 0, None)


def test_wrong_column_type_in_parquet_is_quarantined_per_row(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    frame = pd.DataFrame([_order("o1", "P1"), _order("o2", "P1")]).astype({"unit_price": str})
    frame.loc[1, "unit_price"] = "twelve"
    local_lake.write_bytes(f"raw/orders/ds={DS}/typed-as-text.parquet", _parquet(frame))
    report = ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake).as_dict()
    assert report["sources"]["orders"]["accepted"] == 1
    assert report["sources"]["orders"]["reasons"] == {"bad_type:unit_price": 1}


def test_missing_pseudonym_key_is_a_config_error(local_lake):
    from packaging_pipeline.core.config import Settings
    from packaging_pipeline.core.errors import ConfigError

    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))
    with pytest.raises(ConfigError, match="PACKAGING_PSEUDONYM_KEY"):
        ingest_partition(Settings(lake_uri=local_lake.uri), DS, local_lake)


def test_only_the_partitions_own_visible_files_are_read_and_the_rest_is_reported(local_lake, settings_for, tmp_path):
    clicks = f"raw/clickstream/ds={DS}/"
    local_lake.write_bytes(clicks + "a.jsonl", _jsonl([_event("e1")]))
    local_lake.write_bytes(clicks + "retry/a.jsonl", _jsonl([_event("e2")]))  # a sub-folder is not the night
    local_lake.write_bytes(clicks + ".a.jsonl.swp", _jsonl([_event("e3")]))
    local_lake.write_bytes(clicks + "_SUCCESS", b"")
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(_jsonl([_event("e4")]))
    (local_lake.root / clicks / "linked.jsonl").symlink_to(outside)  # a link out of the lake
    (local_lake.root / clicks / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))

    report = ingest_partition(settings_for(local_lake), DS, local_lake).as_dict()["sources"]["clickstream"]
    assert report["read"] == report["accepted"] == 1 and report["files"] == [clicks + "a.jsonl"]
    assert {s["file"].removeprefix(clicks): s["reason"] for s in report["skipped"]} == {
        "retry/a.jsonl": "in_subfolder", ".a.jsonl.swp": "hidden_file", "_SUCCESS": "marker",
        "linked.jsonl": "symlink", "dangling.jsonl": "symlink",
    }  # fmt: skip
    assert outside.exists(), "nothing outside the lake is touched"


def test_a_timestamp_in_a_date_field_is_quarantined_not_shifted(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    orders = [_order("o1", "P1"), _order("o2", "P1", ship_date="2026-11-21T23:30:00-05:00"),
              _order("o3", "P1", ship_date="2026-11-02T00:00:00Z")]  # fmt: skip
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl(orders))
    report = ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake).as_dict()
    assert report["sources"]["orders"]["accepted"] == 1
    assert report["sources"]["orders"]["reasons"] == {"bad_type:ship_date": 2}


def test_a_column_that_differs_from_the_contract_in_case_is_reported(local_lake, settings_for):
    event = {("Price" if k == "price" else k): v for k, v in _event("e1").items()}
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([event, _event("e2")]))
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))
    report = ingest_partition(settings_for(local_lake), DS, local_lake).as_dict()["sources"]
    assert report["clickstream"]["unknown_columns"] == {"Price": "price"}
    assert report["orders"]["unknown_columns"] == {}


def test_epoch_timestamps_are_read_as_utc_seconds_or_milliseconds(local_lake, settings_for):
    at_ten = 1793527200  # 2026-11-01T10:00:00Z
    events = [_event("e1", event_time=at_ten), _event("e2", event_time=at_ten * 1000 + 250),
              _event("e3", event_time=-1)]  # fmt: skip
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl(events))
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", _jsonl([_order("o1", "P1")]))
    report = ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake).as_dict()
    assert report["sources"]["clickstream"]["reasons"] == {"bad_type:event_time": 1}
    accepted = read_parquet(local_lake, report["sources"]["clickstream"]["accepted_key"])
    times = sorted(pd.to_datetime(accepted["event_time"], utc=True))
    assert [t.isoformat() for t in times] == ["2026-11-01T10:00:00+00:00", "2026-11-01T10:00:00.250000+00:00"]


def test_values_the_schema_cannot_hold_quarantine_their_row_only(local_lake, settings_for):
    deep = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps(_event("e1")).encode(),
             json.dumps(_event("e2", dwell_ms=2**63)).encode(),  # one above int64
             json.dumps(_event("e3", dwell_ms=99999999999999999999)).encode(),
             json.dumps(_event("e4", dwell_ms=1e20)).encode(),
             json.dumps(_event("e5", session_id="\ud800")).encode(),  # a lone surrogate, escaped as JSON allows
             b'{"event_id": "e6", "session_id": ' + deep.encode() + b"}"]  # fmt: skip
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl(lines))
    frame = pd.DataFrame([_order("o1", "P1"), _order("o2", "P1")])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    money = pa.array([decimal.Decimal("19.99"), decimal.Decimal("0.0125")],
                     pa.decimal128(12, 4))  # fmt: skip
    table = table.set_column(table.schema.get_field_index("unit_price"), "unit_price", money)
    table = table.set_column(table.schema.get_field_index("quantity"), "quantity",
                             pa.array([1, 2**64 - 1], pa.uint64()))  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(table, buf)
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.parquet", buf.getvalue())

    report = ingest_partition(settings_for(local_lake, max_bad_row_share=0.95), DS, local_lake).as_dict()["sources"]
    clicks, orders = report["clickstream"], report["orders"]
    assert clicks["read"] == clicks["accepted"] + clicks["quarantined"] == 6 and clicks["accepted"] == 1
    assert clicks["reasons"] == {"bad_type:dwell_ms": 3, "invalid_unicode:session_id": 1, "malformed_json": 1}
    assert orders["accepted"] == 1 and orders["reasons"] == {"bad_type:quantity": 1}
    accepted = read_parquet(local_lake, orders["accepted_key"])
    assert accepted["unit_price"].to_pylist() == [19.99]


def test_a_parquet_file_with_two_columns_of_one_name_is_quarantined_whole(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    good = pa.Table.from_pandas(pd.DataFrame([_order("o1", "P1")]), preserve_index=False)
    twice = pa.table([pa.array(["o2", "o3"]), pa.array(["o9", "o9"]), pa.array(["P1", "P1"])],
                     names=["order_id", "order_id", "product_id"])  # fmt: skip
    for name, table in (("good.parquet", good), ("twice.parquet", twice)):
        buf = io.BytesIO()
        pq.write_table(table, buf)
        local_lake.write_bytes(f"raw/orders/ds={DS}/{name}", buf.getvalue())
    orders = ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake).as_dict()["sources"]
    orders = orders["orders"]
    assert orders["read"] == 3 and orders["accepted"] == 1 and orders["quarantined"] == 2
    assert orders["reasons"] == {"duplicate_column:order_id": 2}


def test_order_lines_are_identified_by_line_id_or_by_product_and_sign(local_lake, settings_for):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    orders = [
        _order("o1", "P1", line_id="1", unit_price=20.0),
        _order("o1", "P1", line_id="2", unit_price=15.0),  # the same product on a promotion line
        _order("o1", "P1", line_id="2", unit_price=15.0),  # the promotion line delivered twice
        _order("o2", "P1"),
        _order("o2", "P1", quantity=-1),  # a sale and a return of one product, no line ids
        _order("o2", "P1", quantity=3),  # a second sale line of it: without a line id, a duplicate
        _order("o3", "P1", unit_price=0.0125),  # a sub-cent wholesale price: exact at six decimals
        _order("o4", "P1", unit_price=0.0000001),  # seven decimals: quarantined, never rounded
    ]
    local_lake.write_bytes(f"raw/orders/ds={DS}/orders.jsonl", _jsonl(orders))
    report = ingest_partition(settings_for(local_lake, max_bad_row_share=0.9), DS, local_lake).as_dict()
    result = report["sources"]["orders"]
    assert (result["read"], result["accepted"]) == (8, 5)
    assert result["reasons"] == {"duplicate_id": 2, "excess_decimals:unit_price": 1}
    accepted = read_parquet(local_lake, result["accepted_key"])
    columns = ["order_id", "line_id", "quantity", "unit_price"]
    assert [list(r.values()) for r in accepted.select(columns).to_pylist()] == [
        ["o1", "1", 1, 20.0], ["o1", "2", 1, 15.0], ["o2", None, 1, 20.0], ["o2", None, -1, 20.0],
        ["o3", None, 1, 0.0125],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "delivered"),
    [
        ({"a.jsonl": b'{"x": 1}\n'}, True),
        ({"_SUCCESS": b""}, True),  # the producer declares the night complete, possibly without rows
        ({"a.jsonl": b""}, False),
        ({"retry/a.jsonl": b'{"x": 1}\n'}, False),  # ingest does not read sub-folders
        ({".a.jsonl.swp": b'{"x": 1}\n', "_temporary": b"x"}, False),
        ({}, False),
    ],
)
def test_the_night_waits_for_what_ingest_would_read_or_a_success_marker(local_lake, settings_for, files, delivered):
    from packaging_pipeline.ingest.checks import missing_required_inputs

    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", _jsonl([_event("e1")]))
    for name, data in files.items():
        local_lake.write_bytes(f"raw/orders/ds={DS}/{name}", data)
    missing = missing_required_inputs(settings_for(local_lake), DS, local_lake)
    assert missing == ([] if delivered else [f"orders ({local_lake.uri_of(f'raw/orders/ds={DS}/')})"])


def test_a_source_that_changes_shape_between_nights_is_reported(local_lake, settings_for):
    settings = settings_for(local_lake)
    first = pd.DataFrame([{**_order("o1", "P1", order_time="2026-10-30T11:00:00Z"), "note": "gift"}])
    second = pd.DataFrame([{**_order("o2", "P1", quantity="1"), "coupon": "X"}])  # quantity now text
    for night, frame in (("2026-10-30", first), (DS, second)):
        local_lake.write_bytes(f"raw/clickstream/ds={night}/a.jsonl",
                               _jsonl([_event("e1", event_time=f"{night}T10:00:00Z")]))  # fmt: skip
        local_lake.write_bytes(f"raw/orders/ds={night}/a.parquet", _parquet(frame))
        report = ingest_partition(settings, night, local_lake).as_dict()["sources"]
    assert report["orders"]["accepted"] == 1 and report["orders"]["column_types"]["quantity"] == "large_string"
    assert report["orders"]["schema_drift"] == {"since": "2026-10-30", "new": ["coupon"], "missing": ["note"],
                                                "type_changed": {"quantity": ["int64", "large_string"]}}  # fmt: skip
    assert report["clickstream"]["schema_drift"] == {"since": "2026-10-30", "new": [], "missing": [],
                                                     "type_changed": {}}  # fmt: skip
