"""Property tests of ingest: whatever JSON a producer writes into whichever fields, no exception escapes,
every row is either accepted or quarantined with a reason, and the counts reconcile."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import read_parquet
from packaging_pipeline.core.schemas import CONTRACTS
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.ingest.raw import ingest_source
from tests.conftest import TEST_PSEUDONYM_KEY

DS = "2026-11-01"
# CI replays the same 60 examples per source, so a landing never depends on a lucky draw; a wide search is
# HYPOTHESIS_EXAMPLES=1500 .venv/bin/python -m pytest tests/integration/test_ingest_properties.py (random).
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
REPLAY = "HYPOTHESIS_EXAMPLES" not in os.environ
EXAMPLES_PER_SOURCE = settings(max_examples=EXAMPLES, deadline=None, derandomize=REPLAY,
                               suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
GOOD = {
    "clickstream": {"event_id": "e", "event_time": "2026-11-01T10:00:00Z", "customer_id": "C", "session_id": "s",
                    "event_type": "view", "product_id": "P1", "category": "home", "price": 12.5, "color": "green",
                    "dwell_ms": 1500, "device": "mobile"},
    "orders": {"order_id": "o", "line_id": "1", "order_time": "2026-11-01T11:00:00Z", "customer_id": "C",
               "warehouse_id": "WH-BER", "ship_date": "2026-11-02", "product_id": "P1", "quantity": 1,
               "unit_price": 20.0},
    "catalog": {"product_id": "P1", "category": "home", "length_mm": 200, "width_mm": 100, "height_mm": 50,
                "weight_g": 300, "fragile": False, "colors": ["green"]},
    "feedback": {"feedback_id": "f", "event_time": "2026-11-01T12:00:00Z", "order_id": "o", "design_id": "d",
                 "rating": 4, "event": "unboxed"},
}  # fmt: skip
assert all(set(GOOD[name]) == set(contract.field_names) for name, contract in CONTRACTS.items())

ANY_CHARACTER = st.characters(codec=None, exclude_categories=())  # lone surrogates included
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(ANY_CHARACTER, max_size=20)
    | st.sampled_from(["", " ", "2026-11-01", "2026-11-01T10:00:00+05:00", "1793527200", "12.50", "VIEW", "1e400"])
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(ANY_CHARACTER, max_size=5), inner, max_size=3), max_leaves=6)


@st.composite
def lines(draw, source: str) -> bytes:
    """One JSON Lines line: the good record with random fields replaced, dropped or added, or raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    record = dict(GOOD[source])
    for name in draw(st.lists(st.sampled_from(sorted(record)), unique=True, max_size=4)):
        if draw(st.booleans()):
            record[name] = draw(json_values)
        else:
            del record[name]
    if draw(st.booleans()):
        record[draw(st.text(ANY_CHARACTER, max_size=6))] = draw(json_values)
    return json.dumps(record).encode()  # ensure_ascii: lone surrogates arrive escaped, as browsers send them


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_any_json_in_any_field_is_accepted_or_quarantined_and_the_counts_reconcile(source):
    with tempfile.TemporaryDirectory(prefix="ingest-prop-") as tmp:
        lake = LocalLake(Path(tmp) / "lake")
        night = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=1.0)

        @EXAMPLES_PER_SOURCE
        @given(st.lists(lines(source), min_size=1, max_size=6))
        def property_(rows: list[bytes]) -> None:
            lake.write_bytes(f"raw/{source}/ds={DS}/a.jsonl", b"\n".join(rows) + b"\n")
            result = ingest_source(lake, night, source, DS)  # nothing may escape but a clear error
            assert result.read == result.accepted + result.quarantined
            assert sum(result.reasons.values()) == result.quarantined
            assert result.read == sum(1 for row in rows if row.strip())
            if result.quarantine_key:
                quarantined = read_parquet(lake, result.quarantine_key)
                assert quarantined.num_rows == result.quarantined and all(quarantined.column("reason").to_pylist())
            if result.accepted_key:
                accepted = read_parquet(lake, result.accepted_key)
                assert accepted.num_rows == result.accepted
                assert accepted.schema.equals(CONTRACTS[source].accepted_schema, check_metadata=False)

        property_()


csv_texts = st.text(ANY_CHARACTER.filter(lambda c: not "\udc80" <= c <= "\udcff"), max_size=12) | st.sampled_from(
    ["", '"', '""', ",", "\n", "\r\n", "a,b", '"quoted"', "2026-11-01T10:00:00Z", "view", "12.5", "\ufeff"])


@st.composite
def csv_files(draw, source: str) -> bytes:
    """A CSV file: the contract's header (some columns dropped or extra), then records with random fields,
    well quoted by the csv module or broken by hand, in UTF-8 or with bytes that are not."""
    import csv
    import io

    names = [n for n in GOOD[source] if draw(st.integers(0, 4))] + draw(st.lists(st.sampled_from(["x", "Y"]),
                                                                                 max_size=2))  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(names or ["x"])
    for _ in range(draw(st.integers(0, 6))):
        good = [str(GOOD[source].get(n, "")) for n in names]
        row = [draw(csv_texts) if draw(st.integers(0, 2)) == 0 else v for v in good]
        writer.writerow(row[: draw(st.integers(max(0, len(row) - 1), len(row) + 1))] or [""])
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        data += draw(st.binary(max_size=30))  # a torn tail: garbage bytes, perhaps mid-quote
    return data


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_any_csv_file_is_read_or_refused_clearly_and_the_counts_reconcile(source):
    from packaging_pipeline.core.errors import InputError

    with tempfile.TemporaryDirectory(prefix="ingest-prop-csv-") as tmp:
        lake = LocalLake(Path(tmp) / "lake")
        night = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY, max_bad_row_share=1.0)

        @EXAMPLES_PER_SOURCE
        @given(csv_files(source))
        def property_(data: bytes) -> None:
            lake.write_bytes(f"raw/{source}/ds={DS}/a.csv", data)
            try:
                result = ingest_source(lake, night, source, DS)
            except InputError as exc:  # a file without a readable header: refused, naming it
                assert "a.csv" in str(exc)
                return
            assert result.read == result.accepted + result.quarantined
            assert sum(result.reasons.values()) == result.quarantined

        property_()
