"""Accepted-format clickstream and order Parquet, generated directly (no raw files, no ingest).

One day at a time with vectorised numpy/pyarrow, so memory is bounded by the largest day. The
files match ``CLICKSTREAM.accepted_schema`` / ``ORDERS.accepted_schema`` exactly and sit where
ingest would put them (``accepted/<source>/ds=D/part-00000.parquet``), with an ingest report per day.

Shape of a day: sessions of ``1 + Poisson(7)`` events, customers drawn with a skew (a few heavy
customers, a long tail), 2% of sessions arriving a day late (started the evening before, some crossing
midnight), a few dirty vocabulary values (``" Mobile "``, unknown colours, null devices). Orders come
from the sessions' purchase events (one order per buying session, one line per purchase event), plus
guest lines (no customer_key), returns (negative quantity) and 3% late orders whose order_time is 1-5
days before their partition. Prices are whole cents.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from packaging_pipeline.core import keys
from packaging_pipeline.core.schemas import CLICKSTREAM, EVENT_TYPES, ORDERS
from packaging_pipeline.core.vocabulary import CATEGORIES, DEVICES, PALETTE

DAY_US = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
EVENT_P = {
    "view": 0.58,
    "add_to_cart": 0.10,
    "remove_from_cart": 0.03,
    "wishlist": 0.04,
    "search": 0.17,
    "purchase": 0.08,
}
assert tuple(EVENT_P) == EVENT_TYPES
N_PRODUCTS = 5_000
ROW_GROUP = 131_072


def customer_keys(n: int, seed: int) -> pa.Array:
    """32-hex-char pseudonyms like ingest's HMAC keys (random, stable for a seed)."""
    rng = np.random.default_rng(seed + 1_000_003)
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    return pa.array([f"{a:016x}{b:016x}" for a, b in raw.tolist()], pa.string())


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers, pa.int64()), pa.string()), "")


def _lookup(vocab: list[str | None], index: np.ndarray) -> pa.Array:
    return pa.array(vocab, pa.string()).take(pa.array(index, pa.int32()))


def day_sizes(events: int, days: int, day_events: int | None) -> list[int]:
    """Events per day: the last day has ``day_events`` (default events/days), the others share the rest."""
    last = day_events or events // days
    rest = events - last
    base, extra = divmod(rest, days - 1) if days > 1 else (0, 0)
    return [base + (1 if i < extra else 0) for i in range(days - 1)] + [last]


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP)


def generate_day(
    rng: np.random.Generator, day: dt.date, n_events: int, ckeys: pa.Array, products: dict[str, np.ndarray]
) -> tuple[pa.Table, pa.Table]:
    n_customers = len(ckeys)
    day0 = (day - EPOCH).days * DAY_US
    tag = day.strftime("%Y%m%d")

    # Sessions: lengths 1 + Poisson(7), cut so the day has exactly n_events.
    n_sess = max(1, int(n_events / 8 * 1.1) + 16)
    lengths = 1 + rng.poisson(7, n_sess)
    ends = np.cumsum(lengths)
    n_sess = int(np.searchsorted(ends, n_events) + 1)
    lengths = lengths[:n_sess]
    lengths[-1] -= int(ends[n_sess - 1] - n_events)
    s_cust = np.minimum((rng.random(n_sess) ** 1.6 * n_customers).astype(np.int64), n_customers - 1)
    dev_p = np.array([0.30, 0.45, 0.08, 0.162, 0.004, 0.004])  # 4 devices, " Mobile ", null
    s_dev = rng.choice(6, n_sess, p=dev_p / dev_p.sum())
    s_gap_mean = rng.lognormal(np.log(40e6), 0.5, n_sess)  # mean think time per session, us
    late = rng.random(n_sess) < 0.02
    start = rng.integers(0, DAY_US - 3_600_000_000, n_sess)
    start = np.where(late, -rng.integers(600_000_000, 7_200_000_000, n_sess), start)  # evening before

    e_sess = np.repeat(np.arange(n_sess), lengths)
    n = len(e_sess)
    gaps = (rng.exponential(1.0, n) * s_gap_mean[e_sess]).astype(np.int64) + 1
    first = np.cumsum(lengths) - lengths
    csum = np.cumsum(gaps)
    rel = csum - np.repeat(csum[first], lengths)
    t = day0 + start[e_sess] + rel
    t = np.minimum(t, day0 + DAY_US - 1)  # nothing after the end of the partition's day

    etype = rng.choice(len(EVENT_TYPES), n, p=np.array(list(EVENT_P.values())))
    prod = np.minimum((rng.random(n) ** 2 * N_PRODUCTS).astype(np.int64), N_PRODUCTS - 1)
    no_prod = (etype == EVENT_TYPES.index("search")) & (rng.random(n) < 0.7)
    cat = np.where(no_prod, -1, products["category"][prod])
    col = np.where(no_prod, -1, products["color"][prod])
    odd_col = rng.random(n) < 0.01
    col = np.where(odd_col & ~no_prod, len(PALETTE), col)  # "teal": not in the palette
    price_c = products["price_cents"][prod]
    dwell = np.where(
        (etype == EVENT_TYPES.index("view")) | (etype == EVENT_TYPES.index("search")),
        rng.lognormal(np.log(20_000), 0.8, n).astype(np.int64),
        -1,
    )

    order = np.argsort(t, kind="stable")
    cat_v = [*CATEGORIES, None]
    col_v = [*PALETTE, "teal", None]
    dev_v = [*DEVICES, " Mobile ", None]
    events = pa.table(
        {
            "event_id": _ids(f"E{tag}-", order),
            "event_time": pa.array(t[order], pa.timestamp("us", tz="UTC")),
            "customer_key": ckeys.take(pa.array(s_cust[e_sess][order])),
            "session_id": _ids(f"S{tag}-", e_sess[order]),
            "event_type": _lookup(list(EVENT_TYPES), etype[order]),
            "product_id": pc.if_else(pa.array(no_prod[order]), pa.scalar(None, pa.string()), _ids("P", prod[order])),
            "category": _lookup(cat_v, np.where(cat < 0, len(cat_v) - 1, cat)[order]),
            "price": pa.array(np.where(no_prod, np.nan, price_c / 100.0)[order], pa.float64(), mask=no_prod[order]),
            "color": _lookup(col_v, np.where(col < 0, len(col_v) - 1, col)[order]),
            "dwell_ms": pa.array(dwell[order], pa.int64(), mask=dwell[order] < 0),
            "device": _lookup(dev_v, s_dev[e_sess][order]),
        },
        schema=CLICKSTREAM.accepted_schema,
    )

    # Orders: one per session with purchase events, one line per purchase event, at the last one's time.
    is_p = (etype == EVENT_TYPES.index("purchase")) & ~no_prod
    p_sess = e_sess[is_p]
    order_us = np.zeros(n_sess, dtype=np.int64)
    np.maximum.at(order_us, p_sess, t[is_p])
    n_lines = len(p_sess)
    # 3% of orders arrive 1-5 days late: their order_time lies before this partition's day.
    late_order = rng.random(n_sess) < 0.03
    order_us = np.where(late_order, order_us - rng.integers(1, 6, n_sess) * DAY_US, order_us)
    qty = np.where(rng.random(n_lines) < 0.15, rng.integers(2, 4, n_lines), 1)
    m_time, m_cust, m_prod, m_qty = order_us[p_sess], s_cust[p_sess], prod[is_p], qty
    m_oid = p_sess
    # Guest lines (no customer) and returns (negative quantity) of earlier orders.
    n_guest = n_lines // 20
    n_ret = n_lines // 30
    g_time = day0 + rng.integers(0, DAY_US, n_guest + n_ret)
    g_prod = rng.integers(0, N_PRODUCTS, n_guest + n_ret)
    g_cust = np.where(np.arange(n_guest + n_ret) < n_guest, -1, rng.integers(0, n_customers, n_guest + n_ret))
    g_qty = np.where(np.arange(n_guest + n_ret) < n_guest, 1, -rng.integers(1, 3, n_guest + n_ret))
    g_oid = n_sess + np.arange(n_guest + n_ret)
    o_time = np.concatenate([m_time, g_time])
    o_cust = np.concatenate([m_cust, g_cust])
    o_prod = np.concatenate([m_prod, g_prod])
    o_qty = np.concatenate([m_qty, g_qty]).astype(np.int64)
    o_oid = np.concatenate([m_oid, g_oid])
    oo = np.argsort(o_time, kind="stable")
    guest = o_cust[oo] < 0
    ship = (o_time[oo] // DAY_US) + rng.integers(1, 3, len(oo))
    lines = pa.table(
        {
            "order_id": _ids(f"O{tag}-", o_oid[oo]),
            "line_id": pa.nulls(len(oo), pa.string()),
            "order_time": pa.array(o_time[oo], pa.timestamp("us", tz="UTC")),
            "customer_key": pc.if_else(
                pa.array(guest), pa.scalar(None, pa.string()), ckeys.take(pa.array(np.maximum(o_cust[oo], 0)))
            ),
            "warehouse_id": _ids("WH", rng.integers(1, 5, len(oo))),
            "ship_date": pa.array(ship.astype(np.int32), pa.date32()),
            "product_id": _ids("P", o_prod[oo]),
            "quantity": pa.array(o_qty[oo], pa.int64()),
            "unit_price": pa.array(products["price_cents"][o_prod[oo]] / 100.0, pa.float64()),
        },
        schema=ORDERS.accepted_schema,
    )
    return events, lines


def generate(
    root: Path, end_ds: str, days: int, events: int, day_events: int | None, customers: int, seed: int
) -> dict:
    """Write ``days`` accepted days ending on ``end_ds``; returns counts and timings."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    products = {
        "category": rng.integers(0, len(CATEGORIES), N_PRODUCTS),
        "color": rng.choice(
            len(PALETTE), N_PRODUCTS, p=np.linspace(2, 1, len(PALETTE)) / np.linspace(2, 1, len(PALETTE)).sum()
        ),
        "price_cents": rng.integers(199, 25_000, N_PRODUCTS),
    }
    ckeys = customer_keys(customers, seed)
    end = dt.date.fromisoformat(end_ds)
    sizes = day_sizes(events, days, day_events)
    n_events = n_lines = 0
    click_bytes = order_bytes = 0
    for i, size in enumerate(sizes):
        day = end - dt.timedelta(days=days - 1 - i)
        ds = day.isoformat()
        ev, ol = generate_day(np.random.default_rng([seed, i]), day, size, ckeys, products)
        cpath = root / keys.accepted_prefix("clickstream", ds) / "part-00000.parquet"
        opath = root / keys.accepted_prefix("orders", ds) / "part-00000.parquet"
        _write(ev, cpath)
        _write(ol, opath)
        report = root / keys.ingest_report_key(ds)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({"ds": ds, "generated_by": "bench/generate.py"}) + "\n")
        n_events += ev.num_rows
        n_lines += ol.num_rows
        click_bytes += cpath.stat().st_size
        order_bytes += opath.stat().st_size
    return {
        "events": n_events,
        "order_lines": n_lines,
        "days": days,
        "last_day_events": sizes[-1],
        "other_day_events": sizes[0] if days > 1 else 0,
        "customers": customers,
        "clickstream_bytes": click_bytes,
        "orders_bytes": order_bytes,
        "seconds": round(time.perf_counter() - t0, 2),
    }
