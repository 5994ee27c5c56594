"""The simulated catalog: real-looking products with box-relevant dimensions, weights and colours."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from packaging_pipeline.core.schemas import (
    CATALOG,
)
from packaging_pipeline.core.vocabulary import CATEGORIES, PALETTE
from packaging_pipeline.sample_data.archetypes import _N_ARCH, _S_CATALOG, _S_CATALOG2, ARCHETYPES, _normalised


@dataclasses.dataclass(frozen=True)
class _Prototype:
    name: str
    dims_mm: tuple[float, float, float]  # length, width, height of its sales packaging, as a shop lists it
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
        _P("t-shirt (folded, bagged)", (300, 240, 30), 200, 19, 0.0),
        _P("jeans (folded, bagged)", (350, 280, 50), 650, 59, 0.0),
        _P("hoodie (folded, bagged)", (360, 300, 70), 600, 49, 0.0),
        _P("dress (folded, bagged)", (330, 260, 40), 350, 69, 0.0),
        _P("socks 3-pack", (210, 120, 40), 150, 12, 0.0),
        _P("winter jacket (bagged)", (420, 340, 100), 1100, 129, 0.0),
    )),
    _CategorySpec("shoes", 60, ("black", "white", "brown", "navy", "red", "grey", "beige", "pink", "olive"), (
        _P("sneakers (box)", (330, 210, 120), 900, 89, 0.0),
        _P("leather boots (box)", (360, 260, 140), 1500, 149, 0.0),
        _P("sandals (box)", (300, 190, 90), 500, 39, 0.0),
        _P("running shoes (box)", (330, 220, 120), 850, 119, 0.0),
    )),
    _CategorySpec("electronics", 80, ("black", "white", "grey", "navy", "blue", "gold", "red"), (
        _P("smartphone (retail box)", (170, 90, 50), 330, 599, 1.0),
        _P("over-ear headphones (box)", (220, 200, 100), 450, 149, 0.8),
        _P("laptop (retail box)", (400, 290, 70), 2300, 1099, 1.0),
        _P("usb-c charger (box)", (110, 70, 40), 150, 25, 0.2),
        _P("smartwatch (box)", (110, 100, 90), 250, 249, 1.0),
        _P("bluetooth speaker (box)", (200, 100, 100), 750, 79, 0.7),
        _P("tablet (retail box)", (265, 190, 45), 700, 449, 1.0),
        _P("mirrorless camera (box)", (180, 140, 120), 1000, 699, 1.0),
    )),
    _CategorySpec("home", 90, ("white", "beige", "grey", "green", "brown", "olive", "blue", "yellow", "black"), (
        _P("ceramic mug (box)", (130, 100, 110), 350, 14, 1.0),
        _P("scented candle (glass)", (100, 100, 110), 450, 24, 0.7),
        _P("glass vase", (300, 150, 150), 900, 39, 1.0),
        _P("bedsheet set", (380, 300, 80), 1800, 79, 0.0),
        _P("cushion", (450, 450, 150), 600, 29, 0.0),
        _P("desk lamp", (450, 200, 200), 1400, 59, 0.5),
        _P("kitchen knife set", (380, 150, 60), 1100, 89, 0.0),
    )),
    _CategorySpec("beauty", 70, ("pink", "red", "gold", "purple", "white", "black", "beige"), (
        _P("perfume (boxed glass bottle)", (110, 70, 150), 350, 79, 1.0),
        _P("face cream jar (box)", (80, 80, 70), 180, 29, 0.5),
        _P("lipstick (carton)", (90, 30, 30), 30, 22, 0.0),
        _P("shampoo bottle", (220, 80, 60), 450, 9, 0.0),
        _P("eyeshadow palette", (200, 120, 25), 200, 39, 0.3),
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
        _P("chocolate bars 4-pack", (200, 90, 30), 300, 6, 0.0),
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
        _P("picture book", (280, 250, 15), 400, 15, 0.0),
    )),
)  # fmt: skip

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
