"""Customer features on Spark: hand-made nights with known answers, incremental == rebuild, reruns, bad input."""

from __future__ import annotations

import datetime as dt
import io
import math
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core import progress
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import write_json, write_parquet
from packaging_pipeline.core.keys import accepted_prefix, ingest_report_key
from packaging_pipeline.core.schemas import CLICKSTREAM, ORDERS
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.customers.features import run_customer_features
from packaging_pipeline.customers.spark_io import SparkLake, reporting_spark_tasks
from packaging_pipeline.ingest.raw import ingest_range
from packaging_pipeline.sample_data.generate import generate_sample_data

UTC = dt.UTC


def _ts(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _night(lake, ds: str, events: list[dict] | None = None, orders: list[dict] | None = None) -> None:
    """What ingest leaves for a night: its report, and accepted Parquet for sources that had rows."""
    write_json(lake, ingest_report_key(ds), {"ds": ds})
    for source, rows, contract in (("clickstream", events, CLICKSTREAM), ("orders", orders, ORDERS)):
        if rows:
            schema = contract.accepted_schema
            table = pa.Table.from_pylist([{f: r.get(f) for f in schema.names} for r in rows], schema=schema)
            write_parquet(lake, accepted_prefix(source, ds) + "part-00000.parquet", table)


def _event(i: int, key: str, session: str, t: dt.datetime, kind: str, category=None, color=None, device="desktop"):
    return {
        "event_id": f"e{i}", "event_time": t, "customer_key": key, "session_id": session, "event_type": kind,
        "category": category, "color": color, "device": device, "product_id": "p1", "price": 10.0,
    }  # fmt: skip


def _line(order: str, key: str | None, t: dt.datetime, product: str, qty: int, price: float, line_id=None):
    return {
        "order_id": order, "order_time": t, "customer_key": key, "warehouse_id": "WH-BER",
        "ship_date": t.date(), "product_id": product, "quantity": qty, "unit_price": price, "line_id": line_id,
    }  # fmt: skip


@pytest.fixture
def handmade_lake(tmp_path):
    """Four nights (window of 3 days ending 2026-11-10 covers event dates 11-08..11-10)."""
    lake = LocalLake(tmp_path / "lake")
    # Customer c browses only on 11-07: outside the window on 11-10.
    _night(lake, "2026-11-07", events=[_event(1, "c", "s0", _ts(7, 9), "view", "toys", "red")])
    _night(lake, "2026-11-08")  # ingested, nothing accepted: an empty night
    # Customer b only returns something.
    _night(lake, "2026-11-09", orders=[_line("o4", "b", _ts(9, 8), "p9", -2, 8.0)])
    events = [
        _event(2, "a", "s1", _ts(10, 10, 0), "view", "home", "beige"),
        _event(3, "a", "s1", _ts(10, 10, 5), "add_to_cart", "home", "beige"),
        _event(4, "a", "s1", _ts(10, 10, 10), "purchase", "home", "beige"),
        _event(5, "a", "s2", _ts(10, 12, 0), "view", "garden", "teal"),  # unknown category and colour
        _event(6, "a", "s2", _ts(10, 12, 1), "add_to_cart", "Apparel ", "red"),  # cart abandoned
    ]
    orders = [
        _line("o1", "a", _ts(10, 10, 10), "p1", 2, 10.0),
        _line("o1", "a", _ts(10, 10, 10), "p2", -1, 5.0),  # a returned line, not a purchase
        _line("o2", "a", _ts(9, 23), "p3", 1, 3.5),  # late: placed 11-09, arrived with 11-10
        _line("o0", "a", _ts(5, 12), "p4", 1, 99.0),  # late beyond the window: must not count
        _line("o3", "a", _ts(10, 11), "p5", 1, float("nan")),  # slipped past ingest
        _line("o5", "a", _ts(10, 11), "p6", 1, float("inf")),
        _line("o6", None, _ts(10, 11), "p7", 1, 4.0),  # guest checkout
    ]
    _night(lake, "2026-11-10", events=events, orders=orders)
    return lake


def _features(lake, ds: str) -> pd.DataFrame:
    frame = pq.read_table(lake.root / f"features/customer/ds={ds}").to_pandas()
    return frame.sort_values("customer_key").reset_index(drop=True)


def test_handmade_night_has_the_expected_features(spark, handmade_lake):
    with SparkLake(handmade_lake, spark) as io:
        result = run_customer_features(io, "2026-11-10", window_days=3, rebuild=True)
    assert result.customers == 2
    rows = _features(handmade_lake, "2026-11-10").set_index("customer_key")
    assert list(rows.index) == ["a", "b"], "c is outside the window; the guest never enters features"

    a = rows.loc["a"]
    assert a.frequency == 2 and a.monetary == pytest.approx(23.5) and a.avg_order_value == pytest.approx(11.75)
    assert a.return_lines == 1 and a.invalid_price_lines == 2 and a.recency_days == 0
    assert a.sessions == 2 and a.avg_session_minutes == pytest.approx(5.5)
    assert a.views == 2 and a.cart_adds == 2 and a.cart_abandon_rate == pytest.approx(0.5)
    assert a.category_share_home == pytest.approx(0.6) and a.category_share_apparel == pytest.approx(0.2)
    assert a.category_share_other == pytest.approx(0.2)
    assert a.color_family_share_earth == pytest.approx(0.6) and a.color_family_share_warm == pytest.approx(0.2)
    assert a.color_share_other == pytest.approx(0.2) and a.preferred_device == "desktop"

    b = rows.loc["b"]
    assert b.frequency == 0 and b.monetary == 0 and b.return_lines == 1
    assert pd.isna(b.recency_days) and pd.isna(b.avg_order_value) and pd.isna(b.preferred_device)
    assert b.sessions == 0 and pd.isna(b.cart_abandon_rate) and b.category_share_home == 0


def test_incremental_nights_equal_the_rebuild_on_handmade_data(spark, handmade_lake):
    with SparkLake(handmade_lake, spark) as io:
        for ds in ("2026-11-07", "2026-11-08", "2026-11-09", "2026-11-10"):
            result = run_customer_features(io, ds, window_days=3)
            assert result.daily_partitions_computed == [ds]
        incremental = _features(handmade_lake, "2026-11-10")
        run_customer_features(io, "2026-11-10", window_days=3, rebuild=True)
    pd.testing.assert_frame_equal(incremental, _features(handmade_lake, "2026-11-10"), check_exact=True)


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory):
    from packaging_pipeline.core.config import Settings

    lake = LocalLake(tmp_path_factory.mktemp("features") / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=5, customers=300, seed=21)
    ingest_range(Settings(lake_uri=lake.uri, pseudonym_key="k" * 32), "2026-11-01", "2026-11-05")
    return lake


def test_incremental_equals_rebuild_and_reruns_are_identical_on_sample_data(spark, sample_lake):
    days = [f"2026-11-0{d}" for d in range(1, 6)]
    with SparkLake(sample_lake, spark) as io:
        for ds in days:
            run_customer_features(io, ds, window_days=4)
        incremental = _features(sample_lake, days[-1])
        daily_before = pq.read_table(sample_lake.root / "features/daily").to_pandas()

        rerun = run_customer_features(io, days[-1], window_days=4)
        assert rerun.daily_partitions_computed == [days[-1]], "a rerun reads one new day, not the window"
        pd.testing.assert_frame_equal(incremental, _features(sample_lake, days[-1]), check_exact=True)

        rebuilt = run_customer_features(io, days[-1], window_days=4, rebuild=True)
        assert rebuilt.daily_partitions_computed == days[-4:]
    pd.testing.assert_frame_equal(incremental, _features(sample_lake, days[-1]), check_exact=True)
    daily_after = pq.read_table(sample_lake.root / "features/daily").to_pandas()
    assert len(daily_after) == len(daily_before), "reruns replace daily partitions, never append"
    assert len(incremental) > 150 and incremental.customer_key.str.fullmatch("[0-9a-f]{32}").all()
    assert not math.isnan(incremental.monetary.sum())


def test_money_is_exact_from_sub_cent_unit_prices_and_rounded_once(spark, tmp_path):
    lake = LocalLake(tmp_path / "lake")
    _night(lake, "2026-11-10", orders=[
        _line("w1", "m", _ts(10, 9), "screw", 1000, 0.001),  # 1.00
        _line("w1", "m", _ts(10, 9), "nut", 3, 0.3333),  # an averaged price: 0.9999
        _line("w2", "m", _ts(10, 10), "washer", 7, 0.0125),  # 0.0875
        _line("w2", "m", _ts(10, 10), "washer", -2, 0.0125, line_id="r1"),  # returned: 0.025
        _line("t1", "h", _ts(10, 11), "pin", 1, 0.005),  # half a cent rounds up, once
    ])  # fmt: skip
    with SparkLake(lake, spark) as io:
        run_customer_features(io, "2026-11-10", window_days=1)
    rows = _features(lake, "2026-11-10").set_index("customer_key")
    # The true sums: 2.0874 (rounding each price to a cent first gave 1.06) and 2.0874 / 2 orders.
    assert rows.loc["m", "monetary"] == 2.09 and rows.loc["m", "avg_order_value"] == 1.04
    assert rows.loc["m", "returned_value"] == 0.03 and rows.loc["m", "purchase_lines"] == 3
    assert rows.loc["h", "monetary"] == 0.01 and rows.loc["h", "avg_order_value"] == 0.01


def test_a_line_counts_once_however_often_it_is_delivered(spark, tmp_path):
    """Re-delivered lines (same identity, later night) count on their first night, incremental or rebuild."""
    lake = LocalLake(tmp_path / "lake")
    first = [_line("o1", "a", _ts(8, 9), "p1", 1, 10.0, line_id="1"), _line("o1", "a", _ts(8, 9), "p1", 1, 8.0, "2"),
             _line("o2", "b", _ts(8, 23, 59), "p2", 2, 5.0)]  # fmt: skip
    _night(lake, "2026-11-08", orders=first)
    again = [first[1], _line("o2", "b", _ts(8, 23, 59), "p2", 2, 5.0), _line("o2", "b", _ts(8, 23, 59), "p2", -1, 5.0)]
    _night(lake, "2026-11-09", orders=again)  # o1's line 2 and o2's sale again; o2's return is new
    _night(lake, "2026-11-10", orders=[_line("o1", "a", _ts(8, 9), "p1", 1, 10.0, line_id="1")])
    with SparkLake(lake, spark) as io:
        for ds in ("2026-11-08", "2026-11-09", "2026-11-10"):
            run_customer_features(io, ds, window_days=3)
        incremental = _features(lake, "2026-11-10")
        run_customer_features(io, "2026-11-10", window_days=3, rebuild=True)
    pd.testing.assert_frame_equal(incremental, _features(lake, "2026-11-10"), check_exact=True)
    rows = incremental.set_index("customer_key")
    assert rows.loc["a", "purchase_lines"] == 2 and rows.loc["a", "monetary"] == 18.0
    assert rows.loc["b", "purchase_units"] == 2 and rows.loc["b", "return_units"] == 1


def test_accepted_orders_written_before_line_ids_read_as_unnumbered(spark, tmp_path):
    lake = LocalLake(tmp_path / "lake")
    _night(lake, "2026-11-10")
    old = ORDERS.accepted_schema.remove(ORDERS.accepted_schema.get_field_index("line_id"))
    rows = [_line("o1", "a", _ts(10, 9), "p1", 2, 1.5), _line("o1", "a", _ts(10, 9), "p1", -1, 1.5)]
    table = pa.Table.from_pylist([{f: r[f] for f in old.names} for r in rows], schema=old)
    write_parquet(lake, accepted_prefix("orders", "2026-11-10") + "part-00000.parquet", table)
    with SparkLake(lake, spark) as io:
        run_customer_features(io, "2026-11-10", window_days=1)
    a = _features(lake, "2026-11-10").set_index("customer_key").loc["a"]
    assert (a.purchase_units, a.return_units, a.monetary) == (2, 1, 3.0)


def test_daily_partials_from_before_exact_money_are_recomputed(spark, handmade_lake):
    with SparkLake(handmade_lake, spark) as io:
        for ds in ("2026-11-09", "2026-11-10"):
            run_customer_features(io, ds, window_days=3)
        expected = _features(handmade_lake, "2026-11-10")
        path = handmade_lake.root / "features/daily/ds=2026-11-09/part-00000.parquet"
        old = pq.read_table(path).to_pandas()
        old = old.rename(columns={"purchase_micros": "purchase_cents", "return_micros": "return_cents"})
        old[["purchase_cents", "return_cents"]] //= 10_000
        pq.write_table(pa.Table.from_pandas(old, preserve_index=False), path)
        handmade_lake.delete_prefix("features/state/")  # the earlier version kept no window state
        result = run_customer_features(io, "2026-11-10", window_days=3)
    assert result.daily_partitions_computed == ["2026-11-09", "2026-11-10"]
    pd.testing.assert_frame_equal(expected, _features(handmade_lake, "2026-11-10"), check_exact=True)


def test_a_night_that_was_not_ingested_is_a_clear_error(spark, handmade_lake):
    with SparkLake(handmade_lake, spark) as io, pytest.raises(InputError, match="ingest --ds 2026-11-11"):
        run_customer_features(io, "2026-11-11", window_days=3)


def test_an_empty_night_still_gets_features_from_its_window(spark, handmade_lake):
    with SparkLake(handmade_lake, spark) as io:
        result = run_customer_features(io, "2026-11-08", window_days=2)
    assert result.customers == 1  # c (browsed 11-07) is in the window 11-07..11-08; 11-08 itself is empty
    assert handmade_lake.exists("features/daily/ds=2026-11-08/part-00000.parquet")


def test_features_on_an_s3_lake(spark, s3_lake):
    _night(s3_lake, "2026-11-09", orders=[_line("o1", "k1", _ts(9, 8), "p1", 3, 2.5)])
    with SparkLake(s3_lake, spark) as io:
        result = run_customer_features(io, "2026-11-09", window_days=7)
    assert result.customers == 1
    assert s3_lake.exists("features/customer/ds=2026-11-09/part-00000.parquet")
    assert s3_lake.exists("features/daily/ds=2026-11-09/part-00000.parquet")


def test_cli_features_and_segment_round_trip(spark, sample_lake, capsys):
    """The console script runs the same jobs: features then segment, JSON out, MLflow run logged."""
    import json

    from packaging_pipeline.cli import main

    assert main(["features", "--lake", sample_lake.uri, "--ds", "2026-11-05", "--window-days", "5", "--json"]) == 0
    features = json.loads(capsys.readouterr().out)
    assert features["customers"] > 150 and features["mode"] == "incremental"
    args = ["segment", "--lake", sample_lake.uri, "--ds", "2026-11-05", "--k", "4", "--min-segment-size", "5"]
    assert main([*args, "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)
    assert segments["k_fitted"] == 4 and segments["customers"] == features["customers"] and segments["mlflow_run_id"]
    assert main(["segment", "--lake", sample_lake.uri, "--ds", "2026-11-30"]) == 2
    assert "features --ds 2026-11-30" in capsys.readouterr().err
    assert spark.range(1).count() == 1, "the CLI must not stop a session it did not start"


def test_a_spark_stage_reports_the_tasks_it_completed(spark):
    """What ``features`` and ``segment`` print while Spark works: completed tasks, counted once, only theirs."""
    spark.range(10, numPartitions=2).count()  # an earlier job of the shared session: not this stage's
    out = io.StringIO()
    with progress.to_stream(out, every_s=3600), reporting_spark_tasks(spark, "probe", poll_s=0.05):
        spark.range(1000, numPartitions=4).selectExpr("sum(id) AS s").collect()
    last = out.getvalue().splitlines()[-1]
    found = re.fullmatch(r"probe: (\d+) Spark tasks after \d+ s, done", last)
    assert found and 4 <= int(found.group(1)) <= 6, last  # 4 partial sums (+ the final one, unless AQE folds it)


def _generated_nights(seed: int, nights: int) -> tuple[dict[str, dict[str, list]], list[dict]]:
    """``nights`` nights from 2026-11-01 of random customers: sessions that run past midnight (their later
    events arrive with the next night), events delivered a night late, order lines placed days before
    they arrive, lines delivered twice, and a customer who buys only on the first night.

    Returns each night's accepted events and lines, and every event as delivered (for the oracle).
    """
    import random

    rng = random.Random(seed)
    delivered: dict[str, dict[str, list]] = {}
    every_event: list[dict] = []
    counter = 0

    def night(day: int) -> dict[str, list]:
        return delivered.setdefault(f"2026-11-{day:02d}", {"events": [], "orders": []})

    for day in range(1, nights + 1):
        for c in range(12):
            key = f"c{c:02d}"
            for s in range(rng.randint(0, 2)):
                start = dt.datetime(2026, 11, day, tzinfo=UTC) + dt.timedelta(
                    minutes=rng.choice([rng.randint(0, 1380), rng.randint(1400, 1439)]))  # often just before midnight
                session = f"{key}-{day}-{s}"
                kinds = rng.choices(["view", "add_to_cart", "purchase", "search"], weights=[5, 2, 1, 1],
                                    k=rng.randint(1, 5))
                for i, kind in enumerate(kinds):
                    counter += 1
                    gap = sum(rng.randint(1, 15) for _ in range(i))
                    t = start + dt.timedelta(minutes=gap, seconds=rng.randint(0, 59))
                    arrives = (t.date() - dt.date(2026, 11, 1)).days + 1 + (1 if rng.random() < 0.1 else 0)
                    if arrives > nights:
                        continue
                    event = _event(counter, key, session, t, kind, "home", "beige", rng.choice(["mobile", "desktop"]))
                    night(arrives)["events"].append(event)
                    every_event.append(event)
            if rng.random() < 0.3 and not (key == "c00" and day > 1):
                placed = dt.datetime(2026, 11, max(1, day - rng.choice([0, 0, 0, 2])), 12, tzinfo=UTC)  # some late
                line = _line(f"o{day}-{c}", key, placed, f"p{rng.randint(1, 4)}", rng.choice([1, 2, -1]),
                             0.25 * rng.randint(1, 40))
                night(day)["orders"].append(line)
                if rng.random() < 0.2 and day < nights:
                    night(day + 1)["orders"].append(dict(line))  # delivered again the next night
    # c00 buys on the first night only (not drawn, so the draws above stay as they were).
    night(1)["orders"].append(_line("o1-c00", "c00", dt.datetime(2026, 11, 1, 9, tzinfo=UTC), "p1", 1, 4.0))
    return delivered, every_event


def test_sessions_across_midnight_count_once_on_their_first_day_incremental_and_rebuild(spark, tmp_path):
    """Ten generated nights: incremental night by night equals --rebuild, and sessions match an oracle."""
    nights, window = 10, 4
    delivered, every_event = _generated_nights(seed=5, nights=nights)
    lake = LocalLake(tmp_path / "lake")
    for ds, rows in sorted(delivered.items()):
        _night(lake, ds, events=rows["events"], orders=rows["orders"])
    last = f"2026-11-{nights:02d}"
    with SparkLake(lake, spark) as io:
        nightly = [run_customer_features(io, f"2026-11-{day:02d}", window_days=window) for day in range(1, nights + 1)]
        incremental = _features(lake, last)
        rebuilt = run_customer_features(io, last, window_days=window, rebuild=True)
    pd.testing.assert_frame_equal(incremental, _features(lake, last), check_exact=True)
    # Every night after the first rolled yesterday's state on: it read tonight's partition and those holding
    # the leaving day (its own, the next night's session ends and late events, lines placed two days early).
    assert [r.window_update for r in nightly] == ["merged"] + ["rolled"] * (nights - 1)
    assert all(r.daily_partitions_read <= 4 for r in nightly[1:]) and rebuilt.window_update == "merged"
    assert max(r.daily_partitions_read for r in nightly[window:]) >= 2, "late lines: a leaving day held by two nights"

    events = pd.DataFrame(every_event)
    sessions = events.groupby(["customer_key", "session_id"]).agg(
        start=("event_time", "min"), end=("event_time", "max"),
        cart=("event_type", lambda k: (k == "add_to_cart").any()),
        bought=("event_type", lambda k: (k == "purchase").any()),
    ).reset_index()  # fmt: skip
    first_day = dt.date(2026, 11, nights) - dt.timedelta(days=window - 1)
    sessions = sessions[sessions["start"].dt.date >= first_day]
    assert (sessions["start"].dt.date != sessions["end"].dt.date).sum() >= 3, "the sample must cross midnight"
    sessions["ms"] = (sessions["end"] - sessions["start"]) // pd.Timedelta(milliseconds=1)
    sessions["abandoned"] = sessions["cart"] & ~sessions["bought"]
    oracle = sessions.groupby("customer_key").agg(sessions=("ms", "size"), ms=("ms", "sum"), carts=("cart", "sum"),
                                                  abandoned=("abandoned", "sum")).reset_index()  # fmt: skip
    got = incremental.set_index("customer_key")
    for row in oracle.itertuples(index=False):
        assert got.loc[row.customer_key, "sessions"] == row.sessions, row.customer_key
        assert got.loc[row.customer_key, "avg_session_minutes"] == pytest.approx(row.ms / row.sessions / 60_000)
        expected_rate = row.abandoned / row.carts if row.carts else None
        rate = got.loc[row.customer_key, "cart_abandon_rate"]
        assert (pd.isna(rate) and expected_rate is None) or rate == pytest.approx(expected_rate), row.customer_key
    without = set(got.index) - set(oracle["customer_key"])
    assert all(got.loc[k, "sessions"] == 0 for k in without)
    assert _features(lake, "2026-11-01").set_index("customer_key").loc["c00", "frequency"] == 1
    assert "c00" not in got.index or got.loc["c00", "frequency"] == 0, "c00's only purchase left the window"

    # The benchmark's DuckDB reference, written from the definitions, computes the same window.
    duckdb = pytest.importorskip("duckdb")
    from bench.duckdb_features import features_sql

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    reference = con.execute(features_sql(str(lake.root), last, window)).df().set_index("customer_key")
    assert sorted(reference.index) == sorted(got.index)
    for column in ("sessions", "avg_session_minutes", "cart_abandon_rate", "events", "active_days", "frequency",
                   "monetary", "purchase_units", "return_units", "recency_days"):  # fmt: skip
        pd.testing.assert_series_equal(got[column].sort_index(), reference[column].sort_index(), check_dtype=False,
                                       check_names=False, obj=column)  # fmt: skip
