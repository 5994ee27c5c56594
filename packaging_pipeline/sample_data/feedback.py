"""Simulated customer feedback on the designs of complete published batches."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from packaging_pipeline.contract import complete_batch, iter_assignments
from packaging_pipeline.core.keys import (
    raw_prefix,
)
from packaging_pipeline.core.schemas import (
    FEEDBACK_EVENTS,
)
from packaging_pipeline.core.storage import Lake
from packaging_pipeline.sample_data.archetypes import (
    _S_FEEDBACK,
    ARCHETYPES,
    DAY_MS,
    FEEDBACK_BASE_RATES,
    FEEDBACK_LAG_DAYS,
)
from packaging_pipeline.sample_data.shop import _Customers, _day_ms, _iso_ms, _ymd

_ORDER_ID = re.compile(r"^O(\d{8})-\d{5}-\d+$")

_CUSTOMER_ID = re.compile(r"^C(\d+)$")


def _published_assignments(lake: Lake, ds: dt.date) -> dict[str, str]:
    """order_id -> design_id of one complete published batch (``_SUCCESS`` present), else empty."""
    out: dict[str, str] = {}
    for _, row in iter_assignments(lake, complete_batch(lake, ds.isoformat())):
        order_id, design_id = (row.get("order_id") or "").strip(), (row.get("design_id") or "").strip()
        if order_id and design_id:
            out.setdefault(order_id, design_id)
    return out


def _order_customers(lake: Lake, order_ids: Iterable[str]) -> dict[str, str]:
    """customer_id of generated orders, read back from the raw orders partition of each order's day."""
    wanted: dict[str, set[str]] = {}
    for order_id in order_ids:
        m = _ORDER_ID.match(order_id)
        if m:
            day = dt.datetime.strptime(m.group(1), "%Y%m%d").date().isoformat()
            wanted.setdefault(day, set()).add(order_id)
    out: dict[str, str] = {}
    for ds, ids in sorted(wanted.items()):
        for obj in lake.list(raw_prefix("orders", ds)):
            if not obj.key.endswith(".parquet"):
                continue
            table = pq.read_table(io.BytesIO(lake.read_bytes(obj.key)), columns=["order_id", "customer_id"])
            for order_id, customer_id in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
                if order_id in ids and customer_id is not None:
                    out.setdefault(order_id, customer_id)
    return out


def _feedback_rows(
    lake: Lake, seed: int, cust: _Customers, start: dt.date, days: int
) -> dict[dt.date, list[dict[str, Any]]]:
    """Feedback events per feedback day, for orders of published batches this generator produced."""
    end = start + dt.timedelta(days=days - 1)
    lo_lag, hi_lag = FEEDBACK_LAG_DAYS
    out: dict[dt.date, list[dict[str, Any]]] = {}
    published = start - dt.timedelta(days=hi_lag)
    while published <= end - dt.timedelta(days=lo_lag):
        assignments = _published_assignments(lake, published)
        customers = _order_customers(lake, assignments) if assignments else {}
        orders, archs = [], []
        for order_id in sorted(customers):
            m = _CUSTOMER_ID.match(customers[order_id])
            if m and int(m.group(1)) < len(cust.archetype):
                orders.append(order_id)
                archs.append(int(cust.archetype[int(m.group(1))]))
        rng = np.random.default_rng([seed, _S_FEEDBACK, published.toordinal()])
        arch = np.asarray(archs, dtype=np.int64)
        for event in FEEDBACK_EVENTS:
            bias = np.array([a.feedback_bias[event] for a in ARCHETYPES])[arch]
            hit = rng.random(len(arch)) < FEEDBACK_BASE_RATES[event] * bias
            lag = rng.integers(lo_lag, hi_lag + 1, len(arch))
            ms = rng.integers(0, DAY_MS, len(arch))
            rated = rng.random(len(arch)) < {"unboxed": 0.6, "shared": 0.5, "returned": 0.5, "complaint": 0.7}[event]
            shift = {"unboxed": 0.0, "shared": 0.8, "returned": -1.5, "complaint": -2.5}[event]
            means = np.array([a.rating_mean for a in ARCHETYPES])[arch] + shift
            rating = np.clip(np.rint(rng.normal(means, 0.8)), 1, 5).astype(np.int64)
            for i in np.flatnonzero(hit):
                day = published + dt.timedelta(days=int(lag[i]))
                if start <= day <= end:
                    out.setdefault(day, []).append(
                        {
                            "event_time_ms": _day_ms(day) + int(ms[i]),
                            "order_id": orders[i],
                            "design_id": assignments[orders[i]],
                            "rating": int(rating[i]) if rated[i] else None,
                            "event": event,
                        }
                    )
        published += dt.timedelta(days=1)
    for day, rows in out.items():
        rows.sort(key=lambda r: (r["event_time_ms"], r["order_id"], r["event"]))
        for n, row in enumerate(rows):
            ms = row.pop("event_time_ms")
            row_time = str(_iso_ms(np.array([ms]))[0])
            out[day][n] = {"feedback_id": f"F{_ymd(day)}-{n:06d}", "event_time": row_time, **row}
    return out
