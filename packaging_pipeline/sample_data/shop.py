"""Deterministic sample data for the four raw sources, with planted customer segments.

Why: tests, demos and load runs need input that looks like a real shop (box-relevant product
dimensions, sessions, carts, orders, guest checkouts, returns), that exercises both ingest formats
(gzip'd JSON Lines and Parquet) and, on request, every kind of bad row, and whose customer
segments are known (``GROUND_TRUTH_KEY``) so segmentation quality can be measured.

Everything derives from the seed (``numpy.random.default_rng([seed, stream, day, chunk])``), never
from the clock, so the same arguments give byte-identical files. Data is produced per
(customer chunk, day) with vectorised numpy, one part file per chunk and day, so memory is bounded
by the chunk size; only small per-customer state arrays (archetype, warehouse, device, activity)
live for the whole run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.contract import iter_assignments
from packaging_pipeline.core.formats import PARQUET_COMPRESSION, dumps
from packaging_pipeline.core.keys import (
    GROUND_TRUTH_KEY,
    RAW_SOURCES,
    raw_prefix,
)
from packaging_pipeline.core.schemas import (
    ARROW_TYPES,
    CATALOG,
    CLICKSTREAM,
    EVENT_TYPES,
    FEEDBACK,
    FEEDBACK_EVENTS,
    ORDERS,
    SourceContract,
)
from packaging_pipeline.core.storage import Lake
from packaging_pipeline.core.vocabulary import CATEGORIES, DEVICES, PALETTE

# --------------------------------------------------------------------------------------------------
# Vocabulary

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


# --------------------------------------------------------------------------------------------------
# Behavioural archetypes (the planted segments)


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


# --------------------------------------------------------------------------------------------------
# Catalog: real-looking products with box-relevant dimensions


@dataclasses.dataclass(frozen=True)
class _Prototype:
    name: str
    dims_mm: tuple[float, float, float]  # length, width, height of the product as packed
    weight_g: float
    price: float
    fragile: float  # probability that a product of this kind is fragile


@dataclasses.dataclass(frozen=True)
class _CategorySpec:
    name: str
    products: int
    colors: tuple[str, ...]
    prototypes: tuple[_Prototype, ...]


_P = _Prototype
CATEGORY_SPECS: tuple[_CategorySpec, ...] = (
    _CategorySpec("apparel", 110, PALETTE, (
        _P("t-shirt (folded)", (300, 250, 20), 200, 19, 0.0),
        _P("jeans (folded)", (350, 300, 40), 650, 59, 0.0),
        _P("hoodie (folded)", (350, 300, 60), 600, 49, 0.0),
        _P("dress (folded)", (320, 260, 30), 350, 69, 0.0),
        _P("socks 3-pack", (200, 120, 30), 150, 12, 0.0),
        _P("winter jacket", (400, 320, 80), 1100, 129, 0.0),
    )),
    _CategorySpec("shoes", 60, ("black", "white", "brown", "navy", "red", "grey", "beige", "pink", "olive"), (
        _P("sneakers (box)", (330, 210, 120), 900, 89, 0.0),
        _P("leather boots (box)", (360, 260, 140), 1500, 149, 0.0),
        _P("sandals (box)", (300, 190, 90), 500, 39, 0.0),
        _P("running shoes (box)", (330, 220, 120), 850, 119, 0.0),
    )),
    _CategorySpec("electronics", 80, ("black", "white", "grey", "navy", "blue", "gold", "red"), (
        _P("smartphone", (160, 80, 10), 200, 599, 1.0),
        _P("over-ear headphones", (200, 180, 90), 300, 149, 0.8),
        _P("laptop", (360, 250, 20), 1600, 1099, 1.0),
        _P("usb-c charger", (100, 60, 30), 120, 25, 0.2),
        _P("smartwatch", (50, 45, 12), 50, 249, 1.0),
        _P("bluetooth speaker", (180, 80, 80), 600, 79, 0.7),
        _P("tablet", (250, 175, 8), 480, 449, 1.0),
        _P("mirrorless camera", (130, 95, 80), 650, 699, 1.0),
    )),
    _CategorySpec("home", 90, ("white", "beige", "grey", "green", "brown", "olive", "blue", "yellow", "black"), (
        _P("ceramic mug", (120, 90, 100), 350, 14, 1.0),
        _P("scented candle (glass)", (100, 100, 110), 450, 24, 0.7),
        _P("glass vase", (300, 150, 150), 900, 39, 1.0),
        _P("bedsheet set", (380, 300, 80), 1800, 79, 0.0),
        _P("cushion", (450, 450, 150), 600, 29, 0.0),
        _P("desk lamp", (450, 200, 200), 1400, 59, 0.5),
        _P("kitchen knife set", (380, 150, 60), 1100, 89, 0.0),
    )),
    _CategorySpec("beauty", 70, ("pink", "red", "gold", "purple", "white", "black", "beige"), (
        _P("perfume (glass bottle)", (100, 60, 140), 350, 79, 1.0),
        _P("face cream jar", (70, 70, 60), 180, 29, 0.5),
        _P("lipstick", (85, 25, 25), 30, 22, 0.0),
        _P("shampoo bottle", (220, 80, 60), 450, 9, 0.0),
        _P("eyeshadow palette", (190, 110, 20), 200, 39, 0.3),
        _P("nail polish", (40, 40, 90), 70, 8, 0.8),
    )),
    _CategorySpec("toys", 60, ("red", "blue", "yellow", "green", "orange", "pink", "purple"), (
        _P("building blocks set", (380, 260, 70), 900, 49, 0.0),
        _P("plush toy", (300, 200, 150), 250, 24, 0.0),
        _P("board game", (400, 270, 70), 1200, 34, 0.0),
        _P("toy car", (200, 100, 80), 300, 19, 0.1),
        _P("jigsaw puzzle 1000 pcs", (350, 250, 60), 800, 17, 0.0),
        _P("doll", (330, 130, 60), 400, 29, 0.1),
    )),
    _CategorySpec("grocery", 60, ("brown", "green", "red", "yellow", "orange", "white", "beige"), (
        _P("coffee beans 1 kg", (250, 150, 80), 1050, 18, 0.0),
        _P("olive oil 1 l (glass)", (300, 80, 80), 1400, 14, 1.0),
        _P("tea box", (150, 80, 80), 150, 8, 0.0),
        _P("pasta 500 g", (270, 110, 60), 520, 3, 0.0),
        _P("cereal box", (300, 200, 70), 550, 5, 0.0),
        _P("chocolate bars 4-pack", (200, 90, 20), 300, 6, 0.0),
    )),
    _CategorySpec("sports", 60, ("black", "navy", "blue", "green", "olive", "orange", "red", "grey"), (
        _P("yoga mat (rolled)", (620, 150, 150), 1200, 39, 0.0),
        _P("dumbbells 2x5 kg", (300, 200, 120), 10200, 49, 0.0),
        _P("sports bottle", (250, 75, 75), 180, 19, 0.0),
        _P("2-person tent", (550, 180, 180), 2600, 179, 0.0),
        _P("hiking backpack 30 l", (500, 300, 150), 900, 89, 0.0),
        _P("tennis racket", (690, 260, 40), 320, 129, 0.2),
    )),
    _CategorySpec("books", 40, ("white", "black", "blue", "red", "green", "yellow"), (
        _P("paperback", (200, 130, 25), 300, 12, 0.0),
        _P("hardcover", (240, 160, 35), 700, 28, 0.0),
        _P("cookbook", (280, 220, 30), 1100, 35, 0.0),
        _P("picture book", (280, 250, 10), 400, 15, 0.0),
    )),
)  # fmt: skip
del _P
_CATEGORY_INDEX = {c: i for i, c in enumerate(CATEGORIES)}
_COLOR_INDEX = {c: i for i, c in enumerate(PALETTE)}
_CATALOG_FIELDS = (*CATALOG.field_names, "name", "price")  # name and price are extra, informative fields
_NEW_PRODUCTS_IN_SECOND_SNAPSHOT = 24


def _price(rng: np.random.Generator, base: float) -> float:
    """A shop-like price: around ``base``, ending in .99."""
    return max(0.99, float(round(base * rng.lognormal(0.0, 0.2))) - 0.01)


def _make_product(rng: np.random.Generator, number: int, spec: _CategorySpec) -> dict[str, Any]:
    proto = spec.prototypes[int(rng.integers(len(spec.prototypes)))]
    length, width, height = (round(float(d) * rng.uniform(0.9, 1.1), 1) for d in proto.dims_mm)
    n_colors = min(len(spec.colors), 1 + int(rng.binomial(3, 0.4)))
    colors = [str(c) for c in rng.choice(spec.colors, size=n_colors, replace=False)]
    return {
        "product_id": f"P{number:05d}",
        "category": spec.name,
        "length_mm": length,
        "width_mm": width,
        "height_mm": height,
        "weight_g": round(proto.weight_g * rng.uniform(0.85, 1.15), 1),
        "fragile": bool(rng.random() < proto.fragile),
        "colors": colors,
        "name": proto.name,
        "price": _price(rng, proto.price),
        "_popularity": float(rng.lognormal(0.0, 1.0)),  # internal: how often it is browsed
    }


def _first_catalog(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, _S_CATALOG])
    products: list[dict[str, Any]] = []
    for spec in CATEGORY_SPECS:
        for _ in range(spec.products):
            products.append(_make_product(rng, len(products) + 1, spec))
    return products


def _second_catalog(seed: int, first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mid-range snapshot: a few re-priced products, a few re-packed ones, some new ones."""
    rng = np.random.default_rng([seed, _S_CATALOG2])
    products = [dict(p, colors=list(p["colors"])) for p in first]
    for i in rng.choice(len(products), size=max(1, len(products) // 20), replace=False):
        products[i]["price"] = _price(rng, products[i]["price"] * rng.choice([0.8, 0.9, 1.1, 1.2]))
    for i in rng.choice(len(products), size=max(1, len(products) // 50), replace=False):
        factor = rng.uniform(0.9, 1.1)
        for dim in ("length_mm", "width_mm", "height_mm"):
            products[i][dim] = round(products[i][dim] * factor, 1)
    shares = _normalised(s.products for s in CATEGORY_SPECS)
    for _ in range(_NEW_PRODUCTS_IN_SECOND_SNAPSHOT):
        spec = CATEGORY_SPECS[int(rng.choice(len(CATEGORY_SPECS), p=shares))]
        products.append(_make_product(rng, len(products) + 1, spec))
    return products


class _Sampler:
    """Vectorised product and colour choice for a catalog snapshot, per archetype.

    Products are ordered by category; ``gcdf[a]`` holds ``category index + within-category CDF``, so
    one ``searchsorted(gcdf[a], category + u)`` picks a product of the wanted category.
    """

    def __init__(self, products: list[dict[str, Any]]):
        order = sorted(range(len(products)), key=lambda i: (_CATEGORY_INDEX[products[i]["category"]], i))
        prods = [products[i] for i in order]
        n = len(prods)
        self.product_id = np.array([p["product_id"] for p in prods], dtype=object)
        self.category = np.array([_CATEGORY_INDEX[p["category"]] for p in prods], dtype=np.int64)
        self.price = np.array([p["price"] for p in prods], dtype=np.float64)
        self.colors = np.full((n, 4), -1, dtype=np.int64)
        for i, p in enumerate(prods):
            self.colors[i, : len(p["colors"])] = [_COLOR_INDEX[c] for c in p["colors"]]
        popularity = np.array([p["_popularity"] for p in prods])
        median = np.zeros(n)
        for c in range(len(CATEGORIES)):
            in_c = self.category == c
            median[in_c] = np.median(self.price[in_c])
        self.gcdf = np.empty((_N_ARCH, n))
        self.color_cdf = np.empty((_N_ARCH, n, 4))
        has_color = self.colors >= 0
        for a, arch in enumerate(ARCHETYPES):
            preferred = np.isin(self.colors, [_COLOR_INDEX[c] for c in arch.colors]) & has_color
            weight = popularity * np.where(preferred.any(axis=1), 3.0, 1.0) * (self.price / median) ** arch.price_tilt
            for c in range(len(CATEGORIES)):
                idx = np.flatnonzero(self.category == c)
                cum = np.cumsum(weight[idx])
                cum /= cum[-1]
                cum[-1] = 1.0
                self.gcdf[a, idx] = c + cum
            cw = np.where(preferred, 5.0, 1.0) * has_color
            cdf = np.cumsum(cw, axis=1) / cw.sum(axis=1, keepdims=True)
            cdf[~has_color] = 1.0
            self.color_cdf[a] = cdf

    def products(self, rng: np.random.Generator, arch: np.ndarray, category: np.ndarray) -> np.ndarray:
        target = category + np.minimum(rng.random(len(arch)), 1.0 - 1e-9)
        out = np.empty(len(arch), dtype=np.int64)
        for a in range(_N_ARCH):
            sel = arch == a
            if sel.any():
                out[sel] = np.searchsorted(self.gcdf[a], target[sel], side="right")
        return out

    def pick_colors(self, rng: np.random.Generator, arch: np.ndarray, product: np.ndarray) -> np.ndarray:
        """A colour variant per event (index into PALETTE), preferring the archetype's colours."""
        u = rng.random(len(arch))
        slot = (u[:, None] >= self.color_cdf[arch, product]).sum(axis=1)
        return self.colors[product, np.minimum(slot, 3)]


# --------------------------------------------------------------------------------------------------
# Small helpers


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


# --------------------------------------------------------------------------------------------------
# One (day, customer chunk): sessions, events and orders


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


# --------------------------------------------------------------------------------------------------
# Bad rows


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


# --------------------------------------------------------------------------------------------------
# Writers


ORDERS_RAW_SCHEMA = pa.schema([pa.field(f.name, ARROW_TYPES[f.kind]) for f in ORDERS.fields])


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


# --------------------------------------------------------------------------------------------------
# Feedback on published designs

_ORDER_ID = re.compile(r"^O(\d{8})-\d{5}-\d+$")
_CUSTOMER_ID = re.compile(r"^C(\d+)$")


def _published_assignments(lake: Lake, ds: dt.date) -> dict[str, str]:
    """order_id -> design_id of one complete published batch (``_SUCCESS`` present), else empty."""
    out: dict[str, str] = {}
    for _, row in iter_assignments(lake, ds.isoformat()):
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


# --------------------------------------------------------------------------------------------------
# Public API


def _day_range(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _write_ground_truth(lake: Lake, cust: _Customers, chunk_customers: int) -> None:
    schema = pa.schema([("customer_id", pa.string()), ("planted_segment", pa.int64()), ("segment_name", pa.string())])
    names = np.array([a.name for a in ARCHETYPES], dtype=object)
    n = len(cust.archetype)
    with lake.writer(GROUND_TRUTH_KEY, suffix=".parquet") as path:
        with pq.ParquetWriter(path, schema, compression=PARQUET_COMPRESSION) as writer:
            for lo in range(0, n, max(chunk_customers, 100_000)):
                hi = min(n, lo + max(chunk_customers, 100_000))
                arch = cust.archetype[lo:hi].astype(np.int64)
                writer.write_table(
                    pa.table(
                        {
                            "customer_id": pa.array(_customer_ids(np.arange(lo, hi)), pa.string()),
                            "planted_segment": pa.array(arch, pa.int64()),
                            "segment_name": pa.array(names[arch], pa.string()),
                        },
                        schema=schema,
                    )
                )


def generate_sample_data(
    lake: Lake,
    start: dt.date,
    days: int,
    customers: int,
    seed: int,
    bad_row_share: float = 0.0,
    chunk_customers: int = 20_000,
) -> dict:
    """Write ``days`` daily partitions of all four raw sources from ``start``, plus the planted segments.

    Same arguments give byte-identical files; a rerun replaces the range's raw partitions. Feedback
    is only written for orders of published batches (``published/ds=<d>/`` with ``_SUCCESS``) found in
    the lake, so a fresh lake gets none. ``bad_row_share`` > 0 spoils about that share of the rows
    with the kinds in ``BAD_ROW_KINDS`` and reports their counts.

    Returns:
        a JSON-serialisable summary: arguments, rows/partitions/files per source, bad rows by kind,
        the ground-truth key and every key written.
    """
    if days < 1 or customers < 1 or chunk_customers < 1:
        raise ValueError(
            f"days, customers and chunk_customers must be >= 1 (got {days}, {customers}, {chunk_customers})"
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (got {seed})")
    if not 0.0 <= bad_row_share <= 0.5:
        raise ValueError(f"bad_row_share must be within [0, 0.5] (got {bad_row_share})")
    dates = _day_range(start, days)
    keys_written: list[str] = []
    stats = {s: {"rows": 0, "partitions": 0, "files": 0, "bad_rows": Counter()} for s in RAW_SOURCES}

    for source in RAW_SOURCES:
        for day in dates:
            lake.delete_prefix(raw_prefix(source, day.isoformat()))

    cust = _customers(seed, customers)
    _write_ground_truth(lake, cust, chunk_customers)
    keys_written.append(GROUND_TRUTH_KEY)

    # Catalog snapshots: one at the start, a changed one mid-range when the range is long enough.
    first = _first_catalog(seed)
    snapshots: list[tuple[int, list[dict[str, Any]]]] = [(0, first)]
    if days >= 4:
        snapshots.append((days // 2, _second_catalog(seed, first)))
    for day_index, products in snapshots:
        ds = dates[day_index].isoformat()
        bad_rng = np.random.default_rng([seed, _S_CATALOG_BAD, day_index])
        lines = _catalog_with_bad_rows(bad_rng, products, bad_row_share, stats["catalog"]["bad_rows"])
        key = raw_prefix("catalog", ds) + "part-00000.jsonl"
        lake.write_bytes(key, _encode_lines(lines))
        keys_written.append(key)
        stats["catalog"]["rows"] += len(lines)
        stats["catalog"]["files"] += 1
        stats["catalog"]["partitions"] += 1
    samplers = [(day_index, _Sampler(products)) for day_index, products in snapshots]

    # Clickstream and orders, per customer chunk (outer) and day (inner): state stays chunk-sized.
    n_chunks = (customers + chunk_customers - 1) // chunk_customers
    for chunk in range(n_chunks):
        lo, hi = chunk * chunk_customers, min(customers, (chunk + 1) * chunk_customers)
        pool = _empty_pool()
        for day_index, day in enumerate(dates):
            sampler = next(s for i, s in reversed(samplers) if i <= day_index)
            rng = np.random.default_rng([seed, _S_DAY, day_index, chunk])
            events, lines, pool = _simulate(rng, sampler, cust, lo, hi, day, day_index, chunk, pool)
            ds = day.isoformat()

            text = _jsonl_text(events)
            bad_rng = np.random.default_rng([seed, _S_BAD, 0, day_index, chunk])
            if bad_row_share > 0 and text:
                spoiled = _spoil_jsonl(
                    bad_rng, "clickstream", text[:-1].split("\n"), bad_row_share, stats["clickstream"]["bad_rows"]
                )
                text = "\n".join(spoiled) + "\n"
            key = raw_prefix("clickstream", ds) + f"part-{chunk:05d}.jsonl.gz"
            lake.write_bytes(key, gzip.compress(text.encode("utf-8"), compresslevel=CLICKSTREAM_GZIP_LEVEL, mtime=0))
            keys_written.append(key)
            stats["clickstream"]["rows"] += len(events)
            stats["clickstream"]["files"] += 1

            bad_rng = np.random.default_rng([seed, _S_BAD, 1, day_index, chunk])
            masks = _spoil_orders(bad_rng, lines, bad_row_share, stats["orders"]["bad_rows"])
            key = raw_prefix("orders", ds) + f"part-{chunk:05d}.parquet"
            lake.write_bytes(key, _parquet_bytes(_orders_table(lines, masks)))
            keys_written.append(key)
            stats["orders"]["rows"] += len(lines["order_id"])
            stats["orders"]["files"] += 1
    stats["clickstream"]["partitions"] = stats["orders"]["partitions"] = days

    # Feedback last: it reads back the orders just written.
    for day, rows in sorted(_feedback_rows(lake, seed, cust, start, days).items()):
        lines_fb = [dumps(r, separators=(",", ":")) for r in rows]
        bad_rng = np.random.default_rng([seed, _S_BAD, 3, day.toordinal()])
        lines_fb = _spoil_jsonl(bad_rng, "feedback", lines_fb, bad_row_share / 2, stats["feedback"]["bad_rows"])
        key = raw_prefix("feedback", day.isoformat()) + "part-00000.jsonl"
        lake.write_bytes(key, _encode_lines(lines_fb))
        keys_written.append(key)
        stats["feedback"]["rows"] += len(lines_fb)
        stats["feedback"]["files"] += 1
        stats["feedback"]["partitions"] += 1

    bad_total: Counter[str] = Counter()
    for s in stats.values():
        bad_total.update(s["bad_rows"])
    sizes = np.bincount(cust.archetype, minlength=_N_ARCH)
    return {
        "start": start.isoformat(),
        "days": days,
        "customers": customers,
        "seed": seed,
        "chunk_customers": chunk_customers,
        "bad_row_share": bad_row_share,
        "sources": {
            name: {**{k: v for k, v in s.items() if k != "bad_rows"}, "bad_rows": dict(sorted(s["bad_rows"].items()))}
            for name, s in stats.items()
        },
        "bad_rows": dict(sorted(bad_total.items())),
        "bad_rows_total": int(sum(bad_total.values())),
        "segments": [
            {"planted_segment": i, "segment_name": a.name, "customers": int(sizes[i])} for i, a in enumerate(ARCHETYPES)
        ],
        "ground_truth_key": GROUND_TRUTH_KEY,
        "keys_written": keys_written,
    }
