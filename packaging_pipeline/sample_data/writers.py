"""Encoding the simulated rows as producer files: Parquet orders, gzip'd JSON Lines events and catalog."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.core.formats import PARQUET_COMPRESSION, dumps
from packaging_pipeline.core.schemas import (
    ARROW_TYPES,
    ORDERS,
)
from packaging_pipeline.sample_data.bad_rows import BAD_ROW_KINDS, _spoil_record
from packaging_pipeline.sample_data.catalog import _CATALOG_FIELDS

ORDERS_RAW_SCHEMA = pa.schema([pa.field(f.name, ARROW_TYPES[f.kind]) for f in ORDERS.fields if f.name != "line_id"])
"""The generated shop does not number its order lines (``line_id`` is optional in the contract)."""


def _orders_table(lines: dict[str, np.ndarray], masks: dict[str, np.ndarray] | None = None) -> pa.Table:
    masks = masks or {k: np.zeros(len(v), dtype=bool) for k, v in lines.items()}
    customer_null = np.array([v is None for v in lines["customer_id"]], dtype=bool)
    columns = {
        "order_id": pa.array(lines["order_id"], pa.string(), mask=masks["order_id"]),
        "order_time": pa.array(lines["order_ms"] * 1000, pa.timestamp("us", tz="UTC"), mask=masks["order_ms"]),
        "customer_id": pa.array(lines["customer_id"], pa.string(), mask=masks["customer_id"] | customer_null),
        "warehouse_id": pa.array(lines["warehouse_id"], pa.string(), mask=masks["warehouse_id"]),
        "ship_date": pa.array(lines["ship_day"].astype(np.int32), pa.date32(), mask=masks["ship_day"]),
        "product_id": pa.array(lines["product_id"], pa.string(), mask=masks["product_id"]),
        "quantity": pa.array(lines["quantity"].astype(np.int64), pa.int64(), mask=masks["quantity"]),
        "unit_price": pa.array(lines["unit_price"].astype(np.float64), pa.float64(), mask=masks["unit_price"]),
    }
    return pa.table(columns, schema=ORDERS_RAW_SCHEMA)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=PARQUET_COMPRESSION)
    return buf.getvalue()


def _jsonl_text(frame: pd.DataFrame) -> str:
    """JSON Lines of a frame of generated events.

    pandas' own ``lines=True`` splits its JSON array in Python; splitting at ``},{`` is equivalent
    and several times faster here because no generated value (ids, vocabulary words, ISO times,
    numbers) can contain that sequence.
    """
    if frame.empty:
        return ""
    text = frame.to_json(orient="records")
    return text[1:-1].replace("},{", "}\n{") + "\n"


def _catalog_lines(products: list[dict[str, Any]]) -> list[str]:
    return [dumps({k: p[k] for k in _CATALOG_FIELDS}, separators=(",", ":")) for p in products]


def _catalog_with_bad_rows(
    rng: np.random.Generator, products: list[dict[str, Any]], share: float, counts: Counter[str]
) -> list[str]:
    """Catalog lines plus a few inserted bad rows (never replacing a real product)."""
    lines = _catalog_lines(products)
    if share <= 0:
        return lines
    n_bad = int(rng.binomial(len(products), share))
    kinds = BAD_ROW_KINDS["catalog"]
    for i in range(n_bad):
        template = dict(products[int(rng.integers(len(products)))])
        template["product_id"] = f"PX{i + 1:04d}"
        kind = kinds[int(rng.integers(len(kinds)))]
        bad = _spoil_record(rng, "catalog", kind, _catalog_lines([template])[0])
        lines.insert(int(rng.integers(len(lines) + 1)), bad)
        counts[kind] += 1
    return lines


def _encode_lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
