"""Parquet, JSON and JSON Lines (optionally gzip) over any :class:`~packaging_pipeline.core.storage.Lake`."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.core.storage import Lake

PARQUET_COMPRESSION = "zstd"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON with dates, decimals and numpy values handled the same way everywhere."""
    return json.dumps(obj, default=_json_default, **kwargs)


def spec_bytes(spec: Any) -> bytes:
    """A ``spec.json`` as staged and published: indented, keys sorted, so reruns are byte-identical."""
    return dumps(spec, indent=2, sort_keys=True).encode("utf-8")


def write_json(lake: Lake, key: str, obj: Any) -> None:
    lake.write_text(key, dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(lake: Lake, key: str) -> Any:
    return json.loads(lake.read_bytes(key))


def write_parquet(lake: Lake, key: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=PARQUET_COMPRESSION)
    lake.write_bytes(key, buf.getvalue())


def read_parquet(lake: Lake, key: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(io.BytesIO(lake.read_bytes(key)), columns=columns)


def _with_added_columns(table: pa.Table, schema: pa.Schema) -> pa.Table:
    for field in schema:
        if field.name not in table.column_names and field.nullable:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table


def read_parquet_prefix(lake: Lake, prefix: str, schema: pa.Schema | None = None) -> pa.Table | None:
    """Concatenate every Parquet object under ``prefix``; None when there is none.

    With ``schema``, a nullable column the contract gained after a file was written reads as null.
    """
    tables = [read_parquet(lake, o.key) for o in lake.list(prefix) if o.key.endswith(".parquet")]
    if not tables:
        return None
    if schema is not None:
        tables = [_with_added_columns(t, schema).select(schema.names).cast(schema) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def write_jsonl(lake: Lake, key: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON Lines, gzip'd when the key ends in ``.gz``; streams through a temp file."""
    count = 0
    with lake.writer(key) as path:
        opener = gzip.open if key.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as fh:
            for row in rows:
                fh.write(dumps(row, separators=(",", ":")))
                fh.write("\n")
                count += 1
    return count


def iter_lines(lake: Lake, key: str) -> Iterator[bytes]:
    """Yield the raw lines of a (possibly gzip'd) text object without loading it whole."""
    with lake.open_read(key) as raw:
        yield from (gzip.GzipFile(fileobj=raw) if key.endswith(".gz") else raw)
