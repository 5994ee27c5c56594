"""Deliberately bad rows, per source and kind, each with the ingest reason it should produce."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence

import numpy as np

from packaging_pipeline.core.formats import dumps
from packaging_pipeline.core.schemas import (
    CATALOG,
    CLICKSTREAM,
    FEEDBACK,
    ORDERS,
    SourceContract,
)
from packaging_pipeline.sample_data.archetypes import DAY_MS

# Kinds of deliberately bad rows, per source, and the ingest reason each one should produce.
BAD_ROW_KINDS: dict[str, tuple[str, ...]] = {
    "clickstream": (
        "malformed_json", "missing_field", "bad_enum", "bad_type",
        "negative_price", "future_timestamp", "duplicate_id",
    ),
    "orders": ("missing_field", "negative_price", "future_timestamp", "duplicate_id", "zero_quantity"),
    "catalog": ("malformed_json", "missing_field", "bad_type", "out_of_range"),
    "feedback": ("malformed_json", "missing_field", "bad_enum", "out_of_range"),
}  # fmt: skip

INGEST_REASON = {
    "malformed_json": "malformed_json",
    "missing_field": "missing_field",
    "bad_enum": "bad_enum",
    "bad_type": "bad_type",
    "negative_price": "out_of_range",
    "future_timestamp": "future_timestamp",
    "duplicate_id": "duplicate_id",
    "zero_quantity": "out_of_range",
    "out_of_range": "out_of_range",
}
"""The reason prefix ingest gives each generated bad-row kind (``out_of_range:unit_price`` etc.)."""


def _choose_bad(rng: np.random.Generator, n: int, share: float, kinds: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Which rows to spoil and how: about ``share`` of ``n``, always leaving clean rows to duplicate."""
    if share <= 0 or n < 2:
        return np.zeros(0, dtype=np.int64), []
    k = min(int(rng.binomial(n, share)), n // 2)
    rows = np.sort(rng.choice(n, size=k, replace=False))
    return rows, [kinds[int(i)] for i in rng.integers(len(kinds), size=k)]


def _clean_rows(n: int, bad: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[bad] = False
    return np.flatnonzero(mask)


def _spoil_record(rng: np.random.Generator, source: str, kind: str, line: str) -> str:
    """A bad JSON line of ``kind`` derived from a clean one (duplicates are handled by the caller)."""
    if kind == "malformed_json":
        return line[: max(1, len(line) // 2)]
    rec = json.loads(line)
    contract = _CONTRACT_BY_NAME[source]
    if kind == "missing_field":
        required = [f.name for f in contract.fields if f.required]
        del rec[required[int(rng.integers(len(required)))]]
    elif kind == "bad_enum":
        field = "event_type" if source == "clickstream" else "event"
        rec[field] = "teleport" if source == "clickstream" else "teleported"
    elif kind == "bad_type":
        if source == "clickstream":
            rec["price"] = "abc"
        else:
            rec["weight_g"] = "heavy"
    elif kind == "negative_price":
        rec["price"] = -abs(rec.get("price") or 9.99)
    elif kind == "future_timestamp":
        ts = dt.datetime.fromisoformat(rec["event_time"].replace("Z", "+00:00"))
        rec["event_time"] = (ts + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    elif kind == "out_of_range":
        if source == "catalog":
            rec["height_mm"] = -abs(rec["height_mm"])
        else:
            rec["rating"] = 9
    else:  # pragma: no cover - a programming error
        raise ValueError(f"unknown bad-row kind {kind!r} for {source}")
    return dumps(rec, separators=(",", ":"))


_CONTRACT_BY_NAME: dict[str, SourceContract] = {
    "clickstream": CLICKSTREAM,
    "orders": ORDERS,
    "catalog": CATALOG,
    "feedback": FEEDBACK,
}


def _spoil_jsonl(
    rng: np.random.Generator, source: str, lines: list[str], share: float, counts: Counter[str]
) -> list[str]:
    """Replace about ``share`` of the lines with bad ones; counts kinds into ``counts``."""
    rows, kinds = _choose_bad(rng, len(lines), share, BAD_ROW_KINDS[source])
    if not len(rows):
        return lines
    clean = _clean_rows(len(lines), rows)
    out = list(lines)
    for row, kind in zip(rows.tolist(), kinds, strict=True):
        if kind == "duplicate_id":
            out[row] = lines[int(clean[rng.integers(len(clean))])]
        else:
            out[row] = _spoil_record(rng, source, kind, lines[row])
        counts[kind] += 1
    return out


def _spoil_orders(rng: np.random.Generator, lines: dict[str, np.ndarray], share: float, counts: Counter[str]) -> dict:
    """Spoil order lines in place of clean ones; returns per-column null masks (missing fields)."""
    n = len(lines["order_id"])
    masks = {k: np.zeros(n, dtype=bool) for k in lines}
    rows, kinds = _choose_bad(rng, n, share, BAD_ROW_KINDS["orders"])
    clean = _clean_rows(n, rows)
    required = ["order_id", "order_ms", "warehouse_id", "ship_day", "product_id", "quantity", "unit_price"]
    for row, kind in zip(rows.tolist(), kinds, strict=True):
        if kind == "missing_field":
            masks[required[int(rng.integers(len(required)))]][row] = True
        elif kind == "negative_price":
            lines["unit_price"][row] = -abs(lines["unit_price"][row]) - 0.01
        elif kind == "future_timestamp":
            lines["order_ms"][row] += 3 * DAY_MS
        elif kind == "duplicate_id":
            src = int(clean[rng.integers(len(clean))])
            for column in lines.values():
                column[row] = column[src]
        elif kind == "zero_quantity":
            lines["quantity"][row] = 0
        counts[kind] += 1
    return masks
