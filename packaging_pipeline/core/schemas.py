"""Input contracts of the four raw sources and their canonical (accepted) Parquet schemas.

The contract is data: ingest validates against it, the sample generator writes to it, and adapters
for other producers map onto it. See ARCHITECTURE.md "Input contracts".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa


class Kind(StrEnum):
    STRING = "string"
    TIMESTAMP = "timestamp"  # ISO-8601, or Unix epoch seconds (milliseconds from 1e11); stored as UTC
    DATE = "date"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING_LIST = "string_list"  # JSON list, or a comma-separated string


ARROW_TYPES = {
    Kind.STRING: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING_LIST: pa.list_(pa.string()),
}


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    not_in_future: bool = False  # timestamps later than the end of the run's day are rejected
    nonzero: bool = False
    max_decimals: int | None = None  # more decimal places than this are quarantined, never rounded
    names_key: bool = False  # the value names a lake folder (an id in a published key): keys.is_safe_part


@dataclasses.dataclass(frozen=True)
class SourceContract:
    name: str
    fields: tuple[Field, ...]
    id_columns: tuple[str, ...]
    customer_id_column: str | None = None  # replaced by ``customer_key`` on ingest
    identity: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # when ``id_columns`` alone are not it

    def identity_of(self, rows: pd.DataFrame) -> pd.DataFrame:
        """What makes each row itself (ingest keeps the first of each): text columns, one row per row."""
        if self.identity is not None:
            return self.identity(rows)
        return rows[list(self.id_columns)].astype(str)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def accepted_schema(self) -> pa.Schema:
        """Canonical schema of accepted rows: the raw customer id becomes ``customer_key``."""
        out = []
        for f in self.fields:
            if f.name == self.customer_id_column:
                out.append(pa.field("customer_key", pa.string(), nullable=not f.required))
            else:
                out.append(pa.field(f.name, ARROW_TYPES[f.kind], nullable=not f.required))
        return pa.schema(out)


EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "wishlist", "search", "purchase")
FEEDBACK_EVENTS = ("unboxed", "shared", "returned", "complaint")

CLICKSTREAM = SourceContract(
    name="clickstream",
    fields=(
        Field("event_id", Kind.STRING, required=True),
        Field("event_time", Kind.TIMESTAMP, required=True, not_in_future=True),
        Field("customer_id", Kind.STRING, required=True),
        Field("session_id", Kind.STRING, required=True),
        Field("event_type", Kind.STRING, required=True, enum=EVENT_TYPES),
        Field("product_id", Kind.STRING),
        Field("category", Kind.STRING),
        Field("price", Kind.FLOAT, minimum=0),
        Field("color", Kind.STRING),
        Field("dwell_ms", Kind.INT, minimum=0),
        Field("device", Kind.STRING),
    ),
    id_columns=("event_id",),
    customer_id_column="customer_id",
)

MONEY_DECIMALS = 6
"""Unit prices are exact to a millionth of the currency unit (micro-units); more decimals are quarantined."""

MAX_TEXT_CHARS = 65_536
"""Longest text a string field (or one item of a list field) holds; a longer value quarantines its row as
``too_large:<field>``. Ids, categories and colours are short: 64 Ki characters is a runaway producer.
Values nested deeper than the JSON parser's stack (about 1,000 levels) quarantine their line as
``malformed_json``."""


def order_line_identity(lines: pd.DataFrame) -> pd.DataFrame:
    """An order line's identity: ``(order_id, line_id)`` where the shop numbers its lines, otherwise
    ``(order_id, product_id, sale or return)``, so a sale and a return of one product are two lines.

    Ingest, customer features and right-sizing all keep the first delivery of each identity.
    """
    line_id = lines["line_id"] if "line_id" in lines else pd.Series(None, index=lines.index, dtype=object)
    numbered = line_id.notna().to_numpy()
    sign = np.where(pd.to_numeric(lines["quantity"], errors="coerce").fillna(0).to_numpy() < 0, "return", "sale")
    by_product = "product:" + lines["product_id"].astype(str) + ":" + sign
    line = np.where(numbered, "line:" + line_id.astype(str), by_product)
    return pd.DataFrame({"order_id": lines["order_id"].astype(str), "line": line}, index=lines.index)


ORDERS = SourceContract(
    name="orders",
    fields=(
        Field("order_id", Kind.STRING, required=True),
        Field("line_id", Kind.STRING),  # the shop's own line number; optional
        Field("order_time", Kind.TIMESTAMP, required=True, not_in_future=True),
        Field("customer_id", Kind.STRING),  # null = guest checkout
        Field("warehouse_id", Kind.STRING, required=True, names_key=True),  # assignments/warehouse=<id>/
        Field("ship_date", Kind.DATE, required=True),
        Field("product_id", Kind.STRING, required=True),
        Field("quantity", Kind.INT, required=True, nonzero=True),  # negative = returned line
        Field("unit_price", Kind.FLOAT, required=True, minimum=0, max_decimals=MONEY_DECIMALS),
    ),
    id_columns=("order_id", "line_id", "product_id", "quantity"),
    customer_id_column="customer_id",
    identity=order_line_identity,
)

CATALOG = SourceContract(
    name="catalog",
    fields=(
        Field("product_id", Kind.STRING, required=True),
        Field("category", Kind.STRING, required=True),
        Field("length_mm", Kind.FLOAT, required=True, minimum=0, exclusive_minimum=True, maximum=5000),
        Field("width_mm", Kind.FLOAT, required=True, minimum=0, exclusive_minimum=True, maximum=5000),
        Field("height_mm", Kind.FLOAT, required=True, minimum=0, exclusive_minimum=True, maximum=5000),
        Field("weight_g", Kind.FLOAT, required=True, minimum=0, exclusive_minimum=True, maximum=100_000),
        Field("fragile", Kind.BOOL),
        Field("colors", Kind.STRING_LIST),
    ),
    id_columns=("product_id",),
)

FEEDBACK = SourceContract(
    name="feedback",
    fields=(
        Field("feedback_id", Kind.STRING, required=True),
        Field("event_time", Kind.TIMESTAMP, required=True, not_in_future=True),
        Field("order_id", Kind.STRING, required=True),
        Field("design_id", Kind.STRING, required=True),
        Field("rating", Kind.INT, minimum=1, maximum=5),
        Field("event", Kind.STRING, required=True, enum=FEEDBACK_EVENTS),
    ),
    id_columns=("feedback_id",),
)

CONTRACTS: dict[str, SourceContract] = {c.name: c for c in (CLICKSTREAM, ORDERS, CATALOG, FEEDBACK)}
