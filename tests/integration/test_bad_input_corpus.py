"""The bad-input corpus: every kind of bad input we know of, each with its expected outcome, as tables.

* Rows: one JSON Lines file per source holds one line per kind. Each kind's outcome is read back from
  the quarantine (by line number) or from the accepted rows (by id); read = accepted + quarantined.
* Files: what a raw partition may hold besides good data files.
* Command line, configuration files and environment: exit code 2 and a message naming the input, never
  a traceback.

Tampered published batches are the pull tests' table (tests/integration/test_publish.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import gzip
import io
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline import cli
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.ingest.raw import ingest_partition
from tests.conftest import TEST_PSEUDONYM_KEY

DS = "2026-11-01"
ACCEPTED = "accepted"
LONG = "x" * 70_000  # above the documented 64 Ki characters of a text field


@dataclasses.dataclass(frozen=True)
class RowKind:
    kind: str
    line: dict[str, Any] | bytes
    outcome: str  # ACCEPTED, or the row's quarantine reason
    accepted_id: str | None = None  # the id it is accepted under, when not the line's own


def _event(n: int, **over: Any) -> dict[str, Any]:
    return {"event_id": f"c{n:02d}", "event_time": "2026-11-01T10:00:00Z", "customer_id": "CUST-1",
            "session_id": "s1", "event_type": "view", "product_id": "P1", "category": "home", "price": 12.5,
            "color": "green", "dwell_ms": 1500, "device": "mobile", **over}  # fmt: skip


def _raw_event(n: int, replace: tuple[bytes, bytes]) -> bytes:
    """An event's JSON text with one fragment replaced: for what json.dumps cannot write."""
    text = json.dumps(_event(n)).encode()
    assert replace[0] in text, replace
    return text.replace(*replace)


def _order(n: int, **over: Any) -> dict[str, Any]:
    return {"order_id": f"o{n:02d}", "order_time": "2026-11-01T11:00:00Z", "customer_id": "CUST-1",
            "warehouse_id": "WH-BER", "ship_date": "2026-11-02", "product_id": "P1", "quantity": 1,
            "unit_price": 20.0, **over}  # fmt: skip


def _product(n: int, **over: Any) -> dict[str, Any]:
    return {"product_id": f"p{n:02d}", "category": "home", "length_mm": 200, "width_mm": 100, "height_mm": 50,
            "weight_g": 300, "fragile": False, "colors": ["green"], **over}  # fmt: skip


def _feedback(n: int, **over: Any) -> dict[str, Any]:
    return {"feedback_id": f"f{n:02d}", "event_time": "2026-11-01T12:00:00Z", "order_id": "o01",
            "design_id": "d1", "rating": 4, "event": "unboxed", **over}  # fmt: skip


DEEP = b"[" * 100_000 + b"]" * 100_000

ROWS: dict[str, list[RowKind]] = {
    "clickstream": [
        RowKind("a good event", _event(1), ACCEPTED),
        RowKind("integer above int64", _raw_event(2, (b'"dwell_ms": 1500', b'"dwell_ms": 99999999999999999999')),
                "bad_type:dwell_ms"),
        RowKind("1e20 for an integer", _event(3, dwell_ms=1e20), "bad_type:dwell_ms"),
        RowKind("2**63 for an integer", _event(4, dwell_ms=2**63), "bad_type:dwell_ms"),
        RowKind("a fraction for an integer", _event(5, dwell_ms=1.5), "bad_type:dwell_ms"),
        RowKind("a boolean for an integer", _event(6, dwell_ms=True), "bad_type:dwell_ms"),
        RowKind("a negative duration", _event(7, dwell_ms=-1), "out_of_range:dwell_ms"),
        RowKind("a lone UTF-16 surrogate", _event(8, session_id="\ud800"), "invalid_unicode:session_id"),
        RowKind("a 100,000-deep nested value", _raw_event(9, (b'"s1"', DEEP)), "malformed_json"),
        RowKind("NaN for an optional price", _raw_event(10, (b"12.5", b"NaN")), ACCEPTED, accepted_id="c10"),
        RowKind("Infinity for a price", _raw_event(11, (b"12.5", b"Infinity")), "out_of_range:price"),
        RowKind("1e400 for a price", _raw_event(12, (b"12.5", b"1e400")), "out_of_range:price"),
        RowKind("a negative price", _event(13, price=-1), "out_of_range:price"),
        RowKind("a price as text", _event(14, price="12.50"), ACCEPTED),
        RowKind("a price that is not a number", _event(15, price="abc"), "bad_type:price"),
        RowKind("a boolean price", _event(16, price=False), "bad_type:price"),
        RowKind("epoch seconds", _event(17, event_time=1793527200), ACCEPTED),
        RowKind("epoch milliseconds", _event(18, event_time=1793527200250), ACCEPTED),
        RowKind("a time with an offset", _event(19, event_time="2026-11-01T12:00:00+02:00"), ACCEPTED),
        RowKind("a time without a zone (read as UTC)", _event(20, event_time="2026-11-01 10:00:00"), ACCEPTED),
        RowKind("a time with nanoseconds", _event(21, event_time="2026-11-01T10:00:00.123456789Z"), ACCEPTED),
        RowKind("a time in words", _event(22, event_time="yesterday"), "bad_type:event_time"),
        RowKind("year 9999", _event(23, event_time="9999-01-01T00:00:00Z"), "bad_type:event_time"),
        RowKind("a time after the night", _event(24, event_time="2026-11-09T00:00:00Z"),
                "future_timestamp:event_time"),
        RowKind("a negative epoch", _event(25, event_time=-1), "bad_type:event_time"),
        RowKind("an empty id", _event(26, event_id=""), "missing_field:event_id"),
        RowKind("a blank id", _event(27, event_id="   "), "missing_field:event_id"),
        RowKind("an id as a number", _event(28, event_id=28), ACCEPTED, accepted_id="28"),
        RowKind("an id as an object", _event(29, event_id={"id": 29}), "bad_type:event_id"),
        RowKind("a session as a list", _event(30, session_id=["s1"]), "bad_type:session_id"),
        RowKind("a 70,000-character colour", _event(31, color=LONG), "too_large:color"),
        RowKind("a NUL character in text", _event(32, product_id="P\x001"), ACCEPTED),
        RowKind("an enum in capitals", _event(33, event_type="View"), ACCEPTED),
        RowKind("an unknown enum value", _event(34, event_type="teleport"), "bad_enum:event_type"),
        RowKind("an empty enum value", _event(35, event_type=""), "missing_field:event_type"),
        RowKind("an unknown extra field", _event(36, referrer="ads"), ACCEPTED),
        RowKind("a field in the wrong case", {**_event(37), "DEVICE": "tablet"}, ACCEPTED),
        RowKind("a key named twice", _raw_event(38, (b'"event_id": "c38"', b'"event_id": "c38", "event_id": "x"')),
                "duplicate_key:event_id"),
        RowKind("a null line", b"null", "malformed_record"),
        RowKind("a string line", b'"hello"', "malformed_record"),
        RowKind("an array line", b"[1, 2, 3]", "malformed_record"),
        RowKind("a truncated line", b'{"event_id": "c42", "event_time": ', "malformed_json"),
        RowKind("invalid UTF-8 bytes", _raw_event(43, (b'"green"', b'"gr\xff\xfeen"')), "malformed_json"),
        RowKind("a byte-order mark before the line", b"\xef\xbb\xbf" + json.dumps(_event(44)).encode(), ACCEPTED,
                accepted_id="c44"),
        RowKind("an id already delivered", _event(1), "duplicate_id"),
        RowKind("no customer", _event(46, customer_id=None), "missing_field:customer_id"),
        RowKind("a trailing comma", _raw_event(47, (b'"mobile"}', b'"mobile",}')), "malformed_json"),
        RowKind("single quotes", b"{'event_id': 'c48'}", "malformed_json"),
        RowKind("a field name with a lone surrogate", {**_event(49), "\udc80x": 1}, "invalid_unicode:\\udc80x"),
    ],
    "orders": [
        RowKind("a good line", _order(1), ACCEPTED),
        RowKind("a returned line (negative quantity)", _order(1, quantity=-1), ACCEPTED, accepted_id="o01"),
        RowKind("a second sale line without a line id", _order(1, quantity=2), "duplicate_id"),
        RowKind("one product on two numbered lines", _order(4, line_id="1"), ACCEPTED),
        RowKind("the second numbered line", _order(4, line_id="2", unit_price=15.0), ACCEPTED),
        RowKind("a guest checkout", _order(6, customer_id=None), ACCEPTED),
        RowKind("a zero quantity", _order(7, quantity=0), "out_of_range:quantity"),
        RowKind("a quantity of 1e20", _order(8, quantity=1e20), "bad_type:quantity"),
        RowKind("a sub-cent unit price", _order(9, unit_price=0.0125), ACCEPTED),
        RowKind("a price with seven decimals", _order(10, unit_price=0.0000001), "excess_decimals:unit_price"),
        RowKind("a negative unit price", _order(11, unit_price=-3), "out_of_range:unit_price"),
        RowKind("a price with a decimal comma", _order(12, unit_price="1,50"), "bad_type:unit_price"),
        RowKind("a ship date given as a time with an offset", _order(13, ship_date="2026-11-21T23:30:00-05:00"),
                "bad_type:ship_date"),
        RowKind("a ship date that is no date", _order(14, ship_date="2026-02-30"), "bad_type:ship_date"),
        RowKind("an order time in epoch seconds", _order(15, order_time=1793530800), ACCEPTED),
        RowKind("no warehouse", _order(16, warehouse_id=None), "missing_field:warehouse_id"),
    ],
    "catalog": [
        RowKind("a good product", _product(1), ACCEPTED),
        RowKind("a zero length", _product(2, length_mm=0), "out_of_range:length_mm"),
        RowKind("a 5.001 m length", _product(3, length_mm=5001), "out_of_range:length_mm"),
        RowKind("a tonne weight", _product(4, weight_g=1e6), "out_of_range:weight_g"),
        RowKind("fragile as yes", _product(5, fragile="yes"), ACCEPTED),
        RowKind("fragile as maybe", _product(6, fragile="maybe"), "bad_type:fragile"),
        RowKind("colours as comma-separated text", _product(7, colors="red, blue"), ACCEPTED),
        RowKind("colours as a number", _product(8, colors=7), "bad_type:colors"),
        RowKind("no category", _product(9, category=None), "missing_field:category"),
    ],
    "feedback": [
        RowKind("a good feedback event", _feedback(1), ACCEPTED),
        RowKind("a rating of 6", _feedback(2, rating=6), "out_of_range:rating"),
        RowKind("a rating of 4.5", _feedback(3, rating=4.5), "bad_type:rating"),
        RowKind("an unknown feedback event", _feedback(4, event="love"), "bad_enum:event"),
        RowKind("no design", _feedback(5, design_id=None), "missing_field:design_id"),
    ],
}
ID_COLUMN = {"clickstream": "event_id", "orders": "order_id", "catalog": "product_id", "feedback": "feedback_id"}


def _line(kind: RowKind) -> bytes:
    return kind.line if isinstance(kind.line, bytes) else json.dumps(kind.line).encode()


@pytest.fixture(scope="module")
def row_corpus(tmp_path_factory):
    """Every row kind ingested in one night: (report per source, quarantine reason per line, accepted ids)."""
    lake = LocalLake(tmp_path_factory.mktemp("corpus") / "lake")
    for source, kinds in ROWS.items():
        lake.write_bytes(f"raw/{source}/ds={DS}/corpus.jsonl", b"\n".join(_line(k) for k in kinds) + b"\n")
    settings = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=0.99)
    report = ingest_partition(settings, DS, lake).as_dict()["sources"]
    outcomes = {}
    for source, result in report.items():
        quarantined = read_parquet(lake, result["quarantine_key"]).to_pylist() if result["quarantine_key"] else []
        accepted = read_parquet(lake, result["accepted_key"]).column(ID_COLUMN[source]).to_pylist()
        outcomes[source] = ({q["line"]: q["reason"] for q in quarantined}, set(accepted))
    return report, outcomes


@pytest.mark.parametrize(
    ("source", "line_no", "kind"),
    [(source, i, kind) for source, kinds in ROWS.items() for i, kind in enumerate(kinds, start=1)],
    ids=[f"{source}: {kind.kind}" for source, kinds in ROWS.items() for kind in kinds],
)
def test_each_bad_row_kind_gets_its_outcome(row_corpus, source, line_no, kind):
    quarantined, accepted = row_corpus[1][source]
    if kind.outcome == ACCEPTED:
        assert line_no not in quarantined, quarantined.get(line_no)
        assert (kind.accepted_id or kind.line[ID_COLUMN[source]]) in accepted
    else:
        assert quarantined.get(line_no) == kind.outcome


def test_the_row_corpus_reconciles(row_corpus):
    report = row_corpus[0]
    for source, kinds in ROWS.items():
        result = report[source]
        bad = sum(k.outcome != ACCEPTED for k in kinds)
        assert (result["read"], result["quarantined"]) == (len(kinds), bad), source
        assert result["read"] == result["accepted"] + result["quarantined"] == len(kinds)
        assert sum(result["reasons"].values()) == result["quarantined"]
    # reported, with the field each matches but for case; the row keeps its own contract fields
    assert report["clickstream"]["unknown_columns"] == {"DEVICE": "device", "referrer": None}


# -- files of a raw partition -----------------------------------------------------------------------
ORDERS = f"raw/orders/ds={DS}/"


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _orders_table(n: int = 2) -> pa.Table:
    return pa.Table.from_pandas(pd.DataFrame([_order(i) for i in range(1, n + 1)]), preserve_index=False)


def _with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _symlink_out(lake, tmp_path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(json.dumps(_order(9)).encode() + b"\n")
    (lake.root / ORDERS / "linked.jsonl").symlink_to(outside)


def _dangling(lake, tmp_path) -> None:
    (lake.root / ORDERS / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")


def _backup_beside_a_missing_night(lake, tmp_path) -> None:
    lake.delete(ORDERS + "good.jsonl")
    lake.write_bytes(f"raw/orders/ds={DS}.bak/good.jsonl", json.dumps(_order(5)).encode() + b"\n")


def _only_empty(lake, tmp_path) -> None:
    lake.delete(ORDERS + "good.jsonl")
    lake.write_bytes(ORDERS + "a.jsonl", b"")


def _marker_alone(lake, tmp_path) -> None:
    lake.delete(ORDERS + "good.jsonl")
    lake.write_bytes(ORDERS + "_SUCCESS", b"")


def _zero_row_parquet(lake, tmp_path) -> None:
    lake.delete(ORDERS + "good.jsonl")
    lake.write_bytes(ORDERS + "a.parquet", _parquet_bytes(_orders_table().slice(0, 0)))


def _all_rows_bad(lake, tmp_path) -> None:
    lake.write_bytes(ORDERS + "bad.jsonl", b"not json\n" * 5)


@dataclasses.dataclass(frozen=True)
class FileKind:
    kind: str
    setup: Callable[[Any, Any], None]  # (lake, tmp_path): adds to a partition holding good.jsonl with o01
    skipped: str | None = None  # the reason the file is reported as skipped
    reasons: dict[str, int] | None = None  # the orders' quarantine reasons
    accepted: int | None = None
    error: str | None = None  # a clear InputError instead
    declared_empty: bool = False


def _put(name: str, data: bytes) -> Callable[[Any, Any], None]:
    return lambda lake, tmp_path: lake.write_bytes(ORDERS + name, data)


FILES = [
    FileKind("a file in a sub-folder", _put("retry/a.jsonl", json.dumps(_order(2)).encode()), skipped="in_subfolder",
             accepted=1),
    FileKind("a hidden file", _put(".a.jsonl.swp", json.dumps(_order(2)).encode()), skipped="hidden_file",
             accepted=1),
    FileKind("a producer's marker file", _put("_committed_123", b"{}"), skipped="marker", accepted=1),
    FileKind("a symlink out of the lake", _symlink_out, skipped="symlink", accepted=1),
    FileKind("a broken symlink", _dangling, skipped="symlink", accepted=1),
    FileKind("a gzip file that is not gzip", _put("broken.jsonl.gz", b"\x1f\x8b\x08\x00garbage"),
             error=r"cannot read .*broken\.jsonl\.gz.*replace it"),
    FileKind("a truncated gzip file", _put("cut.jsonl.gz", gzip.compress(json.dumps(_order(2)).encode() * 50)[:40]),
             error=r"cannot read .*cut\.jsonl\.gz"),
    FileKind("a .parquet that is not Parquet", _put("broken.parquet", b"PAR1 this is not parquet"),
             error=r"cannot read .*broken\.parquet"),
    FileKind("a truncated Parquet file", _put("cut.parquet", _parquet_bytes(_orders_table())[:-30]),
             error=r"cannot read .*cut\.parquet"),
    FileKind("a file in an unknown format", _put("orders.xlsx", b"PK\x03\x04"), error=r"unknown format.*orders\.xlsx"),
    FileKind("Parquet with two columns of one name",
             _put("twice.parquet", _parquet_bytes(pa.table([pa.array(["o2"]), pa.array(["o9"])],
                                                           names=["order_id", "order_id"]))),
             reasons={"duplicate_column:order_id": 1}, accepted=1),
    FileKind("Parquet uint64 above int64",
             _put("u64.parquet", _parquet_bytes(_with_column(_orders_table(3).slice(1), "quantity",
                                                             pa.array([1, 2**64 - 1], pa.uint64())))),
             reasons={"bad_type:quantity": 1}, accepted=2),
    FileKind("Parquet DECIMAL prices",
             _put("money.parquet", _parquet_bytes(_with_column(
                 _orders_table(3).slice(1), "unit_price",
                 pa.array([decimal.Decimal("19.99"), decimal.Decimal("0.0125")], pa.decimal128(12, 4))))),
             accepted=3),
    FileKind("Parquet prices typed as text",
             _put("text.parquet", _parquet_bytes(_with_column(_orders_table(3).slice(1), "unit_price",
                                                              pa.array(["19.99", "twelve"])))),
             reasons={"bad_type:unit_price": 1}, accepted=2),
    FileKind("Parquet nanosecond times with a zone",
             _put("ns.parquet", _parquet_bytes(_with_column(_orders_table(3).slice(1), "order_time", pa.array(
                 pd.to_datetime(["2026-11-01T09:00:00.123456789+01:00"] * 2).as_unit("ns"))))),
             accepted=3),
    FileKind("CRLF line endings", _put("crlf.jsonl", json.dumps(_order(2)).encode() + b"\r\n"), accepted=2),
    FileKind("blank and whitespace lines", _put("blank.jsonl", b"\n   \n\t\n"), accepted=1),
    FileKind("the night missing, its backup beside it", _backup_beside_a_missing_night,
             error=r"no orders data for ds=2026-11-01"),
    FileKind("only empty files", _only_empty, error="holds only empty files"),
    FileKind("a _SUCCESS marker alone (declared empty night)", _marker_alone, accepted=0, declared_empty=True),
    FileKind("a zero-row Parquet file (declared empty night)", _zero_row_parquet, accepted=0, declared_empty=True),
    FileKind("every row bad", _all_rows_bad, error=r"too many bad rows for ds=2026-11-01.*orders partition"),
]


@pytest.mark.parametrize("case", FILES, ids=[f.kind for f in FILES])
def test_each_partition_file_kind_gets_its_outcome(local_lake, settings_for, tmp_path, case):
    local_lake.write_bytes(f"raw/clickstream/ds={DS}/a.jsonl", json.dumps(_event(1)).encode() + b"\n")
    local_lake.write_bytes(ORDERS + "good.jsonl", json.dumps(_order(1)).encode() + b"\n")
    case.setup(local_lake, tmp_path)
    settings = settings_for(local_lake, max_bad_row_share=0.6)
    if case.error:
        with pytest.raises(InputError, match=case.error):
            ingest_partition(settings, DS, local_lake)
        if case.setup is _backup_beside_a_missing_night:
            assert local_lake.list(f"raw/orders/ds={DS}.bak/"), "the backup was touched"
        return
    orders = ingest_partition(settings, DS, local_lake).as_dict()["sources"]["orders"]
    assert orders["read"] == orders["accepted"] + orders["quarantined"]
    assert orders["accepted"] == case.accepted
    assert orders["reasons"] == (case.reasons or {})
    assert orders["declared_empty"] == case.declared_empty
    if case.skipped:
        assert [s["reason"] for s in orders["skipped"]] == [case.skipped]


# -- command line, configuration files and environment ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class CliKind:
    kind: str
    argv: list[str]
    message: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def _cli_kinds() -> list[CliKind]:
    """``{tmp}`` in arguments and messages stands for the test's own folder."""
    tmp = "{tmp}"
    lake = "file://{tmp}/lake"
    night = ["--lake", lake, "--ds", DS]
    dieline = ["dieline", "--style", "0201", "--inner", "300x200x80", "--out", f"{tmp}/d.pdf"]
    return [
        CliKind("a binary box catalog", ["right-size", *night, "--boxes", f"{tmp}/binary.yaml"],
                f"cannot read box catalog {tmp}/binary.yaml: it is not UTF-8 text"),
        CliKind("a Latin-1 box catalog", ["right-size", *night, "--boxes", f"{tmp}/latin1.yaml"],
                f"cannot read box catalog {tmp}/latin1.yaml: it is not UTF-8 text"),
        CliKind("a box catalog that is not YAML", ["right-size", *night, "--boxes", f"{tmp}/broken.yaml"],
                f"box catalog {tmp}/broken.yaml is not valid YAML"),
        CliKind("a folder as the box catalog", ["right-size", *night, "--boxes", tmp],
                f"cannot read box catalog {tmp}: Is a directory"),
        CliKind("a missing box catalog", ["right-size", *night, "--boxes", f"{tmp}/nope.yaml"],
                f"cannot read box catalog {tmp}/nope.yaml: No such file or directory"),
        CliKind("a binary materials file", [*dieline, "--materials", f"{tmp}/binary.yaml"],
                f"cannot read materials file {tmp}/binary.yaml: it is not UTF-8 text"),
        CliKind("a binary gate policy", ["gate", *night, "--policy", f"{tmp}/binary.yaml"],
                f"cannot read gate policy {tmp}/binary.yaml: it is not UTF-8 text"),
        CliKind("a gate policy walking back 100,000,000 nights", ["gate", *night, "--policy", f"{tmp}/far.yaml"],
                "fallback.lookback_days: expected a number <= 3650"),
        CliKind("a Latin-1 feedback policy", ["feedback-ingest", *night, "--policy", f"{tmp}/latin1.yaml"],
                f"cannot read feedback policy {tmp}/latin1.yaml: it is not UTF-8 text"),
        CliKind("a feedback policy with a NaN prior", ["feedback-stats", *night, "--policy", f"{tmp}/nan.yaml",
                                                       "--no-mlflow"], "prior.alpha: expected a finite number"),
        CliKind("a dieline written to a folder", [*dieline[:-1], tmp], "must end in .pdf or .svg"),
        CliKind("an unknown box style", ["dieline", "--style", "0999", "--inner", "300x200x80", "--out",
                                         f"{tmp}/d.pdf"], "unknown box style '0999'"),
        CliKind("an inner size of two numbers", ["dieline", "--style", "0201", "--inner", "300x200", "--out",
                                                 f"{tmp}/d.pdf"], "is not LxWxH in mm"),
        CliKind("a NaN inner size", ["dieline", "--style", "0201", "--inner", "nanx200x80", "--out", f"{tmp}/d.pdf"],
                "must be a finite number of mm above zero"),
        CliKind("an unknown board grade", [*dieline, "--board", "ZZ"], "unknown board grade 'ZZ'"),
        CliKind("a negative dieline margin", [*dieline, "--margin", "-5"], "argument --margin: -5 must be a finite"),
        CliKind("zero composition workers", ["designs", *night, "--workers", "0"], "argument --workers: 0 must be"),
        CliKind("a NaN tile size", ["designs", *night, "--tile-mm", "nan"], "argument --tile-mm: nan must be a finite"),
        CliKind("a negative solver time limit", ["box-assortment", *night, "--sizes", "3", "--time-limit", "-1",
                                                 "--out", f"{tmp}/o.yaml"], "argument --time-limit: -1 must be"),
        CliKind("a pull into a file", ["pull", "--lake", lake, "--ds", "latest", "--warehouse", "WH-1", "--dest",
                                       f"{tmp}/binary.yaml"], "is a file, not a folder"),
        CliKind("a pull before anything was published", ["pull", "--lake", lake, "--ds", "latest", "--warehouse",
                                                         "WH-1", "--dest", f"{tmp}/dest"], "no batch published yet"),
        CliKind("a negative pull wait", ["pull", "--lake", lake, "--ds", "latest", "--warehouse", "WH-1", "--dest",
                                         f"{tmp}/dest", "--wait", "-1"], "argument --wait: -1 must be"),
        CliKind("an impossible date", ["ingest", "--lake", lake, "--ds", "2026-02-30"], "invalid ds '2026-02-30'"),
        CliKind("a range that ends before it starts", ["ingest", "--lake", lake, "--start", "2026-11-05", "--end",
                                                       "2026-11-01"], "--end 2026-11-01 is before --start"),
        CliKind("zero days of sample data", ["sample-data", "--lake", lake, "--start", DS, "--days", "0"],
                "argument --days: 0 must be greater than zero"),
        CliKind("a bad-row share of 1.5", ["sample-data", "--lake", lake, "--start", DS, "--bad-row-share", "1.5"],
                "1.5 must lie in [0, 1)"),
        CliKind("zero training epochs", ["train", *night, "--epochs", "0"], "argument --epochs: 0 must be"),
        CliKind("an S3 lake without a bucket", ["status", "--lake", "s3:///p", "--ds", DS], "has no bucket"),
        CliKind("a NUL byte in the lake URI", ["status", "--lake", "s3://b/p\x00x", "--ds", DS],
                "holds a control character"),
        CliKind("an unsupported lake scheme", ["status", "--lake", "ftp://b/p", "--ds", DS], "is not supported"),
        CliKind("a relative lake path", ["status", "--lake", "relative/lake", "--ds", DS], "is not supported"),
        CliKind("AWS_ENDPOINT_URL=garbage", ["status", "--lake", "s3://b/p", "--ds", DS],
                "S3 endpoint 'garbage' (AWS_ENDPOINT_URL", {"AWS_ENDPOINT_URL": "garbage"}),
        CliKind("AWS_MAX_ATTEMPTS=lots", ["status", "--lake", "s3://b/p", "--ds", DS], "is not a whole number",
                {"AWS_MAX_ATTEMPTS": "lots"}),
        CliKind("AWS_RETRY_MODE=eventually", ["status", "--lake", "s3://b/p", "--ds", DS],
                "retry mode 'eventually' (AWS_RETRY_MODE)", {"AWS_RETRY_MODE": "eventually"}),
        CliKind("a negative S3 read timeout", ["status", "--lake", "s3://b/p", "--ds", DS],
                "read_timeout_s=-5.0 must be", {"PACKAGING_S3_READ_TIMEOUT": "-5"}),
        CliKind("a NaN bad-row limit", ["ingest", *night], "max_bad_row_share=nan must lie between 0 and 1",
                {"PACKAGING_MAX_BAD_ROW_SHARE": "nan"}),
        CliKind("an unknown required source", ["ingest", *night], "names unknown sources ['bogus']",
                {"PACKAGING_REQUIRED_SOURCES": "clickstream,bogus"}),
    ]


def _shipped(name: str) -> str:
    return resources.files("packaging_pipeline").joinpath("data", name).read_text(encoding="utf-8")


def _config_files(tmp) -> None:
    (tmp / "binary.yaml").write_bytes(b"\x00\x01\xff\xfe binary")
    (tmp / "latin1.yaml").write_bytes("version: 1\nname: caf\xe9\n".encode("latin-1"))
    (tmp / "broken.yaml").write_text("sizes: [\n", encoding="utf-8")
    (tmp / "far.yaml").write_text(_shipped("gate_policy.yaml").replace("lookback_days: 30", "lookback_days: 100000000"))
    policy = _shipped("feedback_policy.yaml")
    assert "alpha: 1.0" in policy
    (tmp / "nan.yaml").write_text(policy.replace("alpha: 1.0", "alpha: .nan", 1))


CLI_KINDS = _cli_kinds()


@pytest.mark.parametrize("case", CLI_KINDS, ids=[c.kind for c in CLI_KINDS])
def test_each_bad_argument_config_or_environment_gets_exit_2_and_a_message(tmp_path, monkeypatch, case):
    _config_files(tmp_path)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in case.argv]
    monkeypatch.setenv("PACKAGING_PSEUDONYM_KEY", "k" * 32)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse refuses the argument itself
            code = exc.code
    assert code == 2
    assert case.message.replace("{tmp}", str(tmp_path)) in stderr.getvalue(), stderr.getvalue()
