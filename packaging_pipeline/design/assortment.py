"""Box-set optimisation from order history: the K standard sizes that box every order with the least board.

Why: a warehouse without a box-on-demand machine ships in the sizes it stocks, and the sizes decide the
empty space. The candidates come from the orders themselves: each parcel of the history is packed as
tightly as a machine would cut it (its packing's extent plus the padding), rounded up to a grid, and
every such size is a candidate box. Choosing K of them is a p-median problem, solved exactly with
``scipy.optimize.milp`` (HiGHS): open at most K sizes, send every demand class (parcels of one rounded
size) to an open size it fits (rotations allowed), minimise the board area of all parcels, optionally
plus a weight on their volumetric weight. When the candidates outnumber ``max_candidates`` the most
frequent are kept, plus the envelope of all demand so every parcel still has a box; HiGHS reports the
optimality gap of what it returns within the time limit.

A long history of a large shop (30 nights of 100,000 orders) is sampled: a seeded uniform sample of
``sample_orders`` orders is packed and each demand class's count scaled up by the sampling factor, so
the demand's distribution is the history's (its rare classes may be missed; the envelope still boxes
them) and packing stays within a few minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet_prefix
from packaging_pipeline.core.schemas import ORDERS
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.design.boxes import (
    Box,
    BoxCatalog,
    Dims,
    OnDemandMachine,
    box_blank_area,
    format_dims,
    load_box_catalog,
)
from packaging_pipeline.design.materials import load_materials
from packaging_pipeline.design.right_size import (
    night_catalog,
    outer_mm,
    right_size_night,
    right_size_orders,
    summarise_right_sizing,
    unique_lines,
    volumetric_weight_kg,
)

DEFAULT_GRID_MM = 25.0
"""Demand and candidate sizes are rounded up to this: a stocked range steps in 25 mm, and the model stays small."""
DEFAULT_MAX_CANDIDATES = 400
"""The most frequent demand sizes kept as candidates: 400 solve to optimality in about a minute on 2 cores."""
DEFAULT_SAMPLE_ORDERS = 100_000
"""Histories with more orders are sampled down to this many (uniformly, seeded) before packing."""
DEFAULT_MAX_GAP = 0.05
"""A box set HiGHS could not bring within this optimality gap by the time limit is refused, not written."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate box: its inner size (sorted descending, so length >= width; height as packed), style, board."""

    inner_mm: Dims
    style: str
    board: str
    blank_area_m2: float
    volumetric_kg: float

    def takes(self, need_mm: Sequence[float]) -> bool:
        """Whether a parcel needing ``need_mm`` (padding included) fits, turned any way."""
        return all(n <= c + 1e-9 for n, c in zip(sorted(need_mm), sorted(self.inner_mm), strict=True))


def sample_orders(lines: pd.DataFrame, n: int, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """At most ``n`` whole orders of ``lines`` (every line of a sampled order), and the scale-up factor."""
    keys_ = lines[["order_id", "warehouse_id"]].drop_duplicates()
    if len(keys_) <= n:
        return lines, 1.0
    picked = keys_.sample(n=n, random_state=seed)
    kept = lines.merge(picked, on=["order_id", "warehouse_id"], how="inner")
    return kept, len(keys_) / n


def demand_of_history(per_parcel: pd.DataFrame, grid_mm: float = DEFAULT_GRID_MM, scale: float = 1.0) -> pd.DataFrame:
    """Demand classes: the boxed parcels' floors (extent + padding) rounded up to the grid, with counts
    (``scale`` times the parcels seen, for a sampled history)."""
    fitted = per_parcel[per_parcel["status"] == "fitted"]
    floors = fitted[["floor_length_mm", "floor_width_mm", "floor_height_mm"]].to_numpy(dtype=float)
    rounded = np.ceil(floors / grid_mm - 1e-9) * grid_mm
    rounded = np.maximum(rounded, 20.0)  # the smallest box a dieline makes
    frame = pd.DataFrame(rounded, columns=["length_mm", "width_mm", "height_mm"])
    demand = frame.value_counts().rename("parcels").reset_index().sort_values(
        ["parcels", "length_mm", "width_mm", "height_mm"], ascending=[False, True, True, True], ignore_index=True
    )
    demand["parcels"] = demand["parcels"] * scale
    return demand


def candidates_of(demand: pd.DataFrame, styles: Sequence[str], board: str, max_candidates: int,
                  divisor: float) -> list[Candidate]:  # fmt: skip
    """Each demand size as a box (the leanest of ``styles``), the most frequent first, plus the envelope."""
    sizes = [tuple(float(v) for v in row) for row in demand[["length_mm", "width_mm", "height_mm"]].to_numpy()]
    chosen = sizes[:max_candidates]
    if len(sizes) > max_candidates:  # every parcel must still have a box: the envelope of all of them
        chosen.append(tuple(float(v) for v in np.max(np.sort(np.array(sizes), axis=1), axis=0)[::-1]))
    caliper = load_materials().board(board).caliper_mm
    out = []
    for size in dict.fromkeys(chosen):
        best = None
        for style in styles:
            try:
                area = box_blank_area(style, size, board)
            except InputError:
                continue
            if best is None or area < best[1]:
                best = (style, area)
        if best is None:
            continue
        outer = outer_mm(best[0], size, caliper)
        out.append(Candidate(size, best[0], board, best[1], volumetric_weight_kg(outer, divisor)))
    return out


@dataclasses.dataclass(frozen=True)
class Assortment:
    chosen: list[Candidate]
    objective: float
    mip_gap: float | None
    status: str
    seconds: float
    variables: int
    demand_classes: int
    candidates: int


def choose_sizes(demand: pd.DataFrame, candidates: Sequence[Candidate], k: int, volumetric_weight: float = 0.0,
                 time_limit_s: float = 120.0, max_gap: float = DEFAULT_MAX_GAP) -> Assortment:  # fmt: skip
    """The p-median MILP: at most ``k`` open sizes, every demand class assigned to an open size it fits.

    Cost of a class on a size: parcels x (board m2 + ``volumetric_weight`` x volumetric kg).

    Raises:
        InputError: a demand class fits no candidate, or HiGHS found no solution within the time limit,
            or only one further than ``max_gap`` from optimal (stopped early on a large model, HiGHS
            can return a feasible set far worse than the shipped catalog).
    """
    started = time.perf_counter()
    needs = demand[["length_mm", "width_mm", "height_mm"]].to_numpy(dtype=float)
    counts = demand["parcels"].to_numpy(dtype=float)
    n_c, n_s = len(needs), len(candidates)
    cand_sorted = np.sort(np.array([c.inner_mm for c in candidates]), axis=1)
    need_sorted = np.sort(needs, axis=1)
    fits = np.all(need_sorted[:, None, :] <= cand_sorted[None, :, :] + 1e-9, axis=2)  # [class, candidate]
    homeless = np.flatnonzero(~fits.any(axis=1))
    if len(homeless):
        raise InputError(f"{len(homeless)} demand classes (e.g. {format_dims(needs[homeless[0]])} mm) fit no candidate")
    pair_c, pair_s = np.nonzero(fits)
    unit_cost = np.array([c.blank_area_m2 + volumetric_weight * c.volumetric_kg for c in candidates])
    n_x = len(pair_c)
    # Variables: x (class -> size, continuous in [0, 1]) then y (size open, binary).
    cost = np.concatenate([counts[pair_c] * unit_cost[pair_s], np.zeros(n_s)])
    rows = np.arange(n_x)
    assign = coo_matrix((np.ones(n_x), (pair_c, rows)), shape=(n_c, n_x + n_s))
    link = coo_matrix((np.concatenate([np.ones(n_x), -np.ones(n_x)]),
                       (np.concatenate([rows, rows]), np.concatenate([rows, n_x + pair_s]))),
                      shape=(n_x, n_x + n_s))  # fmt: skip  x <= y
    budget = coo_matrix((np.ones(n_s), (np.zeros(n_s, int), n_x + np.arange(n_s))), shape=(1, n_x + n_s))
    constraints = [
        LinearConstraint(assign.tocsr(), 1.0, 1.0),
        LinearConstraint(link.tocsr(), -np.inf, 0.0),
        LinearConstraint(budget.tocsr(), 0.0, float(k)),
    ]
    integrality = np.concatenate([np.zeros(n_x), np.ones(n_s)])
    result = milp(cost, constraints=constraints, integrality=integrality, bounds=Bounds(0.0, 1.0),
                  options={"time_limit": time_limit_s, "disp": False})  # fmt: skip
    advice = "raise --time-limit, or lower --max-candidates or --history-days"
    if result.x is None:
        raise InputError(f"HiGHS found no box set of {k} sizes within {time_limit_s:g} s: {result.message}; {advice}")
    gap = getattr(result, "mip_gap", None)
    if gap is not None and gap > max_gap:
        raise InputError(f"HiGHS stopped at {time_limit_s:g} s with the box set of {k} sizes {gap:.1%} from optimal "
                         f"(more than {max_gap:.0%}; {n_c} demand sizes x {n_s} candidates); {advice}")  # fmt: skip
    opened = [candidates[s] for s in np.flatnonzero(result.x[n_x:] > 0.5)]
    return Assortment(
        chosen=sorted(opened, key=lambda c: (c.blank_area_m2, c.inner_mm)), objective=float(result.fun),
        mip_gap=gap, status=result.message, seconds=time.perf_counter() - started,
        variables=n_x + n_s, demand_classes=n_c, candidates=n_s,
    )  # fmt: skip


def history_lines(settings: Settings, ds: str, history_days: int) -> pd.DataFrame:
    """Accepted order lines of the nights ``ds - history_days + 1 .. ds`` (a re-delivered line counts once)."""
    lake = open_lake(settings)
    night = keys.parse_ds(ds)
    frames = []
    for back in range(history_days - 1, -1, -1):
        day = (night - dt.timedelta(days=back)).isoformat()
        table = read_parquet_prefix(lake, keys.accepted_prefix("orders", day), ORDERS.accepted_schema)
        if table is not None:
            frames.append(table.to_pandas())
    if not frames:
        raise InputError(f"no accepted orders in the {history_days} nights up to ds={ds} in {lake.uri}: ingest them "
                         "first (`packaging-pipeline ingest --start ... --end ...`)")  # fmt: skip
    return unique_lines(pd.concat(frames, ignore_index=True))


def catalog_yaml(chosen: Sequence[Candidate], base: BoxCatalog, ds: str, history_days: int) -> str:
    """A box catalog the right-sizer reads: the chosen sizes, the base catalog's padding and machines."""
    lines = [
        f"# Box set optimised from {history_days} nights of orders up to {ds} "
        f"(packaging-pipeline box-assortment); {len(chosen)} sizes.",
        "version: 1",
        f"padding_mm: {base.padding_mm:g}",
        f"volumetric_divisor: {base.volumetric_divisor:g}",
    ]
    split = base.parcel_split
    if split.enabled:
        lines.append(f"parcel_split: {{enabled: true, max_parcels: {split.max_parcels}, "
                     f"min_board_saving: {split.min_board_saving:g}}}")  # fmt: skip
    if base.machines:
        lines.append("on_demand:")
        lines.append("  machines:")
        for warehouse, m in sorted(base.machines.items()):
            lines.append(f"    {warehouse}: {_machine_yaml(m)}")
        lines.append(f"  what_if: {_machine_yaml(base.what_if)}")
    lines.append("boxes:")
    for i, c in enumerate(chosen, start=1):
        inner = ", ".join(f"{v:g}" for v in c.inner_mm)
        lines.append(f'  - {{code: "{c.style}-A{i}", style: "{c.style}", inner_mm: [{inner}], board: {c.board}}}')
    return "\n".join(lines) + "\n"


def _machine_yaml(m: OnDemandMachine) -> str:
    def dims(d: Sequence[float]) -> str:
        return "[" + ", ".join(f"{v:g}" for v in d) + "]"

    styles = ", ".join(f'"{s}"' for s in m.styles)
    return (f"{{styles: [{styles}], board: {m.board}, step_mm: {m.step_mm:g}, min_inner_mm: {dims(m.min_inner_mm)}, "
            f"max_inner_mm: {dims(m.max_inner_mm)}}}")  # fmt: skip


def sizes_from_history(
    lines: pd.DataFrame, products: pd.DataFrame, base: BoxCatalog, sizes: int, styles: Sequence[str] = ("0201", "0427"),
    board: str = "B", volumetric_weight: float = 0.0, grid_mm: float = DEFAULT_GRID_MM,
    max_candidates: int = DEFAULT_MAX_CANDIDATES, time_limit_s: float = 120.0, max_gap: float = DEFAULT_MAX_GAP,
    sample: int = DEFAULT_SAMPLE_ORDERS,
) -> tuple[Assortment, dict[str, Any]]:  # fmt: skip
    """The MILP's box set for a history of order lines (no I/O), and what the history was.

    Every order (of a sample of at most ``sample``) is packed as tightly as a machine would cut it:
    its floor is the demand.
    """
    started = time.perf_counter()
    packed, scale = sample_orders(lines, sample)
    tight = OnDemandMachine(tuple(styles), board, 1.0, (20.0, 20.0, 20.0), base.largest.inner_mm)
    sizing = dataclasses.replace(base, machines={}, what_if=tight)
    parcels = right_size_orders(packed, products, sizing, on_demand_everywhere=True)
    packing_s = time.perf_counter() - started
    demand = demand_of_history(parcels, grid_mm, scale)
    candidates = candidates_of(demand, styles, board, max_candidates, base.volumetric_divisor)
    result = choose_sizes(demand, candidates, sizes, volumetric_weight, time_limit_s, max_gap)
    packed_orders = int(packed[["order_id", "warehouse_id"]].drop_duplicates().shape[0])
    history = {
        "history_orders": round(packed_orders * scale),  # the scale is history orders / packed orders
        "packed_orders": packed_orders,
        "history_parcels": int(len(parcels)), "sample_scale": round(scale, 4),
        "history": summarise_right_sizing(parcels) | {"unboxed_orders": None},
        "packing_seconds": round(packing_s, 3),
    }  # fmt: skip
    return result, history


def box_assortment(
    settings: Settings, ds: str, history_days: int, sizes: int, styles: Sequence[str] = ("0201", "0427"),
    board: str = "B", base_catalog: str | None = None, volumetric_weight: float = 0.0,
    grid_mm: float = DEFAULT_GRID_MM, max_candidates: int = DEFAULT_MAX_CANDIDATES, time_limit_s: float = 120.0,
    max_gap: float = DEFAULT_MAX_GAP, sample: int = DEFAULT_SAMPLE_ORDERS,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Choose ``sizes`` standard boxes from the order history up to ``ds``; judge them on night ``ds + 1``.

    Returns:
        The new catalog's YAML text and a report: the solver's figures and, for the held-out night,
        board m2, mean ESR, share over 50% and parcels of the new set beside the base catalog.
    """
    started = time.perf_counter()
    base = load_box_catalog(base_catalog)
    lines = history_lines(settings, ds, history_days)
    _, products = night_catalog(open_lake(settings), ds)
    t_read = time.perf_counter()
    result, history = sizes_from_history(lines, products, base, sizes, styles, board, volumetric_weight, grid_mm,
                                         max_candidates, time_limit_s, max_gap, sample)  # fmt: skip
    text = catalog_yaml(result.chosen, base, ds, history_days)
    chosen = BoxCatalog(tuple(Box(f"{c.style}-A{i}", c.style, c.inner_mm, c.board, c.blank_area_m2)
                              for i, c in enumerate(result.chosen, start=1)), base.padding_mm, source="box-assortment",
                         parcel_split=base.parcel_split)  # fmt: skip
    held_out = (keys.parse_ds(ds) + dt.timedelta(days=1)).isoformat()
    judged = {}
    for name, boxes in (("optimised", chosen), ("current", base.stock_only())):
        try:
            _, summary = right_size_night(settings, held_out, boxes=boxes)
        except InputError as exc:
            judged[name] = {"error": str(exc)}
            continue
        judged[name] = {k: summary[k] for k in ("orders", "parcels", "board_m2_total", "mean_esr", "p95_esr",
                                                 "share_esr_over_50pct", "own_packaging", "split_orders",
                                                 "volumetric_weight_kg_total")}  # fmt: skip
    report = {
        "ds": ds, "history_days": history_days, "sizes": sizes, "styles": list(styles), "board": board,
        **history,
        "demand_classes": result.demand_classes, "candidates": result.candidates, "variables": result.variables,
        "objective_board_m2": round(result.objective, 4), "mip_gap": result.mip_gap, "solver_status": result.status,
        "seconds": {"read": round(t_read - started, 3), "packing": history["packing_seconds"],
                    "solve": round(result.seconds, 3), "total": round(time.perf_counter() - started, 3)},
        "chosen": [{"inner_mm": list(c.inner_mm), "style": c.style, "board": c.board,
                    "blank_area_m2": round(c.blank_area_m2, 6)} for c in result.chosen],
        "held_out_ds": held_out, "held_out": judged,
        "board_ratio": (round(judged["optimised"]["board_m2_total"] / judged["current"]["board_m2_total"], 4)
                        if "board_m2_total" in judged.get("optimised", {}) and judged["current"].get("board_m2_total")
                        else None),
    }  # fmt: skip
    return text, report
