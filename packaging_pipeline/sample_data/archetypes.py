"""The simulated shop's constants and behavioural archetypes: the segments the sample data plants.

Each archetype sets category and device preferences, sessions, events per session, purchase
propensity and basket size; the RNG stream tags keep each purpose on its own stream.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np

from packaging_pipeline.core.schemas import (
    EVENT_TYPES,
)
from packaging_pipeline.core.vocabulary import CATEGORIES, DEVICES

WAREHOUSES = ("WH-BER", "WH-LYS", "WH-MAD")

WAREHOUSE_SHARES = (0.45, 0.30, 0.25)

BROWSE_TYPES = ("view", "search", "add_to_cart", "remove_from_cart", "wishlist")

GUEST_ORDER_SHARE = 0.05  # share of orders placed by guests (customer_id null)

RETURN_LINE_SHARE = 0.02  # share of order lines that are returns (negative quantity)

RETURN_WINDOW_DAYS = 30

FEEDBACK_LAG_DAYS = (3, 5)  # feedback arrives this many days after the batch was published

FEEDBACK_BASE_RATES = {"unboxed": 0.30, "shared": 0.05, "returned": 0.02, "complaint": 0.01}

CLICKSTREAM_GZIP_LEVEL = 5

DAY_MS = 86_400_000

_EPOCH = dt.date(1970, 1, 1)

_MAX_BROWSE_EVENTS = 60

_MAX_ITEMS = 8


# Relative session starts per UTC hour: quiet nights, a lunch bump and an evening peak.
_DIURNAL = np.array(
    [0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.7, 1.9,
     2.1, 2.0, 1.8, 1.7, 1.7, 1.9, 2.3, 2.7, 2.9, 2.6, 1.8, 1.0]
)  # fmt: skip

_DIURNAL_CDF = np.cumsum(_DIURNAL / _DIURNAL.sum())

_WAREHOUSE_CDF = np.cumsum(WAREHOUSE_SHARES) / sum(WAREHOUSE_SHARES)


# RNG stream tags: each purpose draws from its own stream, so e.g. turning bad rows on does not
# change the clean rows, and a day's data does not depend on how many days follow it.
_S_CUSTOMERS, _S_CATALOG, _S_CATALOG2, _S_DAY, _S_BAD, _S_FEEDBACK, _S_CATALOG_BAD = range(1, 8)


@dataclasses.dataclass(frozen=True)
class Archetype:
    """One planted behavioural segment: what its customers browse, buy and how."""

    name: str
    share: float  # of the customer base
    categories: dict[str, float]  # browse/purchase preference; unlisted categories get a small floor
    colors: tuple[str, ...]  # preferred colours (from PALETTE)
    price_tilt: float  # >0 prefers the pricier products of a category, <0 the cheaper ones
    sessions_per_day: float
    events_per_session: float
    purchase_propensity: float  # chance that a session ends in an order
    extra_items: float  # mean items per order beyond the first
    multi_quantity: float  # chance that a line has quantity 2-3
    devices: dict[str, float]
    dwell_ms: float  # median dwell on a viewed product
    browse_mix: dict[str, float]  # event types of browsing events (BROWSE_TYPES)
    rating_mean: float  # feedback ratings
    feedback_bias: dict[str, float]  # multipliers on FEEDBACK_BASE_RATES


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "eco_minimalist_home", 0.18,
        {"home": 0.45, "grocery": 0.15, "books": 0.15, "beauty": 0.10, "apparel": 0.10},
        ("beige", "white", "olive", "green", "brown"),
        0.3, 0.25, 9, 0.10, 0.3, 0.05,
        {"desktop": 0.5, "mobile": 0.3, "tablet": 0.1, "app": 0.1}, 28_000,
        {"view": 0.74, "search": 0.10, "add_to_cart": 0.08, "remove_from_cart": 0.02, "wishlist": 0.06},
        3.4, {"unboxed": 1.0, "shared": 0.8, "returned": 0.8, "complaint": 2.0},
    ),
    Archetype(
        "fashion_trend_mobile", 0.22,
        {"apparel": 0.45, "shoes": 0.30, "beauty": 0.15},
        ("pink", "red", "black", "yellow", "purple"),
        0.0, 0.70, 12, 0.06, 0.5, 0.05,
        {"desktop": 0.07, "mobile": 0.75, "tablet": 0.03, "app": 0.15}, 6_000,
        {"view": 0.70, "search": 0.06, "add_to_cart": 0.10, "remove_from_cart": 0.04, "wishlist": 0.10},
        4.1, {"unboxed": 1.2, "shared": 2.5, "returned": 2.0, "complaint": 0.8},
    ),
    Archetype(
        "tech_gadget_desktop", 0.15,
        {"electronics": 0.60, "books": 0.10, "sports": 0.10, "home": 0.10},
        ("black", "grey", "navy", "white"),
        1.0, 0.35, 10, 0.08, 0.2, 0.03,
        {"desktop": 0.70, "mobile": 0.20, "tablet": 0.05, "app": 0.05}, 40_000,
        {"view": 0.72, "search": 0.16, "add_to_cart": 0.07, "remove_from_cart": 0.02, "wishlist": 0.03},
        3.6, {"unboxed": 1.1, "shared": 0.8, "returned": 1.0, "complaint": 1.5},
    ),
    Archetype(
        "family_bulk_tablet", 0.17,
        {"toys": 0.35, "grocery": 0.35, "home": 0.15, "apparel": 0.10},
        ("red", "blue", "yellow", "orange", "green"),
        -0.5, 0.30, 9, 0.22, 1.2, 0.35,
        {"desktop": 0.15, "mobile": 0.20, "tablet": 0.60, "app": 0.05}, 15_000,
        {"view": 0.66, "search": 0.08, "add_to_cart": 0.18, "remove_from_cart": 0.05, "wishlist": 0.03},
        3.9, {"unboxed": 0.9, "shared": 1.0, "returned": 0.7, "complaint": 1.0},
    ),
    Archetype(
        "outdoor_sports", 0.13,
        {"sports": 0.50, "shoes": 0.20, "apparel": 0.15, "electronics": 0.05},
        ("olive", "green", "orange", "navy", "brown"),
        0.5, 0.25, 7, 0.10, 0.3, 0.08,
        {"desktop": 0.40, "mobile": 0.40, "tablet": 0.10, "app": 0.10}, 20_000,
        {"view": 0.75, "search": 0.10, "add_to_cart": 0.08, "remove_from_cart": 0.02, "wishlist": 0.05},
        3.7, {"unboxed": 1.0, "shared": 1.5, "returned": 0.9, "complaint": 1.0},
    ),
    Archetype(
        "beauty_app", 0.15,
        {"beauty": 0.60, "apparel": 0.15, "home": 0.10},
        ("pink", "gold", "purple", "white"),
        0.2, 0.50, 6, 0.15, 0.6, 0.10,
        {"desktop": 0.05, "mobile": 0.20, "tablet": 0.05, "app": 0.70}, 10_000,
        {"view": 0.70, "search": 0.05, "add_to_cart": 0.14, "remove_from_cart": 0.03, "wishlist": 0.08},
        4.3, {"unboxed": 1.3, "shared": 2.0, "returned": 1.0, "complaint": 0.6},
    ),
)  # fmt: skip


def _normalised(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=np.float64)
    return arr / arr.sum()


def _cdf_rows(rows: Sequence[Sequence[float]]) -> np.ndarray:
    cdf = np.cumsum(np.array([_normalised(r) for r in rows]), axis=1)
    cdf[:, -1] = 1.0
    return cdf


_N_ARCH = len(ARCHETYPES)

_ARCH_SHARE_CDF = _cdf_rows([[a.share for a in ARCHETYPES]])[0]

_CATEGORY_P = np.array([_normalised(a.categories.get(c, 0.0) + 0.01 for c in CATEGORIES) for a in ARCHETYPES])

_CATEGORY_CDF = _cdf_rows(_CATEGORY_P)

_DEVICE_CDF = _cdf_rows([[a.devices.get(d, 0.0) for d in DEVICES] for a in ARCHETYPES])

_BROWSE_CDF = _cdf_rows([[a.browse_mix[t] for t in BROWSE_TYPES] for a in ARCHETYPES])

_SESSIONS = np.array([a.sessions_per_day for a in ARCHETYPES])

_EVENTS = np.array([a.events_per_session for a in ARCHETYPES])

_PROPENSITY = np.array([a.purchase_propensity for a in ARCHETYPES])

_EXTRA_ITEMS = np.array([a.extra_items for a in ARCHETYPES])

_MULTI_QTY = np.array([a.multi_quantity for a in ARCHETYPES])

_DWELL = np.array([a.dwell_ms for a in ARCHETYPES])

_BROWSE_TO_EVENT = np.array([EVENT_TYPES.index(t) for t in BROWSE_TYPES])

_EV_VIEW, _EV_CART, _EV_SEARCH, _EV_PURCHASE = (
    EVENT_TYPES.index(t) for t in ("view", "add_to_cart", "search", "purchase")
)
