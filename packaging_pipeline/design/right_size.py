"""Right-sizing: choose the box each order shipping next goes out in.

Why: empty space in a box is board, filler and freight paid for nothing, and the EU PPWR
(Regulation (EU) 2025/40, Art. 24) caps the empty space ratio (ESR) of e-commerce packaging at 50%.
So every order's units are packed, rotations allowed, into the standard box that takes them with
the least board, and the ESR the warehouse will ship is reported per order and per night.

Shipping next: night ``ds`` boxes the orders whose ``ship_date`` is ``ds + 1``. Orders carry a ship
date one or more days after they were placed (the sample data draws one or two) and the night runs
once day ``ds`` is complete, so each order is boxed exactly once, on the night before it ships. Its
lines are gathered from the accepted order partitions of the trailing ``lookback_days`` nights, so an
order placed days ahead is still found. Product dimensions come from the newest accepted catalog
snapshot at or before ``ds`` (ARCHITECTURE.md).

Packing: an extreme-point first-fit-decreasing heuristic (Crainic, Perboli and Tadei, 2008) with all
six orientations. A unit rests on the floor or with the centre of its base on top of another unit,
so a packer can follow the placements. Boxes are tried from the least board area up (the flat blank
area of the box's dieline, from :mod:`packaging_pipeline.design.dielines`); the first that takes every
unit wins. An order that fits nothing is reported with its reason, never dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet_prefix
from packaging_pipeline.core.schemas import CATALOG, ORDERS
from packaging_pipeline.core.storage import Lake, open_lake

STYLES = ("0427", "0201")
"""FEFCO styles the right-sizer can choose from: e-commerce mailer and regular slotted container."""

DEFAULT_LOOKBACK_DAYS = 14
"""How many nights of accepted orders (ending at ``ds``) are searched for lines shipping next."""

MAX_UNITS_PER_ORDER = 200
"""Orders with more units are reported, not packed: packing time grows steeply with the unit count."""

PPWR_ESR_LIMIT = 0.5
"""Art. 24 PPWR empty-space limit, used only to report the share of orders above it (the gate has its own policy)."""

_TOL = 1e-6
Dims = tuple[float, float, float]


# --------------------------------------------------------------------------------------------------
# The box catalog


@dataclasses.dataclass(frozen=True)
class Box:
    """One box size: FEFCO style, inner dimensions in mm, board grade and the board its blank takes."""

    code: str
    style: str
    inner_mm: Dims
    board: str
    blank_area_m2: float
    custom: bool = False

    @property
    def inner_volume_mm3(self) -> float:
        return math.prod(self.inner_mm)


@dataclasses.dataclass(frozen=True)
class CustomSizes:
    """On-demand boxes cut to size for orders that no standard box takes (off unless enabled)."""

    enabled: bool = False
    style: str = "0201"
    board: str = "C"
    step_mm: float = 10.0
    max_inner_mm: Dims = (800.0, 600.0, 600.0)


@dataclasses.dataclass(frozen=True)
class BoxCatalog:
    """The boxes a warehouse stocks, kept ordered by board area so the first box that fits is the leanest."""

    boxes: tuple[Box, ...]
    padding_mm: float = 5.0
    custom: CustomSizes = CustomSizes()
    source: str = "<inline>"

    def __post_init__(self) -> None:
        if not self.boxes:
            raise InputError(f"box catalog {self.source}: it lists no boxes; add at least one under 'boxes'")
        ordered = sorted(self.boxes, key=lambda b: (b.blank_area_m2, b.inner_volume_mm3, b.code))
        object.__setattr__(self, "boxes", tuple(ordered))

    @property
    def largest(self) -> Box:
        return max(self.boxes, key=lambda b: (b.inner_volume_mm3, b.code))

    def usable_mm(self, box: Box) -> Dims:
        """Inner dimensions minus the padding on both sides: the space the goods may occupy."""
        return tuple(d - 2 * self.padding_mm for d in box.inner_mm)  # type: ignore[return-value]


_CATALOG_KEYS = {"version", "padding_mm", "custom_sizes", "boxes"}
_BOX_KEYS = {"code", "style", "inner_mm", "board"}
_CUSTOM_KEYS = {"enabled", "style", "board", "step_mm", "max_inner_mm"}


def default_box_catalog_text() -> str:
    """The packaged standard range (``packaging_pipeline/data/box_catalog.yaml``)."""
    return (resources.files("packaging_pipeline") / "data" / "box_catalog.yaml").read_text(encoding="utf-8")


def load_box_catalog(path: str | os.PathLike[str] | None = None) -> BoxCatalog:
    """Load and validate a box catalog: the packaged one, or a user's YAML file at ``path``.

    Board grades are those of the materials library (``packaging_pipeline/data/materials.yaml``).

    Raises:
        InputError: the file is missing, not YAML, or an entry is invalid; the message names the
            file and the entry.
    """
    if path is None:
        source, text = "packaging_pipeline/data/box_catalog.yaml", default_box_catalog_text()
    else:
        source = str(Path(path))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read box catalog {source}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"box catalog {source} is not valid YAML: {exc}") from None
    return parse_box_catalog(doc, source)


def parse_box_catalog(doc: Any, source: str = "<inline>") -> BoxCatalog:
    """Validate a parsed catalog document and compute each box's blank area from its dieline."""

    def fail(where: str, what: str) -> InputError:
        return InputError(f"box catalog {source}: {where}: {what}")

    if not isinstance(doc, dict):
        raise fail("top level", "expected a mapping with 'padding_mm', 'custom_sizes' and 'boxes'")
    _no_unknown(doc, _CATALOG_KEYS, "top level", fail)
    padding = _number(doc.get("padding_mm", 5.0), "padding_mm", fail, minimum=0.0)

    raw_boxes = doc.get("boxes")
    if not isinstance(raw_boxes, list) or not raw_boxes:
        raise fail("boxes", "expected a non-empty list of {code, style, inner_mm, board}")
    boxes: list[Box] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw_boxes):
        where = f"boxes[{i}]"
        if not isinstance(entry, dict):
            raise fail(where, "expected a mapping {code, style, inner_mm, board}")
        if isinstance(entry.get("code"), str):
            where += f" ({entry['code']!r})"
        _no_unknown(entry, _BOX_KEYS, where, fail)
        code = entry.get("code")
        if not isinstance(code, str) or not code.strip():
            raise fail(where, "'code' must be a non-empty string such as \"0427-M3\"")
        if code in seen:
            raise fail(where, f"code {code!r} appears twice; box codes must be unique")
        seen.add(code)
        style = _style(entry.get("style"), where, fail)
        inner = _dims(entry.get("inner_mm"), where + ".inner_mm", fail)
        if min(inner) <= 2 * padding:
            raise fail(where, f"inner_mm {_fmt(inner)} leaves no room inside {padding:g} mm padding per side")
        board = _board(entry.get("board"), where, fail)
        try:
            area = _box_blank_area(style, inner, board)
        except InputError as exc:
            raise fail(where, str(exc)) from None
        boxes.append(Box(code, style, inner, board, area))

    custom_doc = doc.get("custom_sizes", {}) or {}
    if not isinstance(custom_doc, dict):
        raise fail("custom_sizes", "expected a mapping {enabled, style, board, step_mm, max_inner_mm}")
    _no_unknown(custom_doc, _CUSTOM_KEYS, "custom_sizes", fail)
    defaults = CustomSizes()
    enabled = custom_doc.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        raise fail("custom_sizes.enabled", f"expected true or false, got {enabled!r}")
    max_inner = _dims(custom_doc.get("max_inner_mm", list(defaults.max_inner_mm)), "custom_sizes.max_inner_mm", fail)
    if min(max_inner) <= 2 * padding:
        raise fail("custom_sizes.max_inner_mm", f"{_fmt(max_inner)} leaves no room inside the padding")
    custom = CustomSizes(
        enabled=enabled,
        style=_style(custom_doc.get("style", defaults.style), "custom_sizes", fail),
        board=_board(custom_doc.get("board", defaults.board), "custom_sizes", fail),
        step_mm=_number(custom_doc.get("step_mm", defaults.step_mm), "custom_sizes.step_mm", fail, 0.0, True),
        max_inner_mm=max_inner,
    )
    return BoxCatalog(tuple(boxes), padding, custom, source)


def _box_blank_area(style: str, inner_mm: Dims, board: str) -> float:
    """Board area of a box: the flat blank area of its dieline (the one seam to box geometry)."""
    from packaging_pipeline.design.dielines import make_dieline

    return make_dieline(style, inner_mm, board).blank_area_m2


def _no_unknown(doc: Mapping[str, Any], known: set[str], where: str, fail: Callable[[str, str], InputError]) -> None:
    unknown = sorted(str(k) for k in set(doc) - known)
    if unknown:
        raise fail(where, f"unknown keys {unknown}; expected some of {sorted(known)}")


def _number(
    value: Any,
    where: str,
    fail: Callable[[str, str], InputError],
    minimum: float | None = None,
    exclusive: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(where, f"expected a number, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise fail(where, f"{value!r} must be {'greater than' if exclusive else 'at least'} {minimum:g}")
    return float(value)


def _dims(value: Any, where: str, fail: Callable[[str, str], InputError]) -> Dims:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise fail(where, f"expected three sizes in mm [length, width, height], got {value!r}")
    l, w, h = (_number(v, where, fail, minimum=0.0, exclusive=True) for v in value)  # noqa: E741
    return (l, w, h)


def _style(value: Any, where: str, fail: Callable[[str, str], InputError]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise fail(where, f'style {value!r} must be a quoted FEFCO code such as "0427" (YAML reads 0427 as a number)')
    if value not in STYLES:
        raise fail(where, f"style {value!r} is not supported; use one of {', '.join(repr(s) for s in STYLES)}")
    return str(value)


def _board(value: Any, where: str, fail: Callable[[str, str], InputError]) -> str:
    from packaging_pipeline.design.materials import load_materials

    if not isinstance(value, str):
        raise fail(where, f"board {value!r} must be a board grade code such as E, B or C")
    try:
        return load_materials().board(value).code
    except InputError as exc:
        raise fail(where, str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Packing


@dataclasses.dataclass(frozen=True)
class Unit:
    """One physical item to pack: a product's length, width and height in mm (any orientation)."""

    product_id: str
    dims_mm: Dims

    @property
    def volume_mm3(self) -> float:
        return math.prod(self.dims_mm)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a unit sits: its lowest corner and its oriented size, in mm from the box's inner corner."""

    product_id: str
    position_mm: Dims
    size_mm: Dims


@dataclasses.dataclass(frozen=True)
class BoxChoice:
    """The leanest box that takes every unit, with the placements; or no box and the reason."""

    box: Box | None
    placements: tuple[Placement, ...] = ()
    reason: str | None = None


def orientations(dims_mm: Sequence[float]) -> list[Dims]:
    """The distinct axis-aligned orientations of a cuboid, flattest first (lying flat is stable)."""
    unique = {tuple(float(d) for d in p) for p in itertools.permutations(dims_mm)}
    return sorted(unique, key=lambda s: (s[2], -s[0], -s[1]))  # type: ignore[return-value]


def fits_rotated(dims_mm: Sequence[float], space_mm: Sequence[float]) -> bool:
    """Whether a cuboid fits a space in some orientation: compare both sorted."""
    return all(d <= s + _TOL for d, s in zip(sorted(dims_mm), sorted(space_mm), strict=True))


_DECREASING_ORDERS: tuple[Callable[[Unit], tuple[float, ...]], ...] = (
    lambda u: (-u.volume_mm3, -max(u.dims_mm)),
    lambda u: (-math.prod(sorted(u.dims_mm)[1:]), -u.volume_mm3),  # largest footprint first
    lambda u: (-max(u.dims_mm), -u.volume_mm3),  # longest first
)


def pack_units(units: Sequence[Unit], space_mm: Sequence[float], *, compact: bool = False) -> list[Placement] | None:
    """Place every unit inside ``space_mm`` without overlap, or return None when the heuristic cannot.

    Units go in decreasing order (by volume, then by footprint, then by length), and each order is
    tried with every orientation of its first unit; the first attempt that places all units wins.
    Each unit takes the first extreme point, lowest first, and orientation, flattest first, where
    it fits, overlaps nothing and is supported. With ``compact`` it takes the placement that grows
    the packed bounding box least instead, which sizes custom boxes.

    Args:
        units: the units to pack.
        space_mm: the usable space (inner dimensions minus padding), [x, y, z] with z up.
        compact: minimise the bounding box rather than take the first fit.

    Returns:
        One placement per unit, in packing order, with positions from the space's corner; or None.
    """
    space: Dims = tuple(float(s) for s in space_mm)  # type: ignore[assignment]
    if not units:
        return []
    if sum(u.volume_mm3 for u in units) > math.prod(space) * (1 + _TOL):
        return None
    if not all(fits_rotated(u.dims_mm, space) for u in units):
        return None
    tried: set[tuple[Unit, ...]] = set()
    for key in _DECREASING_ORDERS:
        ordered = tuple(sorted(units, key=key))
        if ordered in tried:
            continue
        tried.add(ordered)
        # The first unit's orientation shapes the whole layout, so each one gets its own attempt.
        for first in orientations(ordered[0].dims_mm):
            placed = _extreme_point_pack(ordered, space, compact, first)
            if placed is not None:
                return placed
    return None


_Block = tuple[Dims, Dims]  # (position, size)


def _extreme_point_pack(units: Sequence[Unit], space: Dims, compact: bool, first: Dims) -> list[Placement] | None:
    blocks: list[_Block] = []
    points: set[Dims] = {(0.0, 0.0, 0.0)}
    out: list[Placement] = []
    for unit in units:
        best: tuple[tuple[float, ...], Dims, Dims] | None = None
        sizes = [first] if not blocks else orientations(unit.dims_mm)
        for point in sorted(points, key=lambda p: (p[2], p[1], p[0])):
            for size in sizes:
                if not _can_place(point, size, space, blocks):
                    continue
                merit = (point[2], point[1], point[0])
                if compact:
                    merit = (_bounding_volume(blocks, point, size), *merit)
                if best is None or merit < best[0]:
                    best = (merit, point, size)
                if not compact:
                    break
            if best is not None and not compact:
                break
        if best is None:
            return None
        _, point, size = best
        blocks.append((point, size))
        out.append(Placement(unit.product_id, point, size))
        points = _extreme_points(points, blocks, space)
    return out


def _can_place(point: Dims, size: Dims, space: Dims, blocks: Sequence[_Block]) -> bool:
    if any(point[i] + size[i] > space[i] + _TOL for i in range(3)):
        return False
    for pos, dim in blocks:
        if all(point[i] < pos[i] + dim[i] - _TOL and pos[i] < point[i] + size[i] - _TOL for i in range(3)):
            return False
    if point[2] <= _TOL:
        return True
    # Stable: the centre of the base lies on the top face of a unit whose top is at this height.
    cx, cy = point[0] + size[0] / 2, point[1] + size[1] / 2
    return any(
        abs(pos[2] + dim[2] - point[2]) <= _TOL
        and pos[0] - _TOL <= cx <= pos[0] + dim[0] + _TOL
        and pos[1] - _TOL <= cy <= pos[1] + dim[1] + _TOL
        for pos, dim in blocks
    )


def _extreme_points(points: set[Dims], blocks: Sequence[_Block], space: Dims) -> set[Dims]:
    """Add the new block's corners and their projections onto the nearest walls; drop covered points."""
    (x, y, z), (l, w, h) = blocks[-1]  # noqa: E741
    new = set(points)
    for corner, axes in (((x + l, y, z), (1, 2)), ((x, y + w, z), (0, 2)), ((x, y, z + h), (0, 1))):
        new.add(corner)
        for axis in axes:
            new.add(_project(corner, axis, blocks))
    return {p for p in new if all(p[i] < space[i] - _TOL for i in range(3)) and not _covered(p, blocks)}


def _project(point: Dims, axis: int, blocks: Sequence[_Block]) -> Dims:
    """Slide ``point`` towards 0 along ``axis`` until it meets a block face or the wall."""
    others = [i for i in range(3) if i != axis]
    stop = 0.0
    for pos, dim in blocks:
        face = pos[axis] + dim[axis]
        if face <= point[axis] + _TOL and all(pos[i] - _TOL <= point[i] < pos[i] + dim[i] - _TOL for i in others):
            stop = max(stop, face)
    out = list(point)
    out[axis] = stop
    return (out[0], out[1], out[2])


def _covered(point: Dims, blocks: Sequence[_Block]) -> bool:
    return any(all(pos[i] - _TOL <= point[i] < pos[i] + dim[i] - _TOL for i in range(3)) for pos, dim in blocks)


def _bounding_volume(blocks: Sequence[_Block], point: Dims, size: Dims) -> float:
    extent = [point[i] + size[i] for i in range(3)]
    for pos, dim in blocks:
        extent = [max(extent[i], pos[i] + dim[i]) for i in range(3)]
    return math.prod(extent)


def choose_box(units: Sequence[Unit], boxes: BoxCatalog) -> BoxChoice:
    """The box with the least board area (all styles) whose padded inside takes every unit.

    When none does, a custom size if the catalog allows them, else no box and a reason that names
    the oversized item or the volume that does not pack.
    """
    for box in boxes.boxes:
        placements = pack_units(units, boxes.usable_mm(box))
        if placements is not None:
            return BoxChoice(box, tuple(_shifted(p, boxes.padding_mm) for p in placements))
    reason = _unfit_reason(units, boxes)
    if boxes.custom.enabled:
        custom = _custom_choice(units, boxes)
        if isinstance(custom, BoxChoice):
            return dataclasses.replace(custom, reason=f"no standard box: {reason}; custom size made")
        reason += f"; {custom}"
    return BoxChoice(None, (), reason)


def _shifted(p: Placement, offset: float) -> Placement:
    return dataclasses.replace(p, position_mm=tuple(c + offset for c in p.position_mm))  # type: ignore[arg-type]


def _unfit_reason(units: Sequence[Unit], boxes: BoxCatalog) -> str:
    largest = boxes.largest
    oversized = [u for u in units if not any(fits_rotated(u.dims_mm, boxes.usable_mm(b)) for b in boxes.boxes)]
    if oversized:
        worst = max(oversized, key=lambda u: (max(u.dims_mm), u.volume_mm3))
        others = len({u.product_id for u in oversized} - {worst.product_id})
        more = f" (and {others} more oversized product{'s' * (others > 1)})" if others else ""
        return (
            f"item {worst.product_id!r} {_fmt(worst.dims_mm)} mm exceeds every box "
            f"(largest {_fmt(largest.inner_mm)}, {boxes.padding_mm:g} mm padding per side){more}"
        )
    litres = sum(u.volume_mm3 for u in units) / 1e6
    return (
        f"{len(units)} units of total {litres:.1f} L do not pack into any box "
        f"(largest {largest.code} {_fmt(largest.inner_mm)} holds {largest.inner_volume_mm3 / 1e6:.1f} L)"
    )


def _custom_choice(units: Sequence[Unit], boxes: BoxCatalog) -> BoxChoice | str:
    """Pack compactly into the largest custom size, then cut the box to the packing, rounded up.

    Returns:
        The custom box with its placements, or why no custom size can be made.
    """
    custom, pad = boxes.custom, boxes.padding_mm
    placements = pack_units(units, [d - 2 * pad for d in custom.max_inner_mm], compact=True)
    if placements is None:
        return f"no custom size up to {_fmt(custom.max_inner_mm)} takes it either"
    extent = [max(p.position_mm[i] + p.size_mm[i] for p in placements) for i in range(3)]
    inner = [
        min(max(math.ceil((extent[i] + 2 * pad) / custom.step_mm - _TOL) * custom.step_mm, extent[i] + 2 * pad), m)
        for i, m in enumerate(custom.max_inner_mm)
    ]
    if inner[0] < inner[1]:  # length is the longer side of the footprint: turn the packing a quarter
        inner[0], inner[1] = inner[1], inner[0]
        placements = [
            Placement(p.product_id, (p.position_mm[1], p.position_mm[0], p.position_mm[2]),
                      (p.size_mm[1], p.size_mm[0], p.size_mm[2]))
            for p in placements
        ]  # fmt: skip
    dims: Dims = (inner[0], inner[1], inner[2])
    try:
        area = _box_blank_area(custom.style, dims, custom.board)
    except InputError as exc:
        return f"custom size {_fmt(dims)} cannot be made: {exc}"
    box = Box(f"{custom.style}-CUSTOM-{_fmt(dims)}", custom.style, dims, custom.board, area, custom=True)
    return BoxChoice(box, tuple(_shifted(p, pad) for p in placements))


def _fmt(dims: Sequence[float]) -> str:
    return "x".join(f"{d:g}" for d in dims)


# --------------------------------------------------------------------------------------------------
# Orders


ORDER_COLUMNS = ("order_id", "warehouse_id", "ship_date", "product_id", "quantity")
CATALOG_COLUMNS = ("product_id", "length_mm", "width_mm", "height_mm")
RESULT_COLUMNS = (
    "order_id", "warehouse_id", "ship_date", "guest", "status", "style", "box_code", "board_grade",
    "custom_size", "inner_length_mm", "inner_width_mm", "inner_height_mm", "lines", "units",
    "returned_units", "item_volume_mm3", "item_volume_l", "box_volume_mm3", "box_volume_l", "esr",
    "board_area_m2", "reason",
)  # fmt: skip
"""One row per (order, warehouse, ship date). ``status``: fitted, unfit, missing_product, returns_only."""


def right_size_orders(orders: pd.DataFrame, catalog: pd.DataFrame, boxes: BoxCatalog) -> pd.DataFrame:
    """Choose a box for every order and measure its empty space; pure, no I/O.

    Lines with a negative quantity are returns and are not packed; positive quantities expand into
    units. Guests (null customer) are boxed like everyone; customer ids never reach the output.

    Args:
        orders: order lines (``ORDER_COLUMNS``; a ``customer_key``/``customer_id`` column only marks guests).
        catalog: one snapshot with ``CATALOG_COLUMNS`` in mm.
        boxes: the box catalog.

    Returns:
        One row per order with ``RESULT_COLUMNS``; orders that fit nothing carry a ``reason``.
    """
    _require_columns(orders, ORDER_COLUMNS, "orders")
    _require_columns(catalog, CATALOG_COLUMNS, "catalog")
    products = catalog.drop_duplicates("product_id", keep="last")
    dims = {
        str(pid): (float(length), float(width), float(height))
        for pid, length, width, height in products[list(CATALOG_COLUMNS)].itertuples(index=False)
    }
    customer = next((c for c in ("customer_key", "customer_id") if c in orders), None)
    cache: dict[tuple[tuple[str, Dims], ...], BoxChoice] = {}
    rows = []
    for (order_id, warehouse_id, ship_date), lines in orders.groupby(
        ["order_id", "warehouse_id", "ship_date"], sort=True, dropna=False
    ):
        guest = bool(lines[customer].isna().all()) if customer else False
        rows.append(_size_order(order_id, warehouse_id, ship_date, guest, lines, dims, boxes, cache))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _size_order(
    order_id: Any,
    warehouse_id: Any,
    ship_date: Any,
    guest: bool,
    lines: pd.DataFrame,
    dims: Mapping[str, Dims],
    boxes: BoxCatalog,
    cache: dict[tuple[tuple[str, Dims], ...], BoxChoice],
) -> dict[str, Any]:
    quantity = lines["quantity"].astype("int64")
    shipped = lines.loc[quantity > 0]
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        order_id=order_id, warehouse_id=warehouse_id, ship_date=ship_date, guest=guest, custom_size=False,
        lines=len(shipped), units=int(quantity[quantity > 0].sum()), returned_units=int(-quantity[quantity < 0].sum()),
    )  # fmt: skip
    if shipped.empty:
        return {**row, "status": "returns_only", "reason": "only returned lines (negative quantity): nothing to ship"}
    missing = sorted({str(p) for p in shipped["product_id"]} - set(dims))
    if missing:
        names = ", ".join(repr(p) for p in missing)
        return {**row, "status": "missing_product", "reason": f"product {names} not in the catalog snapshot"}
    units = [
        Unit(str(pid), dims[str(pid)])
        for pid, qty in zip(shipped["product_id"], quantity[quantity > 0], strict=True)
        for _ in range(int(qty))
    ]
    item_volume = sum(u.volume_mm3 for u in units)
    row.update(item_volume_mm3=item_volume, item_volume_l=item_volume / 1e6)
    if len(units) > MAX_UNITS_PER_ORDER:
        reason = f"{len(units)} units exceed the packing limit of {MAX_UNITS_PER_ORDER} per order; split the shipment"
        return {**row, "status": "unfit", "reason": reason}
    key = tuple(sorted((u.product_id, u.dims_mm) for u in units))
    if key not in cache:
        cache[key] = choose_box(units, boxes)
    choice = cache[key]
    if choice.box is None:
        return {**row, "status": "unfit", "reason": choice.reason}
    box = choice.box
    volume = box.inner_volume_mm3
    row.update(
        status="fitted", style=box.style, box_code=box.code, board_grade=box.board, custom_size=box.custom,
        inner_length_mm=box.inner_mm[0], inner_width_mm=box.inner_mm[1], inner_height_mm=box.inner_mm[2],
        box_volume_mm3=volume, box_volume_l=volume / 1e6, esr=(volume - item_volume) / volume,
        board_area_m2=box.blank_area_m2, reason=choice.reason,
    )  # fmt: skip
    return row


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lack the columns {missing}; right-sizing needs {list(columns)}")


def summarise_right_sizing(per_order: pd.DataFrame) -> dict[str, Any]:
    """Night totals an operator and an analyst read first: fit counts, ESR spread, board used."""
    to_ship = per_order[per_order["status"] != "returns_only"]
    fitted = to_ship[to_ship["status"] == "fitted"]
    esr = fitted["esr"].astype(float).to_numpy()
    item_total, box_total = float(fitted["item_volume_mm3"].sum()), float(fitted["box_volume_mm3"].sum())
    unboxed = to_ship[to_ship["status"] != "fitted"]
    return {
        "orders": len(to_ship),
        "fitted": len(fitted),
        "custom_sizes": int(fitted["custom_size"].astype(bool).sum()),
        "unfit": int((to_ship["status"] == "unfit").sum()),
        "missing_product": int((to_ship["status"] == "missing_product").sum()),
        "returns_only": int((per_order["status"] == "returns_only").sum()),
        "unboxed_orders": [
            {"order_id": r.order_id, "warehouse_id": r.warehouse_id, "status": r.status, "reason": r.reason}
            for r in unboxed.itertuples(index=False)
        ],
        "units": int(to_ship["units"].sum()),
        "mean_esr": round(float(esr.mean()), 4) if len(esr) else None,
        "p95_esr": round(float(np.percentile(esr, 95)), 4) if len(esr) else None,
        "share_esr_over_50pct": round(float((esr > PPWR_ESR_LIMIT).mean()), 4) if len(esr) else None,
        "volume_weighted_esr": round(1.0 - item_total / box_total, 4) if box_total else None,
        "board_m2_total": round(float(fitted["board_area_m2"].sum()), 3),
        "per_style": {str(k): int(v) for k, v in fitted["style"].value_counts().sort_index().items()},
        "per_box": {str(k): int(v) for k, v in fitted["box_code"].value_counts().sort_index().items()},
    }


def order_records(per_order: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing values become None, not NaN."""
    return per_order.astype(object).where(per_order.notna(), None).to_dict(orient="records")


# --------------------------------------------------------------------------------------------------
# The night (I/O)


def catalog_snapshot_ds(lake: Lake, ds: str) -> str:
    """The newest accepted catalog snapshot at or before ``ds`` (a night never reads a later one)."""
    keys.parse_ds(ds)
    prefix = keys.accepted_base("catalog")
    found = set()
    for obj in lake.list(prefix):
        part = obj.key[len(prefix) :].split("/", 1)[0]
        if part.startswith("ds=") and obj.key.endswith(".parquet") and part[3:] <= ds:
            found.add(part[3:])
    if not found:
        raise InputError(
            f"no accepted catalog snapshot at or before ds={ds} in {lake.uri_of(prefix)}: right-sizing needs product "
            f"dimensions. Deliver a snapshot under raw/catalog/ds=<date>/ and ingest that night, then rerun."
        )
    return max(found)


def orders_shipping_next(
    lake: Lake, ds: str, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> tuple[pd.DataFrame, list[str]]:
    """Accepted order lines with ``ship_date == ds + 1`` from the nights ``ds - lookback_days + 1 .. ds``.

    A line re-delivered in a later partition counts once (the first occurrence wins, as in ingest);
    a return shares its order and product with the sale, so the sign of the quantity is part of the key.

    Returns:
        The lines, and the partitions (ds values) that held any accepted orders.
    """
    night = keys.parse_ds(ds)
    ship_day = night + dt.timedelta(days=1)
    frames, read = [], []
    for back in range(lookback_days - 1, -1, -1):
        day = (night - dt.timedelta(days=back)).isoformat()
        table = read_parquet_prefix(lake, keys.accepted_prefix("orders", day), ORDERS.accepted_schema)
        if table is None:
            continue
        read.append(day)
        table = table.filter(pc.equal(table["ship_date"], pa.scalar(ship_day, pa.date32())))
        frames.append(table.to_pandas())
    if not frames:
        return ORDERS.accepted_schema.empty_table().to_pandas(), read
    lines = pd.concat(frames, ignore_index=True)
    lines["_sale"] = lines["quantity"] > 0
    lines = lines.drop_duplicates(["order_id", "product_id", "_sale"], keep="first").drop(columns="_sale")
    return lines.reset_index(drop=True), read


def right_size_night(
    settings: Settings,
    ds: str,
    boxes: BoxCatalog | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    shipping: tuple[pd.DataFrame, list[str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Right-size the orders shipping on ``ds + 1`` (see the module docstring for the rule).

    ``shipping`` is ``orders_shipping_next``'s result when the caller has already read it.

    Raises:
        InputError: the night was not ingested, or no catalog snapshot exists at or before ``ds``.
    """
    night = keys.parse_ds(ds)
    boxes = boxes if boxes is not None else load_box_catalog()
    lake = open_lake(settings)
    report = keys.ingest_report_key(ds)
    if not lake.exists(report):
        raise InputError(
            f"night ds={ds} has not been ingested ({lake.uri_of(report)} is missing): run "
            f"`packaging-pipeline ingest --ds {ds}` first, so right-sizing reads validated orders."
        )
    snapshot = catalog_snapshot_ds(lake, ds)
    schema = CATALOG.accepted_schema
    catalog_table = read_parquet_prefix(lake, keys.accepted_prefix("catalog", snapshot), schema)
    catalog = (catalog_table if catalog_table is not None else schema.empty_table()).to_pandas()
    lines, partitions = shipping if shipping is not None else orders_shipping_next(lake, ds, lookback_days)
    per_order = right_size_orders(lines, catalog, boxes)
    summary = {
        "ds": ds,
        "ship_date": (night + dt.timedelta(days=1)).isoformat(),
        "catalog_snapshot": snapshot,
        "order_partitions": partitions,
        "box_catalog": boxes.source,
        "padding_mm": boxes.padding_mm,
        **summarise_right_sizing(per_order),
    }
    return per_order, summary
