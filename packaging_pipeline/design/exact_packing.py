"""Exact packing of a few units by MILP: the yardstick the packing heuristic is measured against.

Whether ``n`` cuboids fit a box, rotations allowed, is decided exactly by the classic
relative-position model (Chen, Lee and Shen, 1995): per unit an orientation and a corner, per pair
of units one of six "left of / behind / below" relations enforced with big-M constraints. It is
solved with ``scipy.optimize.milp`` (HiGHS). It ignores the heuristic's support rule (a unit may
float), so it is a lower bound on what any packer that stacks can reach. Practical up to about
five units; tests and the benchmark use it, the nightly path does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from packaging_pipeline.design.boxes import Box, BoxCatalog
from packaging_pipeline.design.packing import Unit, orientations

MAX_EXACT_UNITS = 6


def fits_exactly(units: Sequence[Unit], space_mm: Sequence[float], time_limit_s: float = 20.0) -> bool:
    """Whether the units fit ``space_mm`` in some arrangement (rotations allowed, no support rule).

    Raises:
        ValueError: more than ``MAX_EXACT_UNITS`` units, or HiGHS hit the time limit undecided.
    """
    if len(units) > MAX_EXACT_UNITS:
        raise ValueError(f"exact packing is for at most {MAX_EXACT_UNITS} units, got {len(units)}")
    space = np.asarray(space_mm, dtype=float)
    shapes = [[np.asarray(o) for o in orientations(u.dims_mm) if np.all(np.asarray(o) <= space + 1e-9)] for u in units]
    if any(not s for s in shapes):
        return False
    if len(units) == 1:
        return True
    n = len(units)
    pos = lambda i, a: 3 * i + a  # noqa: E731 - column of unit i's corner on axis a
    col = 3 * n
    orient: list[list[int]] = []
    for s in shapes:
        orient.append(list(range(col, col + len(s))))
        col += len(s)
    pairs = list(itertools.combinations(range(n), 2))
    rel = {}
    for i, j in pairs:
        for r in range(6):
            rel[i, j, r] = col
            col += 1
    rows, lo, hi = [], [], []

    def add(coefs: dict[int, float], low: float, high: float) -> None:
        row = np.zeros(col)
        for c, v in coefs.items():
            row[c] += v
        rows.append(row)
        lo.append(low)
        hi.append(high)

    for i in range(n):
        add(dict.fromkeys(orient[i], 1.0), 1.0, 1.0)  # one orientation each
        for a in range(3):  # inside the box: x + size <= space
            add({pos(i, a): 1.0, **{c: s[a] for c, s in zip(orient[i], shapes[i], strict=True)}}, -np.inf, space[a])
    for i, j in pairs:
        add({rel[i, j, r]: 1.0 for r in range(6)}, 1.0, np.inf)  # at least one separating relation
        for a in range(3):
            for first, second, r in ((i, j, 2 * a), (j, i, 2 * a + 1)):
                # first before second on axis a: x_f + size_f <= x_s + M (1 - b)
                coefs = {pos(first, a): 1.0, pos(second, a): -1.0, rel[i, j, r]: space[a]}
                for c, s in zip(orient[first], shapes[first], strict=True):
                    coefs[c] = coefs.get(c, 0.0) + s[a]
                add(coefs, -np.inf, space[a])
    integrality = np.ones(col)
    integrality[: 3 * n] = 0
    upper = np.ones(col)
    upper[: 3 * n] = np.tile(space, n)
    result = milp(
        np.zeros(col), constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
        bounds=Bounds(np.zeros(col), upper), options={"time_limit": time_limit_s},
    )  # fmt: skip
    if result.status == 0:
        return True
    if result.status == 2:  # proven infeasible
        return False
    raise ValueError(f"HiGHS could not decide the packing of {n} units within {time_limit_s:g} s: {result.message}")


def leanest_box_exactly(units: Sequence[Unit], boxes: BoxCatalog) -> Box | None:
    """The standard box with the least board area that the units fit exactly (padding kept), or None."""
    for box in boxes.boxes:
        if fits_exactly(units, boxes.usable_mm(box)):
            return box
    return None
