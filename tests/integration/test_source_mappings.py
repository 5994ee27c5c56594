# ruff: noqa: E501 - the export samples are quoted whole, one record per line, as the shops write them
"""Source mappings: a REES46-shaped clickstream CSV and a Shopify-shaped orders CSV ingested with the
shipped mappings, every mapping rule, and mapping files that are wrong in every way we know."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from packaging_pipeline.core.config import Settings, parse_mappings
from packaging_pipeline.core.errors import ConfigError, InputError
from packaging_pipeline.core.formats import read_parquet
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.ingest.mappings import load_mapping
from packaging_pipeline.ingest.privacy import pseudonym
from packaging_pipeline.ingest.raw import ingest_partition
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.support.cli import run_cli

DS = "2026-11-01"
# The REES46 export's exact columns and formats (Kaggle: "eCommerce behavior data from multi category store").
REES46 = """event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2026-11-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2026-11-01 00:00:01 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
2026-11-01 00:00:04 UTC,cart,1307067,2053013558920217191,computers.notebook,lenovo,251.74,550050854,7c90fc70-0e80-4590-96f3-13c02c18c713
2026-11-01 00:00:05 UTC,remove_from_cart,1480613,2053013561092866779,apparel.shoes.keds,black star,908.62,541444028,3e2ad4b9-1d06-43a8-a4c5-0b4e0d4e0d0a
2026-11-01 00:00:08 UTC,purchase,17300353,2053013553853497655,kids.toys,lego,46.31,555447699,4fe811e9-91de-46da-90c3-bbd87ed3a65d
2026-11-01 00:00:09 UTC,view,5100816,2053013553375346967,auto.accessories.player,,29.95,513781113,a9c8e5d4-0e6a-4d1a-9d1c-3a0b7f2b2b10
2026-13-01 00:00:10 UTC,view,5100816,2053013553375346967,,,29.95,513781113,a9c8e5d4-0e6a-4d1a-9d1c-3a0b7f2b2b10
2026-11-01 00:00:11 UTC,teleport,5100816,2053013553375346967,,,29.95,513781113,a9c8e5d4-0e6a-4d1a-9d1c-3a0b7f2b2b10
"""
# Shopify's orders export: one row per line item, the order's columns on its first row only.
SHOPIFY = """Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Location
#1001,ann@example.com,paid,2026-11-01 01:30:00 +0500,2,Mug - Blue,12.50,MUG-BL,WH-BER
#1001,,,,1,Mug - Blue (gift),0.00,MUG-BL,
#1001,,,,1,Tea towel,4.9999,TOWEL-1,
#1002,bob@example.com,paid,2026-11-01 09:15:00 -0500,1,"Poster, large",19.00,POSTER-L,Madrid warehouse
#1003,cy@example.com,paid,2026-11-01 10:00:00 +0000,two,Lamp,40.00,LAMP-1,WH-BER
#1004,dee@example.com,paid,yesterday,1,Lamp,40.00,LAMP-1,WH-BER
"""


@pytest.fixture
def mapped_night(local_lake):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/2026-Nov.csv", REES46.encode())
    local_lake.write_bytes(f"raw/orders/ds={DS}/orders_export.csv", SHOPIFY.encode())
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=0.5,
                        mappings=parse_mappings(["clickstream=rees46", "orders=shopify-orders"]))  # fmt: skip
    report = ingest_partition(settings, DS, local_lake).as_dict()["sources"]
    return local_lake, report


def _rows(lake, key):
    return read_parquet(lake, key).to_pylist() if key else []


def test_a_rees46_clickstream_csv_is_ingested_with_the_shipped_mapping(mapped_night):
    lake, report = mapped_night
    clicks = report["clickstream"]
    assert clicks["mapping"] == {"name": "rees46", "version": 1, "from": "rees46"}
    assert (clicks["read"], clicks["accepted"]) == (8, 6)
    assert clicks["reasons"] == {"bad_enum:event_type": 1, "bad_type:event_time": 1}
    assert clicks["unknown_columns"] == {"category_id": None}  # delivered, not read by the mapping
    rows = _rows(lake, clicks["accepted_key"])
    assert [r["event_type"] for r in rows] == ["view", "view", "add_to_cart", "remove_from_cart", "purchase", "view"]
    assert [r["category"] for r in rows] == ["other", "home", "electronics", "shoes", "toys", "other"]
    assert [r["color"] for r in rows] == [None, None, None, "black", None, None]
    assert {r["device"] for r in rows} == {"unknown"} and {r["dwell_ms"] for r in rows} == {None}
    assert rows[0]["customer_key"] == pseudonym(TEST_PSEUDONYM_KEY.encode(), "541312140")
    assert rows[0]["event_time"].isoformat() == "2026-11-01T00:00:00+00:00" and rows[2]["price"] == 251.74
    assert len({r["event_id"] for r in rows}) == 6 and all(len(r["event_id"]) == 32 for r in rows)


def test_a_shopify_orders_csv_is_grouped_by_order_and_ingested(mapped_night):
    lake, report = mapped_night
    orders = report["orders"]
    assert orders["mapping"]["name"] == "shopify-orders"
    assert (orders["read"], orders["accepted"]) == (6, 4)
    # reasons name the export's own column beside the contract field
    assert orders["reasons"] == {"bad_type:quantity (Lineitem quantity)": 1, "bad_type:order_time (Created at)": 1}
    rows = _rows(lake, orders["accepted_key"])
    first = [r for r in rows if r["order_id"] == "#1001"]
    assert [(r["quantity"], r["unit_price"]) for r in first] == [(2, 12.5), (1, 0.0), (1, 4.9999)]
    ann = pseudonym(TEST_PSEUDONYM_KEY.encode(), "ann@example.com")
    assert {r["customer_key"] for r in first} == {ann}  # the order's email filled onto its later lines
    assert {r["warehouse_id"] for r in first} == {"WH-BER"}
    assert {r["order_time"].isoformat() for r in first} == {"2026-10-31T20:30:00+00:00"}
    # shipped the day after it was placed, in the shop's time zone: 2026-11-01 +05:00, not the UTC date
    assert {r["ship_date"].isoformat() for r in first} == {"2026-11-02"}
    assert len({r["line_id"] for r in first}) == 3  # one product on two lines: two line ids
    assert [(r["product_id"], r["warehouse_id"]) for r in rows if r["order_id"] == "#1002"] == [
        ("POSTER-L", "Madrid-warehouse")]  # a location's name as an id a warehouse can pull its batch by
    quarantined = _rows(lake, orders["quarantine_key"])
    assert all("ann@example.com" not in q["record"] and "bob@" not in q["record"] for q in quarantined)
    assert json.loads(quarantined[0]["record"])["customer_key"] == pseudonym(TEST_PSEUDONYM_KEY.encode(),
                                                                             "cy@example.com")  # fmt: skip


def _mapping_file(tmp_path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = """version: 1
name: mine
source: feedback
fields:
  feedback_id: {column: id}
  event_time: {column: ts}
  order_id: {column: order}
  design_id: {column: design}
  event: {column: what, values: {liked: shared}}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  event: {column: what", "  events: {column: what", "fields.events: not a field of the feedback contract"),
        ("  design_id: {column: design}\n", "", "required field 'design_id' of the feedback contract is not mapped"),
        ("{column: id}", "{column: id, constant: x}", "give exactly one of column, constant, hash or colour_from"),
        ("{column: ts}", "{column: ts, timezone: Mars/Olympus}", "unknown time zone 'Mars/Olympus'"),
        ("version: 1", "version: 0", "version: expected a number >= 1"),
        ("source: feedback", "source: tweets", "source:"),
        ("name: mine", "name: mine\nlabel: x", "unknown field 'label'"),
    ],
)
def test_a_wrong_mapping_file_names_the_file_field_and_fix(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(InputError, match="source mapping .*mine.yaml") as refused:
        load_mapping(_mapping_file(tmp_path, GOOD.replace(old, new)))
    assert message in str(refused.value), str(refused.value)


def test_every_rule_of_a_users_mapping(local_lake, tmp_path):
    path = _mapping_file(tmp_path, GOOD.replace("  feedback_id: {column: id}", "  feedback_id: {hash: [id, ts]}")
                         .replace("  event_time: {column: ts}", "  event_time: {column: ts, format: '%d/%m/%Y %H:%M', "
                                  "timezone: Europe/Berlin}")
                         + "  rating: {column: stars, default: 3}\n")  # fmt: skip
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", json.dumps({
        "event_id": "e1", "event_time": "2026-11-01T10:00:00Z", "customer_id": "C", "session_id": "s",
        "event_type": "view"}).encode() + b"\n")  # fmt: skip
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", json.dumps({
        "order_id": "o", "order_time": "2026-11-01T10:00:00Z", "warehouse_id": "W", "ship_date": "2026-11-02",
        "product_id": "P", "quantity": 1, "unit_price": 1.0}).encode() + b"\n")  # fmt: skip
    lines = [{"id": "f1", "ts": "01/11/2026 09:30", "order": "o", "design": "d", "what": "Liked", "stars": 5},
             {"id": "f2", "ts": "01/11/2026 09:31", "order": "o", "design": "d", "what": "unboxed"},
             {"id": "f3", "ts": "2026-11-01", "order": "o", "design": "d", "what": "unboxed"}]  # fmt: skip
    local_lake.write_bytes(f"raw/feedback/ds={DS}/a.jsonl", b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=0.5,
                        mappings=(("feedback", path),))  # fmt: skip
    feedback = ingest_partition(settings, DS, local_lake).as_dict()["sources"]["feedback"]
    assert feedback["reasons"] == {"bad_type:event_time (ts)": 1} and feedback["mapping"]["from"] == path
    rows = _rows(local_lake, feedback["accepted_key"])
    assert [(r["event"], r["rating"]) for r in rows] == [("shared", 5), ("unboxed", 3)]
    assert rows[0]["event_time"].isoformat() == "2026-11-01T08:30:00+00:00"  # 09:30 in Berlin (CET)


def test_a_warehouse_id_that_cannot_name_a_batch_folder_is_quarantined(local_lake):
    rows = [{"order_id": f"o{i}", "order_time": "2026-11-01T10:00:00Z", "warehouse_id": wh, "ship_date": "2026-11-02",
             "product_id": "P", "quantity": 1, "unit_price": 1.0}
            for i, wh in enumerate(("WH-BER", "Main warehouse", "../x"))]  # fmt: skip
    local_lake.write_bytes(f"raw/orders/ds={DS}/a.jsonl", b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/_SUCCESS", b"")  # a night without events
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=0.9)
    orders = ingest_partition(settings, DS, local_lake).as_dict()["sources"]["orders"]
    assert (orders["accepted"], orders["reasons"]) == (1, {"bad_format:warehouse_id": 2})


def test_a_file_without_a_column_the_mapping_needs_fails_naming_the_mapping(local_lake):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.csv", REES46.replace("user_session", "session").encode())
    local_lake.write_bytes(f"raw/orders/ds={DS}/o.csv", SHOPIFY.encode())
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY,
                        mappings=parse_mappings(["clickstream=rees46"]))  # fmt: skip
    with pytest.raises(InputError, match=r"lacks column\(s\) \['user_session'\] that mapping 'rees46' v1"):
        ingest_partition(settings, DS, local_lake)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["clickstream"], "is not SOURCE=MAPPING"),
        (["tweets=rees46"], "is not SOURCE=MAPPING with SOURCE one of clickstream"),
        (["orders=a", "orders=b"], "two mappings for orders"),
    ],
)
def test_bad_mapping_arguments_name_the_fix(pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_mappings(pairs)


def test_unknown_or_mismatched_shipped_mappings_are_named():
    with pytest.raises(InputError, match="no shipped source mapping named 'rees'; shipped: rees46, shopify-orders"):
        load_mapping("rees")
    with pytest.raises(InputError, match="maps the clickstream source, not orders; pass it as clickstream=rees46"):
        load_mapping("rees46", "orders")


def test_the_cli_takes_mappings_per_source(tmp_path):
    lake = tmp_path / "lake"
    (lake / f"raw/clickstream/ds={DS}").mkdir(parents=True)
    (lake / f"raw/clickstream/ds={DS}/2026-Nov.csv").write_text(REES46)
    (lake / f"raw/orders/ds={DS}").mkdir(parents=True)
    (lake / f"raw/orders/ds={DS}/orders_export.csv").write_text(SHOPIFY)
    out = run_cli("ingest", "--lake", lake.as_uri(), "--ds", DS, "--mapping", "clickstream=rees46",
                  "--mapping", "orders=shopify-orders", "--json", env={"PACKAGING_MAX_BAD_ROW_SHARE": "0.5"})
    assert out.returncode == 0, out.stderr
    sources = json.loads(out.stdout)["sources"]
    assert sources["clickstream"]["mapping"]["name"] == "rees46" and sources["orders"]["accepted"] == 4
    bad = run_cli("ingest", "--lake", lake.as_uri(), "--ds", DS, "--mapping", "orders=nope")
    assert bad.returncode == 2 and "no shipped source mapping named 'nope'" in bad.stderr


def test_the_nightly_dag_takes_mappings_from_a_param(monkeypatch, tmp_path):
    from packaging_pipeline.airflow_support import task_settings

    monkeypatch.setenv("PACKAGING_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)
    monkeypatch.setenv("PACKAGING_LAKE_URI", (tmp_path / "lake").as_uri())
    monkeypatch.setenv("PACKAGING_SOURCE_MAPPINGS", "clickstream=rees46,orders=mine.yaml")
    settings = task_settings({"source_mappings": {"orders": "shopify-orders"}})
    assert (settings.mapping_of("clickstream"), settings.mapping_of("orders")) == ("rees46", "shopify-orders")
    with pytest.raises(ConfigError, match="Param source_mappings 'tweets=rees46' is not SOURCE=MAPPING"):
        task_settings({"source_mappings": {"tweets": "rees46"}})


def _rees46_night(day: str, rng, users: int) -> str:
    """A REES46-shaped night: sessions of views, some carts and purchases, dotted codes, brands."""
    codes = ["", "appliances.kitchen.kettle", "electronics.smartphone", "apparel.shoes.sandals", "kids.toys",
             "furniture.living_room.sofa", "sport.bicycle", "computers.notebook"]  # fmt: skip
    brands = ["", "samsung", "black diamond", "red castle", "lego", "ikea"]
    lines = ["event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"]
    for user in range(users):
        taste = user % len(codes)
        for session in range(int(rng.integers(1, 3))):
            sid = f"{day}-{user}-{session}-0e6a-4d1a"
            for step in range(int(rng.integers(2, 7))):
                kind = ("view", "view", "cart", "remove_from_cart", "purchase")[int(rng.integers(0, 5))]
                code = codes[taste] if rng.random() < 0.8 else codes[int(rng.integers(0, len(codes)))]
                second = 3600 * (6 + session * 5) + 37 * step + user
                stamp = f"{day} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d} UTC"
                lines.append(f"{stamp},{kind},{1000 + taste * 10 + step},2053013555631882655,{code},"
                             f"{brands[user % len(brands)]},{rng.integers(100, 90000) / 100:.2f},{500000 + user},{sid}")
    return "\n".join(lines) + "\n"


def _shopify_night(day: str, rng, users: int) -> str:
    lines = ["Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,"
             "Location"]  # fmt: skip
    for n, user in enumerate(range(0, users, 3)):
        name = f"#{day.replace('-', '')}{n:03d}"
        for line in range(int(rng.integers(1, 4))):
            first = line == 0
            lines.append(f"{name},{f'u{user}@example.com' if first else ''},{'paid' if first else ''},"
                         f"{f'{day} 10:{n % 60:02d}:00 +0100' if first else ''},{int(rng.integers(1, 4))},"
                         f"\"Item {line}, boxed\",{rng.integers(100, 9000) / 100:.2f},SKU-{line + n % 5},"
                         f"{('WH-BER' if n % 2 else 'WH-MAD') if first else ''}")  # fmt: skip
    return "\n".join(lines) + "\n"


def test_rees46_and_shopify_nights_go_through_features_and_segments(spark, local_lake):
    """Three nights in the two public shapes: ingest with the shipped mappings, features --rebuild, segment."""
    import numpy as np

    from packaging_pipeline.customers.features import run_customer_features
    from packaging_pipeline.customers.segments import SegmentationConfig, run_segmentation
    from packaging_pipeline.customers.spark_io import SparkLake
    from packaging_pipeline.ingest.raw import ingest_range

    rng = np.random.default_rng(3)
    nights = ("2026-11-01", "2026-11-02", "2026-11-03")
    for day in nights:
        local_lake.write_bytes(f"raw/clickstream/ds={day}/2026-Nov.csv", _rees46_night(day, rng, 90).encode())
        local_lake.write_bytes(f"raw/orders/ds={day}/orders_export.csv", _shopify_night(day, rng, 90).encode())
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY,
                        mappings=parse_mappings(["clickstream=rees46", "orders=shopify-orders"]))  # fmt: skip
    reports = ingest_range(settings, nights[0], nights[-1])
    for report in reports:
        for source in ("clickstream", "orders"):
            result = report.sources[source]
            assert result.read > 0 and result.accepted / result.read >= 0.99, (report.ds, source, result.reasons)
    with SparkLake(local_lake, spark) as io:
        features = run_customer_features(io, nights[-1], window_days=3, rebuild=True)
        segments = run_segmentation(io, nights[-1], SegmentationConfig(k=3, min_segment_size=5))
    assert features.customers >= 90  # 90 browsing users, and the buyers (known by email, not user id)
    profiles = json.loads(local_lake.read_bytes(f"segments/ds={nights[-1]}/profiles.json"))
    assert len(profiles["segments"]) >= 2 and segments["ds"] == nights[-1]
    shares = {c["category"] for s in profiles["segments"] for c in s["top_categories"]}
    assert shares & {"home", "electronics", "shoes", "toys", "sports"}, shares


def test_a_mapping_declares_its_exports_csv_dialect(local_lake, tmp_path):
    semicolons = GOOD.replace("source: feedback", "source: feedback\ncsv: {delimiter: semicolon, encoding: cp1252}")
    path = _mapping_file(tmp_path, semicolons)
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.csv", REES46.encode())  # the lake's dialect: commas
    local_lake.write_bytes(f"raw/orders/ds={DS}/o.csv", SHOPIFY.encode())
    local_lake.write_bytes(f"raw/feedback/ds={DS}/f.csv",
                           "id;ts;order;design;what\nf1;2026-11-01T09:30:00Z;o;d;liked\nf2;2026-11-01T09:31:00Z;o;"
                           "d;Déçu\n".encode("cp1252"))  # fmt: skip
    settings = Settings(lake_uri=local_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=0.6,
                        mappings=parse_mappings(["clickstream=rees46", "orders=shopify-orders", f"feedback={path}"]))
    sources = ingest_partition(settings, DS, local_lake).as_dict()["sources"]
    assert sources["feedback"]["accepted"] == 1 and sources["feedback"]["reasons"] == {"bad_enum:event (what)": 1}
    assert sources["clickstream"]["accepted"] == 6
    with pytest.raises(InputError, match="csv: CSV delimiter ';;' must be one character"):
        load_mapping(_mapping_file(tmp_path, GOOD.replace("source: feedback", "source: feedback\ncsv: {delimiter: ';;'}")))


CATALOG_CSV = """product_id,category,length_mm,width_mm,height_mm,weight_g,fragile,colors
MUG-BL,home,120,90,100,350,true,
"""


def _exports(root, **sources):
    for source, files in sources.items():
        (root / source).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / source / name).write_text(text)
    return root


def test_a_folder_of_exports_lands_as_a_night_and_landing_again_replaces_it(tmp_path):
    lake = tmp_path / "lake"
    exports = _exports(tmp_path / "exports", clickstream={"2026-Nov.csv": REES46, ".DS_Store": "x"},
                       orders={"orders_export.csv": SHOPIFY}, catalog={"products.csv": CATALOG_CSV})  # fmt: skip
    out = run_cli("land", "--lake", lake.as_uri(), "--from", str(exports), "--ds", DS, "--json")
    assert out.returncode == 0, out.stderr
    landed = {s["source"]: s for s in json.loads(out.stdout)["sources"]}
    assert {s: x["files"] for s, x in landed.items()} == {
        "catalog": ["products.csv"], "clickstream": ["2026-Nov.csv"], "orders": ["orders_export.csv"]}  # fmt: skip
    assert (lake / f"raw/orders/ds={DS}/orders_export.csv").read_text() == SHOPIFY
    assert not (lake / f"raw/clickstream/ds={DS}/.DS_Store").exists()

    (exports / "orders" / "orders_export.csv").rename(exports / "orders" / "orders_export_v2.csv")
    again = run_cli("land", "--lake", lake.as_uri(), "--from", str(exports), "--ds", DS, "--json")
    orders = next(s for s in json.loads(again.stdout)["sources"] if s["source"] == "orders")
    assert orders["replaced_files"] == 1 and sorted(p.name for p in (lake / f"raw/orders/ds={DS}").iterdir()) == [
        "orders_export_v2.csv"]  # fmt: skip
    ingested = run_cli("ingest", "--lake", lake.as_uri(), "--ds", DS, "--mapping", "clickstream=rees46",
                       "--mapping", "orders=shopify-orders", "--json", env={"PACKAGING_MAX_BAD_ROW_SHARE": "0.5"})
    sources = json.loads(ingested.stdout)["sources"]
    assert (sources["orders"]["accepted"], sources["clickstream"]["accepted"], sources["catalog"]["accepted"]) == (4, 6, 1)


VALID_EXPORTS = {"clickstream": {"2026-Nov.csv": REES46}, "orders": {"orders_export.csv": SHOPIFY},
                 "catalog": {"products.csv": CATALOG_CSV}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clickstream": None}, "no clickstream/ folder"),
        ({"clicks": {"a.csv": REES46}}, "['clicks'] is not a source folder"),
        ({"orders": {"orders.xlsx": "x"}}, "['orders.xlsx'] cannot be landed as orders files"),
        ({"orders": {}}, "no orders files in it"),
    ],
)
def test_an_export_folder_landing_cannot_read_is_refused_before_anything_is_copied(tmp_path, local_lake, change, message):
    from packaging_pipeline.ingest.landing import land_exports

    layout = {source: files for source, files in {**VALID_EXPORTS, **change}.items() if files is not None}
    exports = _exports(tmp_path / "exports", **layout)
    with pytest.raises(InputError, match=re.escape(message)):
        land_exports(local_lake, exports, DS)
    assert not local_lake.list("raw/")


def test_sample_exports_in_the_public_shapes_are_landed_and_ingested_whole(tmp_path):
    """The sample shop written as REES46 and Shopify exports: every row accepted, the same file twice."""
    from packaging_pipeline.sample_data.exports import write_sample_exports

    night = dt.date(2026, 11, 2)
    written = write_sample_exports(tmp_path / "exports", night, days=2, customers=150, seed=3)
    again = write_sample_exports(tmp_path / "again", night, days=2, customers=150, seed=3)
    for source in ("clickstream", "orders", "catalog"):
        first, second = written["sources"][source]["file"], again["sources"][source]["file"]
        assert Path(first).read_bytes() == Path(second).read_bytes(), source
    shopify = (tmp_path / "exports/orders/orders_export.csv").read_text().splitlines()
    assert shopify[0] == "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Location"
    with pytest.raises(InputError, match="not empty: give sample-exports a new or empty folder"):
        write_sample_exports(tmp_path / "exports", night, days=1, customers=10)

    lake = tmp_path / "lake"
    assert run_cli("land", "--lake", lake.as_uri(), "--from", str(tmp_path / "exports"), "--ds", str(night)).returncode == 0
    out = run_cli("ingest", "--lake", lake.as_uri(), "--ds", str(night), "--mapping", "clickstream=rees46",
                  "--mapping", "orders=shopify-orders", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    sources = json.loads(out.stdout)["sources"]
    for source in ("clickstream", "orders", "catalog"):
        rows = written["sources"][source]["rows"]
        assert rows > 0 and (sources[source]["read"], sources[source]["accepted"]) == (rows, rows), source
    clicks = read_parquet(LocalLake(str(lake)), sources["clickstream"]["accepted_key"]).to_pandas()
    assert set(clicks["category"]) - {"other"} and clicks["color"].notna().mean() > 0.5  # codes and brand words mapped
