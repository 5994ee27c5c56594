"""CSV input: a header row, then records; quotes, embedded newlines, a BOM, other delimiters and
encodings, gzip; a malformed record costs its row, with a reason."""

from __future__ import annotations

import gzip

import pytest

from packaging_pipeline.core.config import CsvDialect
from packaging_pipeline.core.errors import ConfigError, InputError
from packaging_pipeline.core.formats import read_parquet
from packaging_pipeline.ingest.raw import ingest_partition

DS = "2026-11-01"
HEADER = "order_id,order_time,customer_id,warehouse_id,ship_date,product_id,quantity,unit_price"
CLICKS = b"event_id,event_time,customer_id,session_id,event_type\ne1,2026-11-01T10:00:00Z,C1,s1,view\n"
CLICKS_JSONL = b'{"event_id": "e1", "event_time": "2026-11-01T10:00:00Z", "customer_id": "C1", "session_id": "s1", ' \
               b'"event_type": "view"}\n'  # fmt: skip


def _ingest(lake, settings_for, orders: bytes, name: str = "orders.csv", **settings):
    if "csv" in settings:  # the dialect is the lake's: the clickstream comes as JSON Lines here
        lake.write_bytes(f"raw/clickstream/ds={DS}/clicks.jsonl", CLICKS_JSONL)
    else:
        lake.write_bytes(f"raw/clickstream/ds={DS}/clicks.csv", CLICKS)
    lake.write_bytes(f"raw/orders/ds={DS}/{name}", orders)
    report = ingest_partition(settings_for(lake, max_bad_row_share=1.0, **settings), DS, lake).as_dict()["sources"]
    orders_result = report["orders"]
    accepted = read_parquet(lake, orders_result["accepted_key"]).to_pylist() if orders_result["accepted_key"] else []
    quarantined = (read_parquet(lake, orders_result["quarantine_key"]).to_pylist()
                   if orders_result["quarantine_key"] else [])  # fmt: skip
    return report, accepted, {q["line"]: q["reason"] for q in quarantined}


def test_a_csv_night_with_every_quoting_case_is_read_row_by_row(lake, settings_for):
    text = "\n".join([
        HEADER,
        'o1,2026-11-01T11:00:00Z,C1,WH-BER,2026-11-02,P1,1,19.99',
        '"o2","2026-11-01T11:00:00Z","C1","WH-BER","2026-11-02","P, with comma",2,"5.50"',  # quoted fields
        'o3,2026-11-01T11:00:00Z,,WH-BER,2026-11-02,"P ""quoted""",1,3',  # empty = null (a guest), doubled quotes
        'o4,2026-11-01T11:00:00Z,C2,WH-BER,2026-11-02,"P\nwith a newline",1,3',  # a record over two lines
        '',  # a blank line is not a record
        'o5,2026-11-01T11:00:00Z,C2,WH-BER,2026-11-02,P1,1',  # a field short
        'o6,2026-11-01T11:00:00Z,C2,WH-BER,2026-11-02,P1,"1"x,3',  # a quote inside a field: a quoting error
        'o7,2026-11-01T11:00:00Z,C2,WH-BER,2026-11-02,P1,0,3',  # valid CSV, bad value
        'o8,2026-11-01T11:00:00Z,C2,WH-BER,2026-11-02,P1,1,',  # a required field empty
    ]).encode() + b"\n"
    report, accepted, quarantined = _ingest(lake, settings_for, text)
    assert [(r["order_id"], r["product_id"], r["customer_key"] is None) for r in accepted] == [
        ("o1", "P1", False), ("o2", "P, with comma", False), ("o3", 'P "quoted"', True),
        ("o4", "P\nwith a newline", False),
    ]  # fmt: skip
    assert [r["unit_price"] for r in accepted] == [19.99, 5.5, 3.0, 3.0]
    assert quarantined == {8: "field_count", 9: "malformed_csv", 10: "out_of_range:quantity",
                           11: "missing_field:unit_price"}  # fmt: skip
    orders = report["orders"]
    assert orders["read"] == orders["accepted"] + orders["quarantined"] == 8
    assert report["clickstream"]["accepted"] == 1


@pytest.mark.parametrize(
    ("encode", "name", "dialect"),
    [
        (lambda t: b"\xef\xbb\xbf" + t.encode(), "bom.csv", {}),  # Excel's UTF-8 with a byte-order mark
        (lambda t: gzip.compress(t.encode()), "orders.csv.gz", {}),
        (lambda t: t.replace(",", ";").encode(), "semicolon.csv", {"delimiter": ";"}),
        (lambda t: t.replace(",", "\t").encode(), "orders.tsv", {"delimiter": "\t"}),
        (lambda t: t.replace("P1", "Café").encode("cp1252"), "cp1252.csv", {"encoding": "cp1252"}),
        (lambda t: t.replace("\n", "\r\n").encode(), "crlf.csv", {}),
    ],
    ids=["bom", "gzip", "semicolon", "tab", "cp1252", "crlf"],
)
def test_csv_variants_read_the_same_rows(local_lake, settings_for, encode, name, dialect):
    text = f"{HEADER}\no1,2026-11-01T11:00:00Z,C1,WH-BER,2026-11-02,P1,2,19.99\n"
    report, accepted, quarantined = _ingest(local_lake, settings_for, encode(text), name, csv=CsvDialect(**dialect))
    assert quarantined == {} and [(r["order_id"], r["quantity"]) for r in accepted] == [("o1", 2)]
    assert report["orders"]["unknown_columns"] == {}
    if "encoding" in dialect:
        assert accepted[0]["product_id"] == "Café"


def test_bytes_that_are_not_text_in_the_encoding_quarantine_their_record(local_lake, settings_for):
    rows = [HEADER.encode(), b"o1,2026-11-01T11:00:00Z,C1,WH-BER,2026-11-02,P1,1,2",
            b"o2,2026-11-01T11:00:00Z,C1,WH-BER,2026-11-02,Caf\xe9,1,2"]  # Latin-1 in a UTF-8 file  # fmt: skip
    _, accepted, quarantined = _ingest(local_lake, settings_for, b"\n".join(rows) + b"\n")
    assert [r["order_id"] for r in accepted] == ["o1"] and quarantined == {3: "invalid_encoding:product_id"}


def test_a_header_alone_declares_an_empty_night_and_other_headers_are_checked(local_lake, settings_for):
    report, accepted, _ = _ingest(local_lake, settings_for, (HEADER + "\n").encode())
    assert report["orders"]["declared_empty"] and accepted == []
    twice = HEADER.replace("customer_id", "order_id") + "\no1,t,o9,WH,2026-11-02,P1,1,2\n"
    report, _, quarantined = _ingest(local_lake, settings_for, twice.encode())
    assert report["orders"]["reasons"] == {"duplicate_column:order_id": 1}
    extra = HEADER.replace("unit_price", "Unit_Price,note") + "\no1,2026-11-01T11:00:00Z,C1,WH,2026-11-02,P1,1,2,x\n"
    report, _, quarantined = _ingest(local_lake, settings_for, extra.encode())
    assert report["orders"]["unknown_columns"] == {"Unit_Price": "unit_price", "note": None}
    assert quarantined == {2: "missing_field:unit_price"}
    with pytest.raises(InputError, match="has no readable header row"):
        _ingest(local_lake, settings_for, b"\n\n")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PACKAGING_CSV_DELIMITER": ";;"}, "must be one character"),
        ({"PACKAGING_CSV_QUOTE": ","}, "delimiter and quote are both ','"),
        ({"PACKAGING_CSV_ENCODING": "klingon"}, "is not a known text encoding"),
    ],
)
def test_a_bad_csv_dialect_names_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        CsvDialect.from_env(env)
    assert CsvDialect.from_env({"PACKAGING_CSV_DELIMITER": "tab"}).delimiter == "\t"
