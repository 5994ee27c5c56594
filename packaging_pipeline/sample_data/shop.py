"""One (day, customer chunk) of the simulated shop: sessions, events and orders, vectorised with numpy."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from packaging_pipeline.core.schemas import (
    EVENT_TYPES,
)
from packaging_pipeline.core.vocabulary import CATEGORIES, DEVICES, PALETTE
from packaging_pipeline.sample_data.archetypes import (
    _ARCH_SHARE_CDF,
    _BROWSE_CDF,
    _BROWSE_TO_EVENT,
    _CATEGORY_CDF,
    _DEVICE_CDF,
    _DIURNAL_CDF,
    _DWELL,
    _EPOCH,
    _EV_CART,
    _EV_PURCHASE,
    _EV_SEARCH,
    _EV_VIEW,
    _EVENTS,
    _EXTRA_ITEMS,
    _MAX_BROWSE_EVENTS,
    _MAX_ITEMS,
    _MULTI_QTY,
    _N_ARCH,
    _PROPENSITY,
    _S_CUSTOMERS,
    _SESSIONS,
    _WAREHOUSE_CDF,
    DAY_MS,
    GUEST_ORDER_SHARE,
    RETURN_LINE_SHARE,
    RETURN_WINDOW_DAYS,
    WAREHOUSES,
)
from packaging_pipeline.sample_data.catalog import _P, _Sampler

del _P


def _sample_rows(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a CDF matrix."""
    u = rng.random(len(cdf))
    return np.minimum((u[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)


def _diurnal_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    hour = np.searchsorted(_DIURNAL_CDF, rng.random(n), side="right").clip(0, 23)
    return hour * 3_600_000 + rng.integers(0, 3_600_000, n)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    if not len(numbers):
        return np.empty(0, dtype=object)
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.int64).astype("U"), width)).astype(object)


def _iso_ms(ms: np.ndarray) -> np.ndarray:
    return np.strings.add(np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms"), "Z").astype(object)


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    keep = np.zeros(len(keys), dtype=bool)
    keep[np.unique(keys, return_index=True)[1]] = True
    return keep


def _day_ms(day: dt.date) -> int:
    return (day - _EPOCH).days * DAY_MS


def _ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


_LOOKUP_CATEGORY = np.array((*CATEGORIES, None), dtype=object)  # index -1 -> None

_LOOKUP_COLOR = np.array((*PALETTE, None), dtype=object)

_LOOKUP_EVENT = np.array(EVENT_TYPES, dtype=object)

_LOOKUP_DEVICE = np.array(DEVICES, dtype=object)

_LOOKUP_WAREHOUSE = np.array(WAREHOUSES, dtype=object)


@dataclasses.dataclass
class _Customers:
    """Per-customer state that lives for the whole run (a few bytes per customer)."""

    archetype: np.ndarray  # int8
    activity: np.ndarray  # float32, visit-rate multiplier
    device: np.ndarray  # int8, primary device
    warehouse: np.ndarray  # int8


_CUSTOMER_BLOCK = 100_000


def _customers(seed: int, n: int) -> _Customers:
    """Draw customer state in fixed blocks: bounded temporaries, independent of the chunk size."""
    parts = []
    for block, lo in enumerate(range(0, n, _CUSTOMER_BLOCK)):
        size = min(_CUSTOMER_BLOCK, n - lo)
        rng = np.random.default_rng([seed, _S_CUSTOMERS, block])
        archetype = np.searchsorted(_ARCH_SHARE_CDF, rng.random(size), side="right").clip(0, _N_ARCH - 1)
        activity = rng.gamma(2.0, 0.5, size).astype(np.float32)
        device = _sample_rows(rng, _DEVICE_CDF[archetype])
        warehouse = np.searchsorted(_WAREHOUSE_CDF, rng.random(size), side="right").clip(0, len(WAREHOUSES) - 1)
        parts.append((archetype.astype(np.int8), activity, device.astype(np.int8), warehouse.astype(np.int8)))
    return _Customers(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def _customer_ids(numbers: np.ndarray) -> np.ndarray:
    return _ids("C", numbers, 6)


_POOL_COLUMNS = ("order_id", "customer_id", "warehouse_id", "product_id", "quantity", "unit_price", "day")


def _empty_pool() -> dict[str, np.ndarray]:
    return {
        "order_id": np.empty(0, dtype=object),
        "customer_id": np.empty(0, dtype=object),
        "warehouse_id": np.empty(0, dtype=object),
        "product_id": np.empty(0, dtype=object),
        "quantity": np.empty(0, dtype=np.int64),
        "unit_price": np.empty(0, dtype=np.float64),
        "day": np.empty(0, dtype=np.int64),
    }


def _simulate(
    rng: np.random.Generator,
    sampler: _Sampler,
    cust: _Customers,
    lo: int,
    hi: int,
    day: dt.date,
    day_index: int,
    chunk: int,
    pool: dict[str, np.ndarray],
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Clickstream events and order lines of customers ``[lo, hi)`` on ``day``; returns the new return pool."""
    day0 = _day_ms(day)
    tag = f"{_ymd(day)}-{chunk:05d}-"
    n_prod = len(sampler.product_id)
    arch_c = cust.archetype[lo:hi].astype(np.int64)
    cust_ids = _customer_ids(np.arange(lo, hi))

    # Sessions.
    n_sess = rng.poisson(_SESSIONS[arch_c] * cust.activity[lo:hi])
    n_s = int(n_sess.sum())
    s_cust = np.repeat(np.arange(hi - lo), n_sess)
    s_arch = arch_c[s_cust]
    other_device = _sample_rows(rng, _DEVICE_CDF[s_arch])
    s_dev = np.where(rng.random(n_s) < 0.8, cust.device[lo:hi][s_cust], other_device)
    s_focus = _sample_rows(rng, _CATEGORY_CDF[s_arch])
    n_browse = np.minimum(1 + rng.poisson(_EVENTS[s_arch] - 1), _MAX_BROWSE_EVENTS)
    buys = rng.random(n_s) < _PROPENSITY[s_arch]
    n_items = np.where(buys, np.minimum(1 + rng.poisson(_EXTRA_ITEMS[s_arch]), _MAX_ITEMS), 0)

    # Purchased items: distinct products per session, each viewed, carted and bought.
    it_sess = np.repeat(np.arange(n_s), n_items)
    it_arch = s_arch[it_sess]
    it_cat = np.where(rng.random(len(it_sess)) < 0.6, s_focus[it_sess], _sample_rows(rng, _CATEGORY_CDF[it_arch]))
    it_prod = sampler.products(rng, it_arch, it_cat)
    keep = _first_occurrences(it_sess * n_prod + it_prod)
    it_sess, it_arch, it_prod = it_sess[keep], it_arch[keep], it_prod[keep]
    n_it = len(it_sess)
    n_items = np.bincount(it_sess, minlength=n_s)
    it_qty = np.where(rng.random(n_it) < _MULTI_QTY[it_arch], rng.integers(2, 4, n_it), 1)
    it_rank = np.arange(n_it) - np.repeat(np.cumsum(n_items) - n_items, n_items)

    # Browsing events.
    b_sess = np.repeat(np.arange(n_s), n_browse)
    b_arch = s_arch[b_sess]
    n_b = len(b_sess)
    b_type = _BROWSE_TO_EVENT[_sample_rows(rng, _BROWSE_CDF[b_arch])]
    b_cat = np.where(rng.random(n_b) < 0.7, s_focus[b_sess], _sample_rows(rng, _CATEGORY_CDF[b_arch]))
    b_prod = sampler.products(rng, b_arch, b_cat)
    b_prod = np.where((b_type == _EV_SEARCH) & (rng.random(n_b) < 0.7), -1, b_prod)

    # All events of the chunk, ordered by session then position in the session.
    u1, u2 = rng.random(n_it), rng.random(n_it)
    ev_sess = np.concatenate([b_sess, it_sess, it_sess, it_sess])
    ev_type = np.concatenate([b_type, np.full(n_it, _EV_VIEW), np.full(n_it, _EV_CART), np.full(n_it, _EV_PURCHASE)])
    ev_prod = np.concatenate([b_prod, it_prod, it_prod, it_prod])
    ev_cat = np.concatenate([b_cat, it_cat, it_cat, it_cat])
    ev_key = np.concatenate([rng.random(n_b), u1, u1 + (1.0 - u1) * u2, 2.0 + it_rank])
    order = np.lexsort((ev_key, ev_sess))
    ev_sess, ev_type, ev_prod, ev_cat = ev_sess[order], ev_type[order], ev_prod[order], ev_cat[order]
    n_e = len(ev_sess)
    ev_arch = s_arch[ev_sess]
    has_prod = ev_prod >= 0
    ev_cat = np.where(has_prod, sampler.category[np.maximum(ev_prod, 0)], ev_cat)

    # Timing: dwell on views/searches, short actions otherwise, think time between events.
    dwell = np.minimum(rng.lognormal(np.log(_DWELL[ev_arch]), 0.7), 300_000).astype(np.int64) + 300
    dwell = np.where(ev_type == _EV_SEARCH, dwell // 2, dwell)
    is_browse_view = (ev_type == _EV_VIEW) | (ev_type == _EV_SEARCH)
    action = np.minimum(rng.lognormal(np.log(1_500), 0.5, n_e), 30_000).astype(np.int64)
    think = np.minimum(rng.lognormal(np.log(2_500), 0.6, n_e), 60_000).astype(np.int64)
    gap = np.where(is_browse_view, dwell, action) + think
    gap = np.where(ev_type == _EV_PURCHASE, 200 + action // 10, gap).astype(np.int64) + 1
    ev_per_sess = n_browse + 3 * n_items
    first = np.cumsum(ev_per_sess) - ev_per_sess
    excl = np.cumsum(gap) - gap
    rel = excl - np.repeat(excl[first], ev_per_sess)
    duration = rel[first + ev_per_sess - 1] if n_s else np.zeros(0, dtype=np.int64)
    start = np.minimum(_diurnal_ms(rng, n_s), DAY_MS - 1 - duration)
    ev_ms = day0 + start[ev_sess] + rel

    # Colours and prices of the products shown.
    color = np.full(n_e, -1, dtype=np.int64)
    color[has_prod] = sampler.pick_colors(rng, ev_arch[has_prod], ev_prod[has_prod])
    price = np.where(has_prod, sampler.price[np.maximum(ev_prod, 0)], np.nan)

    # Order by time; ids are numbered in that order.
    by_time = np.argsort(ev_ms, kind="stable")
    pid_lookup = np.append(sampler.product_id, None)
    ev_dwell = pd.array(np.where(is_browse_view, dwell, 0)[by_time], dtype="Int64")
    ev_dwell[~is_browse_view[by_time]] = pd.NA
    columns = {
        "event_id": _ids("E" + tag, np.arange(n_e), 7),
        "event_time": _iso_ms(ev_ms[by_time]),
        "customer_id": cust_ids[s_cust[ev_sess[by_time]]],
        "session_id": _ids("S" + tag, ev_sess[by_time], 6),
        "event_type": _LOOKUP_EVENT[ev_type[by_time]],
        "product_id": pid_lookup[ev_prod[by_time]],
        "category": _LOOKUP_CATEGORY[ev_cat[by_time]],
        "price": price[by_time],
        "color": _LOOKUP_COLOR[color[by_time]],
        "dwell_ms": ev_dwell,
        "device": _LOOKUP_DEVICE[s_dev[ev_sess[by_time]]],
    }
    # Object dtype on purpose: pandas would otherwise convert the strings to Arrow and back for JSON.
    events = pd.DataFrame(
        {
            k: pd.Series(v, dtype=object) if isinstance(v, np.ndarray) and v.dtype == object else v
            for k, v in columns.items()
        }
    )

    # Member orders: one per purchasing session, at its last purchase event.
    order_ms = np.zeros(n_s, dtype=np.int64)
    is_purchase = ev_type == _EV_PURCHASE
    np.maximum.at(order_ms, ev_sess[is_purchase], ev_ms[is_purchase])
    buying = np.flatnonzero(n_items > 0)
    ship_lag = rng.integers(1, 3, n_s)

    # Guest orders: no customer, no clickstream.
    n_guest = int(rng.binomial(len(buying), GUEST_ORDER_SHARE / (1 - GUEST_ORDER_SHARE))) if len(buying) else 0
    g_arch = np.searchsorted(_ARCH_SHARE_CDF, rng.random(n_guest), side="right").clip(0, _N_ARCH - 1)
    g_ms = day0 + _diurnal_ms(rng, n_guest)
    g_wh = np.searchsorted(_WAREHOUSE_CDF, rng.random(n_guest), side="right").clip(0, len(WAREHOUSES) - 1)
    g_lag = rng.integers(1, 3, n_guest)
    g_lines = 1 + rng.poisson(0.3, n_guest)
    gl_order = np.repeat(np.arange(n_guest), g_lines)
    gl_prod = sampler.products(rng, g_arch[gl_order], _sample_rows(rng, _CATEGORY_CDF[g_arch[gl_order]]))
    keep = _first_occurrences(gl_order * n_prod + gl_prod)
    gl_order, gl_prod = gl_order[keep], gl_prod[keep]
    gl_qty = np.where(rng.random(len(gl_order)) < 0.08, rng.integers(2, 4, len(gl_order)), 1)

    # Number orders (members then guests) by time.
    all_ms = np.concatenate([order_ms[buying], g_ms])
    numbering = np.empty(len(all_ms), dtype=np.int64)
    numbering[np.argsort(all_ms, kind="stable")] = np.arange(len(all_ms))
    sess_order_no = np.full(n_s, -1, dtype=np.int64)
    sess_order_no[buying] = numbering[: len(buying)]
    guest_order_no = numbering[len(buying) :]

    it_cust = lo + s_cust[it_sess]
    member = {
        "order_id": _ids("O" + tag, sess_order_no[it_sess], 6),
        "order_ms": order_ms[it_sess],
        "customer_id": cust_ids[s_cust[it_sess]],
        "warehouse_id": _LOOKUP_WAREHOUSE[cust.warehouse[it_cust]],
        "ship_day": (day - _EPOCH).days + ship_lag[it_sess],
        "product_id": sampler.product_id[it_prod],
        "quantity": it_qty.astype(np.int64),
        "unit_price": sampler.price[it_prod],
    }
    guests = {
        "order_id": _ids("O" + tag, guest_order_no[gl_order], 6),
        "order_ms": g_ms[gl_order],
        "customer_id": np.full(len(gl_order), None, dtype=object),
        "warehouse_id": _LOOKUP_WAREHOUSE[g_wh[gl_order]],
        "ship_day": (day - _EPOCH).days + g_lag[gl_order],
        "product_id": sampler.product_id[gl_prod],
        "quantity": gl_qty.astype(np.int64),
        "unit_price": sampler.price[gl_prod],
    }

    # Returns: earlier purchased lines of these customers come back with a negative quantity.
    n_lines = n_it + len(gl_order)
    eligible = np.flatnonzero(pool["day"] >= day_index - RETURN_WINDOW_DAYS)
    n_ret = min(int(rng.binomial(n_lines, RETURN_LINE_SHARE / (1 - RETURN_LINE_SHARE))), len(eligible))
    picked = np.sort(rng.choice(eligible, size=n_ret, replace=False)) if n_ret else np.zeros(0, dtype=np.int64)
    returns = {
        "order_id": pool["order_id"][picked],
        "order_ms": day0 + _diurnal_ms(rng, n_ret),
        "customer_id": pool["customer_id"][picked],
        "warehouse_id": pool["warehouse_id"][picked],
        "ship_day": (day - _EPOCH).days + rng.integers(1, 3, n_ret),
        "product_id": pool["product_id"][picked],
        "quantity": -pool["quantity"][picked],
        "unit_price": pool["unit_price"][picked],
    }
    lines = {k: np.concatenate([member[k], guests[k], returns[k]]) for k in member}
    by_time = np.argsort(lines["order_ms"], kind="stable")
    lines = {k: v[by_time] for k, v in lines.items()}

    # The pool keeps this chunk's recent, not yet returned member lines.
    still = np.ones(len(pool["day"]), dtype=bool)
    still[picked] = False
    still &= pool["day"] > day_index - RETURN_WINDOW_DAYS
    new_pool = {
        k: np.concatenate([pool[k][still], member[k] if k != "day" else np.full(n_it, day_index)])
        for k in _POOL_COLUMNS
    }
    return events, lines, new_pool
