"""Packing an order's units into a box: extreme-point first-fit-decreasing, all six orientations.

The heuristic of Crainic, Perboli and Tadei (2008). A unit rests on the floor or with the centre of
its base on top of another unit, so a packer can follow the placements. Boxes are tried from the
least board area up; the first that takes every unit wins. An order that fits nothing gets its
reason, never dropped.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.boxes import Box, BoxCatalog, Dims, OnDemandMachine, box_blank_area, format_dims

_TOL = 1e-6
_NO_MINIMUM: Dims = (0.0, 0.0, 0.0)
TIGHTEST_MAX_UNITS = 8
"""Up to this many units a box cut on demand is sized by the tightest of all compact packings tried."""


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
    return list(_orientations(tuple(float(d) for d in dims_mm)))


@functools.lru_cache(maxsize=65536)
def _orientations(dims: tuple[float, ...]) -> tuple[Dims, ...]:
    """:func:`orientations`, remembered by shape: the packer asks for the same few thousand again and again."""
    unique = set(itertools.permutations(dims))
    return tuple(sorted(unique, key=lambda s: (s[2], -s[0], -s[1])))  # type: ignore[arg-type]


def fits_rotated(dims_mm: Sequence[float], space_mm: Sequence[float]) -> bool:
    """Whether a cuboid fits a space in some orientation: compare both sorted."""
    return all(d <= s + _TOL for d, s in zip(sorted(dims_mm), sorted(space_mm), strict=True))


_DECREASING_ORDERS: tuple[Callable[[Unit], tuple[float, ...]], ...] = (
    lambda u: (-u.volume_mm3, -max(u.dims_mm)),
    lambda u: (-math.prod(sorted(u.dims_mm)[1:]), -u.volume_mm3),  # largest footprint first
    lambda u: (-max(u.dims_mm), -u.volume_mm3),  # longest first
)


def pack_units(
    units: Sequence[Unit],
    space_mm: Sequence[float],
    *,
    compact: bool = False,
    padding_mm: float = 0.0,
    minimum_mm: Sequence[float] = _NO_MINIMUM,
) -> list[Placement] | None:
    """Place every unit inside ``space_mm`` without overlap, or return None when the heuristic cannot.

    Units go in decreasing order (by volume, then by footprint, then by length), and each order is
    tried with every orientation of its first unit; the first attempt that places all units wins.
    Each unit takes the first extreme point, lowest first, and orientation, flattest first, where
    it fits, overlaps nothing and is supported. With ``compact`` it takes the placement that grows
    the padded bounding box (the box it will be cut to) least instead, which sizes custom boxes.

    Args:
        units: the units to pack.
        space_mm: the usable space (inner dimensions minus padding), [x, y, z] with z up.
        compact: minimise the bounding box rather than take the first fit.
        padding_mm: with ``compact``, the clearance per side the cut box adds around the packing.
        minimum_mm: with ``compact``, the smallest inner size the box is cut to, [x, y, z].

    Returns:
        One placement per unit, in packing order, with positions from the space's corner; or None.
    """
    space = _dims(space_mm)
    if not units:
        return []
    if sum(u.volume_mm3 for u in units) > math.prod(space) * (1 + _TOL):
        return None
    if not all(fits_rotated(u.dims_mm, space) for u in units):
        return None
    return _first_packing(units, space, compact, _CutBox(2 * padding_mm, _dims(minimum_mm)))


def _attempts(units: Sequence[Unit]) -> Iterator[tuple[tuple[Unit, ...], Dims]]:
    """Every attempt to make: a decreasing unit order and an orientation of its first unit.

    The first unit's orientation shapes the whole layout, so each one gets its own attempt.
    """
    tried: set[tuple[Unit, ...]] = set()
    for key in _DECREASING_ORDERS:
        ordered = tuple(sorted(units, key=key))
        if ordered in tried:
            continue
        tried.add(ordered)
        for first in _orientations(ordered[0].dims_mm):
            yield ordered, first


def _first_packing(units: Sequence[Unit], space: Dims, compact: bool, cut: _CutBox) -> list[Placement] | None:
    for ordered, first in _attempts(units):
        placed = _extreme_point_pack(ordered, space, compact, first, cut)
        if placed is not None:
            return placed
    return None


def tightest_packing(
    units: Sequence[Unit],
    space_mm: Sequence[float],
    padding_mm: float = 0.0,
    minimum_mm: Sequence[float] = _NO_MINIMUM,
) -> list[Placement] | None:
    """The compact packing whose cut box is smallest, over every unit order and first orientation.

    What a box cut to the packing is sized by: :func:`pack_units` stops at the first attempt that
    fits, this one tries them all (three orders x up to six orientations) and keeps the tightest.
    An attempt stops as soon as its bounding box is no tighter than the best so far: the box only
    grows as units are added, so it could not have won.

    The bounding box is measured as the box will be cut: ``padding_mm`` added on every side and at
    least ``minimum_mm``. Four flat units side by side fill their extent exactly but make a wide,
    shallow box whose clearance is mostly air, where the same four stacked make the smaller box;
    and two lipsticks stacked make a smaller extent but, raised to a machine's minimum footprint,
    the taller box.
    """
    space = _dims(space_mm)
    if not all(fits_rotated(u.dims_mm, space) for u in units):
        return None
    cut = _CutBox(2 * padding_mm, _dims(minimum_mm))
    best: tuple[float, list[Placement]] | None = None
    for ordered, first in _attempts(units):
        placed = _extreme_point_pack(ordered, space, True, first, cut, None if best is None else best[0] - _TOL)
        if placed is None:
            continue
        volume = cut.volume(packing_extent(placed))
        if best is None or volume < best[0] - _TOL:  # the first of equally tight packings wins
            best = (volume, placed)
    return None if best is None else best[1]


_Block = tuple[Dims, Dims]  # (position, size)


@dataclasses.dataclass(frozen=True)
class _CutBox:
    """How a compact packing becomes a box: ``margin`` (both clearances) added to each side, at least ``minimum``."""

    margin: float = 0.0
    minimum: Dims = _NO_MINIMUM

    def volume(self, extent: Sequence[float]) -> float:
        return math.prod(max(low, e + self.margin) for e, low in zip(extent, self.minimum, strict=True))


def _dims(values: Sequence[float]) -> Dims:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def _extreme_point_pack(
    units: Sequence[Unit], space: Dims, compact: bool, first: Dims, cut: _CutBox | None = None,
    give_up_at: float | None = None,
) -> list[Placement] | None:  # fmt: skip
    """One attempt; with ``compact``, None as soon as the cut box's volume reaches ``give_up_at``."""
    cut = cut or _CutBox()
    blocks: list[_Block] = []
    points: set[Dims] = {(0.0, 0.0, 0.0)}
    out: list[Placement] = []
    extent = (0.0, 0.0, 0.0)
    for unit in units:
        sizes = (first,) if not blocks else _orientations(unit.dims_mm)
        ordered_points = sorted(points, key=lambda p: (p[2], p[1], p[0]))
        chosen: tuple[Dims, Dims] | None = None
        if compact:
            chosen = _tightest_place(ordered_points, sizes, space, blocks, extent, cut, give_up_at)
        else:
            chosen = next(((point, size) for point in ordered_points for size in sizes
                           if _can_place(point, size, space, blocks)), None)  # fmt: skip
        if chosen is None:
            return None
        point, size = chosen
        blocks.append((point, size))
        extent = (max(extent[0], point[0] + size[0]), max(extent[1], point[1] + size[1]),
                  max(extent[2], point[2] + size[2]))  # fmt: skip
        out.append(Placement(unit.product_id, point, size))
        points = _extreme_points(points, blocks, space)
    return out


def _tightest_place(points: Sequence[Dims], sizes: Sequence[Dims], space: Dims, blocks: Sequence[_Block],
                    extent: Dims, cut: _CutBox, give_up_at: float | None) -> tuple[Dims, Dims] | None:  # fmt: skip
    """The feasible (point, orientation) that grows the cut box least, lowest point first on ties.

    Candidates are ranked by the bounding volume they would give (cheap) and checked for overlap and
    support (dear) in that order, so the first feasible one is the best.
    """
    ex, ey, ez = extent
    margin, (lx, ly, lz) = cut.margin, cut.minimum  # _CutBox.volume, inlined: this loop is the packer's hot path
    ranked = []
    for point in points:
        px, py, pz = point
        for size in sizes:
            volume = (max(lx, max(ex, px + size[0]) + margin) * max(ly, max(ey, py + size[1]) + margin)
                      * max(lz, max(ez, pz + size[2]) + margin))  # fmt: skip
            ranked.append((volume, pz, py, px, len(ranked), point, size))
    ranked.sort(key=lambda c: c[:5])
    for volume, *_, point, size in ranked:
        if give_up_at is not None and volume >= give_up_at:
            return None
        if _can_place(point, size, space, blocks):
            return point, size
    return None


def _can_place(point: Dims, size: Dims, space: Dims, blocks: Sequence[_Block]) -> bool:
    px, py, pz = point
    tx, ty, tz = px + size[0], py + size[1], pz + size[2]
    if tx > space[0] + _TOL or ty > space[1] + _TOL or tz > space[2] + _TOL:
        return False
    for (bx, by, bz), (bl, bw, bh) in blocks:
        if (px < bx + bl - _TOL and bx < tx - _TOL and py < by + bw - _TOL and by < ty - _TOL
                and pz < bz + bh - _TOL and bz < tz - _TOL):  # fmt: skip
            return False
    if pz <= _TOL:
        return True
    # Stable: the centre of the base lies on the top face of a unit whose top is at this height.
    cx, cy = px + size[0] / 2, py + size[1] / 2
    for (bx, by, bz), (bl, bw, bh) in blocks:
        if abs(bz + bh - pz) <= _TOL and bx - _TOL <= cx <= bx + bl + _TOL and by - _TOL <= cy <= by + bw + _TOL:
            return True
    return False


def _extreme_points(points: set[Dims], blocks: Sequence[_Block], space: Dims) -> set[Dims]:
    """Add the new block's corners and their projections onto the nearest walls; drop covered points."""
    (x, y, z), (l, w, h) = blocks[-1]  # noqa: E741
    new = set(points)
    for corner, axes in (((x + l, y, z), (1, 2)), ((x, y + w, z), (0, 2)), ((x, y, z + h), (0, 1))):
        new.add(corner)
        for axis in axes:
            new.add(_project(corner, axis, blocks))
    sx, sy, sz = space[0] - _TOL, space[1] - _TOL, space[2] - _TOL
    return {p for p in new if p[0] < sx and p[1] < sy and p[2] < sz and not _covered(p, blocks)}


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
    px, py, pz = point
    for (bx, by, bz), (bl, bw, bh) in blocks:
        if (bx - _TOL <= px < bx + bl - _TOL and by - _TOL <= py < by + bw - _TOL
                and bz - _TOL <= pz < bz + bh - _TOL):  # fmt: skip
            return True
    return False


def choose_box(units: Sequence[Unit], boxes: BoxCatalog, machine: OnDemandMachine | None = None) -> BoxChoice:
    """The box with the least board area (all styles) whose padded inside takes every unit.

    With a box-on-demand ``machine`` (the warehouse has one), the box cut to the units' packing
    competes with the standard sizes and the leaner of the two wins. Without either, a custom size
    if the catalog allows them, else no box and a reason that names the oversized item or the
    volume that does not pack.
    """
    standard = None
    for box in boxes.boxes:
        placements = pack_units(units, boxes.usable_mm(box))
        if placements is not None:
            standard = BoxChoice(box, tuple(_shifted(p, boxes.padding_mm) for p in placements))
            break
    also = [standard.placements] if standard is not None else []
    cut = cut_on_demand(units, machine, boxes.padding_mm, also) if machine is not None else None
    if isinstance(cut, BoxChoice) and (standard is None or cut.box.blank_area_m2 < standard.box.blank_area_m2):
        return cut
    if standard is not None:
        return standard
    reason = _unfit_reason(units, boxes)
    if isinstance(cut, str):
        reason += f"; {cut}"
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
            f"item {worst.product_id!r} {format_dims(worst.dims_mm)} mm exceeds every box "
            f"(largest {format_dims(largest.inner_mm)}, {boxes.padding_mm:g} mm padding per side){more}"
        )
    litres = sum(u.volume_mm3 for u in units) / 1e6
    return (
        f"{len(units)} units of total {litres:.1f} L do not pack into any box "
        f"(largest {largest.code} {format_dims(largest.inner_mm)} holds {largest.inner_volume_mm3 / 1e6:.1f} L)"
    )


def packing_extent(placements: Sequence[Placement]) -> Dims:
    """The bounding box of the placed units (positions as placed, padding included in them or not)."""
    low = [min(p.position_mm[i] for p in placements) for i in range(3)]
    high = [max(p.position_mm[i] + p.size_mm[i] for p in placements) for i in range(3)]
    return (high[0] - low[0], high[1] - low[1], high[2] - low[2])


def cut_on_demand(
    units: Sequence[Unit], machine: OnDemandMachine, padding_mm: float, also: Sequence[Sequence[Placement]] = ()
) -> BoxChoice | str:
    """The leanest box the machine cuts to the units' compact packing, over its styles; or why it cannot.

    One unit lies flat (its flattest orientation, longest side along the length); several get the
    tightest compact packing inside the machine's largest size (and any packing in ``also``, e.g. the
    one a standard box took). The inner size is the packing's extent plus the padding on both sides,
    rounded up to the machine's step and at least its minimum.
    """
    usable = [d - 2 * padding_mm for d in machine.max_inner_mm]
    if len(units) == 1:
        size = orientations(units[0].dims_mm)[0]
        if not all(size[i] <= usable[i] + _TOL for i in range(3)):
            fitting = [s for s in orientations(units[0].dims_mm) if all(s[i] <= usable[i] + _TOL for i in range(3))]
            if not fitting:
                return f"the box-on-demand machine cuts at most {format_dims(machine.max_inner_mm)}"
            size = fitting[0]
        placements = [Placement(units[0].product_id, (0.0, 0.0, 0.0), size)]
        candidates = [placements]
    else:  # the exhaustive search pays off for small orders; large ones take the first compact packing
        low = machine.min_inner_mm
        placed = tightest_packing(units, usable, padding_mm, low) if len(units) <= TIGHTEST_MAX_UNITS else pack_units(
            units, usable, compact=True, padding_mm=padding_mm, minimum_mm=low
        )
        candidates = [c for c in (placed, *also) if c]
        if not candidates:
            return f"the units do not pack within the machine's largest cut {format_dims(machine.max_inner_mm)}"
    best: BoxChoice | None = None
    for placements in candidates:
        low = [min(p.position_mm[i] for p in placements) for i in range(3)]
        placements = [dataclasses.replace(p, position_mm=tuple(p.position_mm[i] - low[i] for i in range(3)))
                      for p in placements]  # fmt: skip
        inner = machine.cut_mm([e + 2 * padding_mm for e in packing_extent(placements)])
        if inner is None:
            continue
        for style in machine.styles:
            try:
                area = box_blank_area(style, inner, machine.board)
            except InputError:
                continue
            if best is None or area < best.box.blank_area_m2:  # type: ignore[union-attr]
                box = Box(f"{style}-OD-{format_dims(inner)}", style, inner, machine.board, area, custom=True)
                best = BoxChoice(box, tuple(_shifted(p, padding_mm) for p in placements), "cut on demand")
    return best if best is not None else f"the box-on-demand machine cuts at most {format_dims(machine.max_inner_mm)}"


def _custom_choice(units: Sequence[Unit], boxes: BoxCatalog) -> BoxChoice | str:
    """Pack compactly into the largest custom size, then cut the box to the packing, rounded up.

    Returns:
        The custom box with its placements, or why no custom size can be made.
    """
    custom, pad = boxes.custom, boxes.padding_mm
    placements = pack_units(units, [d - 2 * pad for d in custom.max_inner_mm], compact=True, padding_mm=pad)
    if placements is None:
        return f"no custom size up to {format_dims(custom.max_inner_mm)} takes it either"
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
        area = box_blank_area(custom.style, dims, custom.board)
    except InputError as exc:
        return f"custom size {format_dims(dims)} cannot be made: {exc}"
    box = Box(f"{custom.style}-CUSTOM-{format_dims(dims)}", custom.style, dims, custom.board, area, custom=True)
    return BoxChoice(box, tuple(_shifted(p, pad) for p in placements))
