"""Sample data generator: determinism, contract-valid output, planted segments, bad rows, feedback."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import io
import json
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.keys import GROUND_TRUTH_KEY, published_success_key, raw_prefix
from packaging_pipeline.core.schemas import CATALOG, CLICKSTREAM, EVENT_TYPES, FEEDBACK, FEEDBACK_EVENTS, ORDERS
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.core.vocabulary import CATEGORIES, DEVICES, PALETTE
from packaging_pipeline.sample_data.archetypes import ARCHETYPES, WAREHOUSES
from packaging_pipeline.sample_data.generate import generate_sample_data
from tests.support.published import fake_batch

START = dt.date(2026, 11, 1)


def _days(start: dt.date, n: int) -> list[str]:
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


def _snapshot(lake: LocalLake) -> dict[str, bytes]:
    return {o.key: lake.read_bytes(o.key) for o in lake.list("raw/")}


def _jsonl_lines(lake: LocalLake, key: str) -> list[str]:
    data = lake.read_bytes(key)
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8").splitlines()


def _files(lake: LocalLake, source: str, ds: str, suffix: str) -> list[str]:
    return [o.key for o in lake.list(raw_prefix(source, ds)) if o.key.endswith(suffix)]


def _clickstream(lake: LocalLake, ds: str) -> list[dict]:
    return [
        json.loads(line) for key in _files(lake, "clickstream", ds, ".jsonl.gz") for line in _jsonl_lines(lake, key)
    ]


def _orders(lake: LocalLake, ds: str) -> pa.Table:
    return pa.concat_tables(
        [pq.read_table(io.BytesIO(lake.read_bytes(k))) for k in _files(lake, "orders", ds, ".parquet")]
    )


def _ts(value: str) -> dt.datetime:
    assert value.endswith("Z") or value.endswith("+00:00"), value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _within_day(ts: dt.datetime, ds: str) -> bool:
    start = dt.datetime.fromisoformat(ds).replace(tzinfo=dt.UTC)
    return start <= ts < start + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """One small clean run shared by the read-only checks (4 days: the catalog changes mid-range)."""
    lake = LocalLake(tmp_path_factory.mktemp("sample") / "lake")
    summary = generate_sample_data(lake, START, days=4, customers=1500, seed=3, chunk_customers=500)
    return lake, summary


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    args = dict(start=START, days=2, customers=300, bad_row_share=0.02, chunk_customers=120)
    a, b, c = (LocalLake(tmp_path / name) for name in "abc")
    summary_a = generate_sample_data(a, seed=42, **args)
    summary_b = generate_sample_data(b, seed=42, **args)
    generate_sample_data(c, seed=43, **args)

    assert summary_a == summary_b
    assert json.loads(json.dumps(summary_a)) == summary_a  # JSON-serialisable as is
    snap_a, snap_c = _snapshot(a), _snapshot(c)
    assert snap_a == _snapshot(b)
    assert set(snap_a) == set(snap_c)
    differing = [k for k in snap_a if snap_a[k] != snap_c[k]]
    assert any("clickstream" in k for k in differing) and any("orders" in k for k in differing)


def test_a_day_does_not_depend_on_the_days_after_it(tmp_path):
    short, long = LocalLake(tmp_path / "short"), LocalLake(tmp_path / "long")
    generate_sample_data(short, START, days=1, customers=300, seed=5, chunk_customers=100)
    generate_sample_data(long, START, days=3, customers=300, seed=5, chunk_customers=100)
    first_day = {k: v for k, v in _snapshot(long).items() if f"ds={START.isoformat()}" in k}
    assert first_day and first_day == {k: v for k, v in _snapshot(short).items() if "ds=" in k}


# -- contract -------------------------------------------------------------------------------------


def test_clickstream_rows_satisfy_the_contract(dataset):
    lake, summary = dataset
    event_ids: set[str] = set()
    session_customer: dict[str, str] = {}
    total = 0
    for ds in _days(START, 4):
        rows = _clickstream(lake, ds)
        total += len(rows)
        assert rows, ds
        for row in rows:
            assert list(row) == list(CLICKSTREAM.field_names)
            for field in CLICKSTREAM.fields:
                if field.required:
                    assert isinstance(row[field.name], str) and row[field.name], (field.name, row)
            assert row["event_type"] in EVENT_TYPES
            assert _within_day(_ts(row["event_time"]), ds), row
            assert row["device"] in DEVICES
            assert row["event_id"] not in event_ids
            event_ids.add(row["event_id"])
            assert session_customer.setdefault(row["session_id"], row["customer_id"]) == row["customer_id"]
            assert row["category"] in CATEGORIES
            if row["event_type"] != "search":
                assert row["product_id"] and row["color"] in PALETTE, row
                assert isinstance(row["price"], float | int) and row["price"] >= 0
            if row["event_type"] in ("view", "search"):
                assert isinstance(row["dwell_ms"], int) and row["dwell_ms"] >= 0
            if row["product_id"] is None:
                assert row["event_type"] == "search" and row["price"] is None
    assert total == summary["sources"]["clickstream"]["rows"]
    assert {"view", "search", "add_to_cart", "purchase", "wishlist", "remove_from_cart"} <= {
        r["event_type"] for r in _clickstream(lake, START.isoformat())
    }


def test_orders_satisfy_the_contract_and_match_purchases(dataset):
    lake, summary = dataset
    rows = 0
    for ds in _days(START, 4):
        table = _orders(lake, ds)
        assert table.schema.field("order_time").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("ship_date").type == pa.date32()
        assert table.schema.names == [n for n in ORDERS.field_names if n != "line_id"]  # the shop numbers no lines
        frame = table.to_pandas()
        rows += len(frame)
        required = [f.name for f in ORDERS.fields if f.required]
        assert frame[required].notna().all().all()
        assert (frame.quantity != 0).all() and (frame.unit_price >= 0).all()
        assert frame.warehouse_id.isin(WAREHOUSES).all()
        assert not frame.duplicated(["order_id", "product_id"]).any()
        day = dt.date.fromisoformat(ds)
        assert all(_within_day(t.to_pydatetime(), ds) for t in frame.order_time)
        assert {(d - day).days for d in frame.ship_date} <= {1, 2}
        # Every bought line of a member order is a purchase event of the same customer that day.
        bought = frame[(frame.quantity > 0) & frame.customer_id.notna()]
        purchases = collections.Counter(
            (r["customer_id"], r["product_id"]) for r in _clickstream(lake, ds) if r["event_type"] == "purchase"
        )
        assert purchases == collections.Counter(zip(bought.customer_id, bought.product_id, strict=True))
    assert rows == summary["sources"]["orders"]["rows"]


def test_catalog_has_real_dimensions_and_a_changed_second_snapshot(dataset):
    lake, summary = dataset
    mid = (START + dt.timedelta(days=2)).isoformat()
    assert [o.key for o in lake.list("raw/catalog/")] == [
        f"raw/catalog/ds={START.isoformat()}/part-00000.jsonl",
        f"raw/catalog/ds={mid}/part-00000.jsonl",
    ]
    first = [json.loads(line) for line in _jsonl_lines(lake, f"raw/catalog/ds={START.isoformat()}/part-00000.jsonl")]
    second = [json.loads(line) for line in _jsonl_lines(lake, f"raw/catalog/ds={mid}/part-00000.jsonl")]
    assert 400 <= len(first) <= 800
    assert len({p["category"] for p in first}) >= 8
    for p in first + second:
        for field in CATALOG.fields:
            assert field.name in p
        for dim in ("length_mm", "width_mm", "height_mm"):
            assert 0 < p[dim] <= 5000
        assert 0 < p["weight_g"] <= 100_000
        assert isinstance(p["fragile"], bool)
        assert p["colors"] and set(p["colors"]) <= set(PALETTE)
    by_name = collections.defaultdict(list)
    for p in first:
        by_name[p["name"]].append(p)
    # Shops list a unit's sales packaging (PPWR Art. 24(3) counts it as content): a phone in its retail box.
    phone = by_name["smartphone (retail box)"][0]
    assert 150 < phone["length_mm"] < 190 and 40 < phone["height_mm"] < 60 and 280 < phone["weight_g"] < 380
    assert phone["fragile"] is True
    shoe_box = by_name["sneakers (box)"][0]
    assert 290 < shoe_box["length_mm"] < 370 and 700 < shoe_box["weight_g"] < 1100
    old = {p["product_id"]: p for p in first}
    assert len(second) > len(first)
    assert any(p["product_id"] in old and p["price"] != old[p["product_id"]]["price"] for p in second)
    assert any(p["product_id"] in old and p["length_mm"] != old[p["product_id"]]["length_mm"] for p in second)
    # Days from the second snapshot on show its prices.
    prices = {p["product_id"]: p["price"] for p in second}
    assert all(r["price"] == prices[r["product_id"]] for r in _clickstream(lake, mid) if r["product_id"])
    assert summary["sources"]["catalog"] == {
        "rows": len(first) + len(second),
        "partitions": 2,
        "files": 2,
        "bad_rows": {},
    }


# -- planted behaviour ----------------------------------------------------------------------------


def test_planted_segments_are_recoverable_from_behaviour(dataset):
    lake, summary = dataset
    truth = pq.read_table(io.BytesIO(lake.read_bytes(GROUND_TRUTH_KEY))).to_pandas()
    assert len(truth) == 1500 and truth.customer_id.is_unique
    assert sorted(truth.planted_segment.unique()) == list(range(len(ARCHETYPES)))
    assert summary["ground_truth_key"] == GROUND_TRUTH_KEY
    events = pd.DataFrame([r for ds in _days(START, 4) for r in _clickstream(lake, ds)])
    views = events[events.event_type == "view"].merge(truth, on="customer_id")
    for seg, arch in enumerate(ARCHETYPES):
        mine, others = views[views.planted_segment == seg], views[views.planted_segment != seg]
        top_category = mine.category.value_counts().idxmax()
        assert arch.categories.get(top_category) == max(arch.categories.values()), arch.name
        assert (mine.category == top_category).mean() > 2 * (others.category == top_category).mean(), arch.name
        top_device = max(arch.devices, key=arch.devices.get)
        sessions = mine.drop_duplicates("session_id")
        assert sessions.device.value_counts().idxmax() == top_device, arch.name
        liked = mine.color.isin(arch.colors).mean()
        assert liked > others.color.isin(arch.colors).mean(), arch.name


def test_guest_orders_and_returns_exist_and_returns_reference_earlier_purchases(dataset):
    lake, _ = dataset
    frames = {ds: _orders(lake, ds).to_pandas() for ds in _days(START, 4)}
    everything = pd.concat(frames.values())
    orders = everything[everything.quantity > 0].drop_duplicates("order_id")
    guest_share = orders.customer_id.isna().mean()
    assert 0.01 < guest_share < 0.12
    returns = everything[everything.quantity < 0]
    assert 0.005 < len(returns) / len(everything) < 0.05
    for ds, frame in frames.items():
        earlier = pd.concat([f for d, f in frames.items() if d < ds] or [frame.iloc[:0]])
        bought = earlier[earlier.quantity > 0].set_index(["order_id", "product_id"])
        for r in frame[frame.quantity < 0].itertuples():
            original = bought.loc[(r.order_id, r.product_id)]
            assert original.customer_id == r.customer_id and original.quantity == -r.quantity


# -- bad rows -------------------------------------------------------------------------------------


def _classify_json(source: str, line: str, ds: str, seen: set) -> str | None:
    contract = {"clickstream": CLICKSTREAM, "catalog": CATALOG, "feedback": FEEDBACK}[source]
    try:
        row = json.loads(line)
    except ValueError:
        return "malformed_json"
    if any(f.required and row.get(f.name) in (None, "") for f in contract.fields):
        return "missing_field"
    if source == "clickstream":
        if row["event_type"] not in EVENT_TYPES:
            return "bad_enum"
        if row["price"] is not None and not isinstance(row["price"], float | int):
            return "bad_type"
        if row["price"] is not None and row["price"] < 0:
            return "negative_price"
        if not _within_day(_ts(row["event_time"]), ds):
            return "future_timestamp"
    if source == "catalog":
        if not all(isinstance(row[d], float | int) for d in ("length_mm", "width_mm", "height_mm", "weight_g")):
            return "bad_type"
        if min(row["length_mm"], row["width_mm"], row["height_mm"], row["weight_g"]) <= 0:
            return "out_of_range"
    if source == "feedback":
        if row["event"] not in FEEDBACK_EVENTS:
            return "bad_enum"
        if row["rating"] is not None and not 1 <= row["rating"] <= 5:
            return "out_of_range"
    key = tuple(row[c] for c in contract.id_columns)
    if key in seen:
        return "duplicate_id"
    seen.add(key)
    return None


def _classify_orders(frame: pd.DataFrame, ds: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    seen: set = set()
    required = [f.name for f in ORDERS.fields if f.required]
    for row in frame.to_dict(orient="records"):
        if any(
            row[c] is None or (isinstance(row[c], float) and math.isnan(row[c])) or row[c] is pd.NaT for c in required
        ):
            counts["missing_field"] += 1
        elif row["unit_price"] < 0:
            counts["negative_price"] += 1
        elif not _within_day(row["order_time"].to_pydatetime(), ds):
            counts["future_timestamp"] += 1
        elif row["quantity"] == 0:
            counts["zero_quantity"] += 1
        elif (row["order_id"], row["product_id"], row["quantity"] > 0) in seen:
            counts["duplicate_id"] += 1
        else:
            seen.add((row["order_id"], row["product_id"], row["quantity"] > 0))
    return counts


def test_bad_rows_are_planted_and_counted_by_kind(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    summary = generate_sample_data(lake, START, days=4, customers=800, seed=9, bad_row_share=0.03, chunk_customers=400)
    found: dict[str, collections.Counter] = {s: collections.Counter() for s in ("clickstream", "orders", "catalog")}
    for ds in _days(START, 4):
        seen: set = set()
        for key in _files(lake, "clickstream", ds, ".gz"):
            for line in _jsonl_lines(lake, key):
                if kind := _classify_json("clickstream", line, ds, seen):
                    found["clickstream"][kind] += 1
        for key in _files(lake, "catalog", ds, ".jsonl"):
            seen = set()
            for line in _jsonl_lines(lake, key):
                if kind := _classify_json("catalog", line, ds, seen):
                    found["catalog"][kind] += 1
        found["orders"] += _classify_orders(_orders(lake, ds).to_pandas(), ds)
    for source, counts in found.items():
        assert dict(counts) == summary["sources"][source]["bad_rows"], source
    kinds = set(summary["bad_rows"])
    assert {"malformed_json", "missing_field", "bad_enum", "bad_type", "negative_price"} <= kinds
    assert {"future_timestamp", "duplicate_id", "zero_quantity", "out_of_range"} <= kinds
    click = summary["sources"]["clickstream"]
    assert 0.015 < sum(click["bad_rows"].values()) / click["rows"] < 0.045
    assert summary["bad_rows_total"] == sum(summary["bad_rows"].values())


# -- reruns, streaming, feedback ------------------------------------------------------------------


def test_rerun_replaces_partitions_instead_of_adding_to_them(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    first = generate_sample_data(lake, START, days=2, customers=600, seed=1, chunk_customers=200)
    assert len(_files(lake, "clickstream", START.isoformat(), ".gz")) == 3
    again = generate_sample_data(lake, START, days=2, customers=600, seed=1, chunk_customers=200)
    assert again == first
    assert sum(len(_clickstream(lake, ds)) for ds in _days(START, 2)) == first["sources"]["clickstream"]["rows"]
    smaller = generate_sample_data(lake, START, days=2, customers=150, seed=1, chunk_customers=200)
    for ds in _days(START, 2):
        assert len(_files(lake, "clickstream", ds, ".gz")) == 1 and len(_files(lake, "orders", ds, ".parquet")) == 1
    assert sum(len(_clickstream(lake, ds)) for ds in _days(START, 2)) == smaller["sources"]["clickstream"]["rows"]
    assert sorted(o.key for o in lake.list("raw/")) == sorted(smaller["keys_written"])


def test_work_is_streamed_in_customer_chunks(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    summary = generate_sample_data(lake, START, days=2, customers=5000, seed=2, chunk_customers=1000)
    for ds in _days(START, 2):
        parts = _files(lake, "clickstream", ds, ".jsonl.gz")
        assert [k.rsplit("/", 1)[1] for k in parts] == [f"part-{i:05d}.jsonl.gz" for i in range(5)]
        assert len(_files(lake, "orders", ds, ".parquet")) == 5
    assert summary["sources"]["clickstream"]["files"] == 10 and summary["sources"]["clickstream"]["partitions"] == 2
    second_part = raw_prefix("clickstream", START.isoformat()) + "part-00001.jsonl.gz"
    customers = {r["customer_id"] for r in _jsonl_lines_as_rows(lake, second_part)}
    assert customers and all(1000 <= int(c[1:]) < 2000 for c in customers)


def _jsonl_lines_as_rows(lake: LocalLake, key: str) -> list[dict]:
    return [json.loads(line) for line in _jsonl_lines(lake, key)]


def _write_published(lake: LocalLake, ds: str, rows: list[tuple[str, str]], complete: bool = True):  # noqa: ANN202
    text = "order_id,box_code,design_id,print_file_key\n" + "".join(f"{o},B2,{d},designs/{d}/x.pdf\n" for o, d in rows)
    batch = fake_batch(lake, ds, {"assignments/warehouse=WH-BER/assignments.csv": text.encode()})
    if not complete:
        lake.delete(published_success_key(ds))  # the files are there, the pointer is not
    return batch


def test_feedback_only_refers_to_published_designs(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fresh = generate_sample_data(lake, START, days=9, customers=1500, seed=4, chunk_customers=500)
    assert fresh["sources"]["feedback"] == {"rows": 0, "partitions": 0, "files": 0, "bad_rows": {}}
    assert lake.list("raw/feedback/") == []

    published = (START + dt.timedelta(days=1)).isoformat()
    orders = _orders(lake, published).to_pandas()
    member = orders[orders.customer_id.notna() & (orders.quantity > 0)].order_id.unique()
    guest = orders[orders.customer_id.isna()].order_id.unique()
    assignments = [(o, f"D-{i % 3}") for i, o in enumerate(member)] + [(guest[0], "D-9"), ("FOREIGN-1", "D-9")]
    _write_published(lake, published, assignments)
    _write_published(lake, (START + dt.timedelta(days=2)).isoformat(), [(member[0], "D-X")], complete=False)

    summary = generate_sample_data(lake, START, days=9, customers=1500, seed=4, chunk_customers=500)
    expected = dict(assignments)
    rows, partitions = [], []
    for obj in lake.list("raw/feedback/"):
        ds = obj.key.split("ds=")[1].split("/")[0]
        partitions.append(ds)
        lag = (dt.date.fromisoformat(ds) - dt.date.fromisoformat(published)).days
        assert 3 <= lag <= 5
        for row in _jsonl_lines_as_rows(lake, obj.key):
            assert list(row) == list(FEEDBACK.field_names)
            assert _within_day(_ts(row["event_time"]), ds)
            assert row["event"] in FEEDBACK_EVENTS
            assert row["rating"] is None or (isinstance(row["rating"], int) and 1 <= row["rating"] <= 5)
            assert row["order_id"] in set(member) and row["design_id"] == expected[row["order_id"]]
            rows.append(row)
    assert rows, "published member orders should get some feedback"
    assert len({r["feedback_id"] for r in rows}) == len(rows)
    assert {r["event"] for r in rows} >= {"unboxed"}
    assert summary["sources"]["feedback"]["rows"] == len(rows)
    assert summary["sources"]["feedback"]["partitions"] == len(partitions)
    # Clickstream and orders are unchanged by the feedback pass.
    assert summary["sources"]["orders"] == fresh["sources"]["orders"]


def test_rejects_impossible_arguments(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    with pytest.raises(ValueError, match="days"):
        generate_sample_data(lake, START, days=0, customers=10, seed=1)
    with pytest.raises(ValueError, match="bad_row_share"):
        generate_sample_data(lake, START, days=1, customers=10, seed=1, bad_row_share=0.9)
