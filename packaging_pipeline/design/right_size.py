"""Right-sizing: choose the box each order shipping next goes out in.

Why: empty space in a box is board, filler and freight paid for nothing, and the EU PPWR
(Regulation (EU) 2025/40, Art. 24) caps the empty space ratio (ESR) of e-commerce packaging at 50%.
So every order's units are packed, rotations allowed (:mod:`packaging_pipeline.design.packing`),
into the box of the catalog (:mod:`packaging_pipeline.design.boxes`) that takes them with the least
board, and the ESR the warehouse will ship is reported per order and per night.

Shipping next: night ``ds`` boxes the orders whose ``ship_date`` is ``ds + 1``. Orders carry a ship
date one or more days after they were placed (the sample data draws one or two) and the night runs
once day ``ds`` is complete, so each order is boxed exactly once, on the night before it ships. Its
lines are gathered from the accepted order partitions of the trailing ``lookback_days`` nights, so an
order placed days ahead is still found. Product dimensions come from the newest accepted catalog
snapshot at or before ``ds`` (ARCHITECTURE.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json, read_parquet, read_parquet_prefix, write_json, write_parquet
from packaging_pipeline.core.progress import track
from packaging_pipeline.core.schemas import CATALOG, ORDERS
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.design.boxes import (
    BoxCatalog,
    Dims,
    OnDemandMachine,
    format_dims,
    load_box_catalog,
)
from packaging_pipeline.design.materials import load_materials
from packaging_pipeline.design.packing import BoxChoice, Unit, choose_box, packing_extent

DEFAULT_LOOKBACK_DAYS = 14
"""How many nights of accepted orders (ending at ``ds``) are searched for lines shipping next."""

MAX_UNITS_PER_ORDER = 200
"""Orders with more units are reported, not packed: packing time grows steeply with the unit count."""

PPWR_ESR_LIMIT = 0.5
"""Art. 24 PPWR empty-space limit, used only to report the share of orders above it (the gate has its own policy)."""

ORDER_COLUMNS = ("order_id", "warehouse_id", "ship_date", "product_id", "quantity")
CATALOG_COLUMNS = ("product_id", "length_mm", "width_mm", "height_mm")

RESULT_COLUMNS = (
    "order_id", "warehouse_id", "ship_date", "guest", "status", "style", "box_code", "board_grade",
    "custom_size", "inner_length_mm", "inner_width_mm", "inner_height_mm", "lines", "units",
    "returned_units", "item_volume_mm3", "item_volume_l", "box_volume_mm3", "box_volume_l", "esr",
    "board_area_m2", "reason",
    "parcel", "parcels", "on_demand", "products", "outer_length_mm", "outer_width_mm", "outer_height_mm",
    "esr_outer", "floor_length_mm", "floor_width_mm", "floor_height_mm", "esr_floor", "volumetric_weight_kg",
    "esr_reason",
)  # fmt: skip
"""One row per parcel of an (order, warehouse, ship date); most orders are one parcel.

``status``: fitted (a standard, custom or on-demand box), own_packaging (a unit no box or machine
takes ships in its sales packaging, PPWR Art. 24(5)), missing_product, returns_only. ``esr`` is on the
inner basis (box inner volume), ``esr_outer`` on the outer (inner plus the board's caliper), and
``esr_floor`` is the physical floor: a box of exactly the packing's extent plus the padding.
``units``/``lines``/``products`` are the parcel's; ``returned_units`` the order's."""

SPLIT_SEARCH_UNITS = 24
"""Orders one box takes are considered for a split that saves board only up to this many units."""

SPLIT_SEARCH_MIN_ESR = PPWR_ESR_LIMIT
"""Only a box over this empty space ratio is searched for a split that saves board. The search doubles the
packing work of each order it tries; on a generated night of 10,000 orders with a machine everywhere,
searching above the PPWR limit found 84 splits for 2% more time than no search, searching every box 166
splits for 2.8x the time."""

SPLIT_TO_SAVE = "split to save board"
"""How the ``reason`` of a parcel of an order split to save board begins (``BoxCatalog.parcel_split``)."""

SPLIT_CHUNK_UNITS = 50
"""Orders with more units than ``MAX_UNITS_PER_ORDER`` are first cut into chunks of this many."""


def outer_mm(style: str, inner_mm: Sequence[float], caliper_mm: float) -> Dims:
    """Outer size from the board's caliper: one wall each side; a 0201's top and bottom are two flap layers."""
    length, width, height = (float(d) for d in inner_mm)
    lids = 4 if style == "0201" else 2
    return (length + 2 * caliper_mm, width + 2 * caliper_mm, height + lids * caliper_mm)


def empty_space_ratio(item_volume_mm3: float, dims_mm: Sequence[float]) -> float:
    """PPWR Art. 24(3): the volume of the packaging minus the sales packaging inside, over the former.

    Void fill (paper, air cushions, foam) is empty space: only the units' bounding boxes count as full.
    """
    volume = math.prod(float(d) for d in dims_mm)
    return (volume - item_volume_mm3) / volume


def volumetric_weight_kg(outer_dims_mm: Sequence[float], divisor: float) -> float:
    """What carriers bill by size: L x W x H of the outer box in cm, over the divisor (5000 by default)."""
    return math.prod(float(d) / 10.0 for d in outer_dims_mm) / divisor


def right_size_orders(
    orders: pd.DataFrame, catalog: pd.DataFrame, boxes: BoxCatalog, on_demand_everywhere: bool = False
) -> pd.DataFrame:
    """Parcel every order and measure its empty space; pure, no I/O.

    Lines with a negative quantity are returns and are not packed; positive quantities expand into
    units. An order whose units fit no single box is split into several parcels, each right-sized; a
    unit no box or machine takes ships in its own packaging. At a warehouse with a box-on-demand
    machine (``boxes.machines``, or every warehouse with ``on_demand_everywhere``) each parcel gets
    the leaner of the best standard box and the machine's cut. Guests (null customer) are boxed like
    everyone; customer ids never reach the output.

    Args:
        orders: order lines (``ORDER_COLUMNS``; a ``customer_key``/``customer_id`` column only marks guests).
        catalog: one snapshot with ``CATALOG_COLUMNS`` in mm (and ``fragile``, when known).
        boxes: the box catalog.
        on_demand_everywhere: plan as if every warehouse had a machine (a planner's what-if).

    Returns:
        One row per parcel with ``RESULT_COLUMNS``.
    """
    _require_columns(orders, ORDER_COLUMNS, "orders")
    _require_columns(catalog, CATALOG_COLUMNS, "catalog")
    products = catalog.drop_duplicates("product_id", keep="last")
    fragile_col = products["fragile"] if "fragile" in products else pd.Series(False, index=products.index)
    sizer = _Sizer(
        boxes,
        dims={
            str(pid): (float(length), float(width), float(height))
            for pid, length, width, height in products[list(CATALOG_COLUMNS)].itertuples(index=False)
        },
        fragile={str(pid) for pid, f in zip(products["product_id"], fragile_col, strict=True) if bool(f) is True},
        everywhere=on_demand_everywhere,
    )
    if orders.empty:
        return pd.DataFrame([], columns=list(RESULT_COLUMNS))
    customer = next((c for c in ("customer_key", "customer_id") if c in orders), None)
    frame = orders.assign(_q=orders["quantity"].astype("int64"), _p=orders["product_id"].astype(str))
    frame = frame.sort_values(["order_id", "warehouse_id", "ship_date"], kind="stable")
    keys_ = list(zip(frame["order_id"], frame["warehouse_id"], frame["ship_date"], strict=True))
    qty, pid = frame["_q"].to_numpy(), frame["_p"].to_numpy()
    guest = frame[customer].isna().to_numpy() if customer else np.zeros(len(frame), bool)
    rows: list[dict[str, Any]] = []
    start = 0
    with track("right-sizing", len(set(keys_)), "orders") as done:
        for i in range(1, len(keys_) + 1):
            if i < len(keys_) and keys_[i] == keys_[start]:
                continue
            order_id, warehouse_id, ship_date = keys_[start]
            rows.extend(sizer.order(order_id, warehouse_id, ship_date, bool(guest[start:i].all()), pid[start:i],
                                    qty[start:i]))  # fmt: skip
            done.advance()
            start = i
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


_Plan = tuple[list[tuple[list[Unit], BoxChoice | None]], str | None]
"""An order's parcels (units and box, no box for own packaging) and why it was split to save board, if it was."""


class _Sizer:
    """Sizes orders one by one, remembering the parcels of unit sets it has sized before."""

    def __init__(self, boxes: BoxCatalog, dims: Mapping[str, Dims], fragile: set[str], everywhere: bool):
        self.boxes, self.dims, self.fragile, self.everywhere = boxes, dims, fragile, everywhere
        self.cache: dict[tuple[Any, ...], _Plan] = {}
        self.chosen: dict[tuple[Any, ...], BoxChoice] = {}
        self.calipers: dict[str, float] = {}
        self.smallest_area = min(b.blank_area_m2 for b in boxes.boxes)

    def order(self, order_id: Any, warehouse_id: Any, ship_date: Any, guest: bool, pids: np.ndarray,
              qty: np.ndarray) -> list[dict[str, Any]]:  # fmt: skip
        base: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
        sale = qty > 0
        base.update(
            order_id=order_id, warehouse_id=warehouse_id, ship_date=ship_date, guest=guest, custom_size=False,
            on_demand=False, lines=int(sale.sum()), units=int(qty[sale].sum()), returned_units=int(-qty[~sale].sum()),
            parcel=1, parcels=1,
        )  # fmt: skip
        if not sale.any():
            reason = "only returned lines (negative quantity): nothing to ship"
            return [{**base, "status": "returns_only", "reason": reason}]
        missing = sorted({p for p in pids[sale]} - set(self.dims))
        if missing:
            names = ", ".join(repr(p) for p in missing)
            return [{**base, "status": "missing_product", "reason": f"product {names} not in the catalog snapshot"}]
        units = [Unit(p, self.dims[p]) for p, q in zip(pids[sale], qty[sale], strict=True) for _ in range(int(q))]
        machine = self.boxes.machine_for(warehouse_id, self.everywhere)
        key = (machine, tuple(sorted(u.dims_mm for u in units)))
        if key not in self.cache:
            self.cache[key] = self._parcels(units, machine)
        planned, note = self.cache[key]
        # The cache holds parcels by shape; hand this order's own products back to them, shape by shape.
        own: dict[Dims, list[str]] = {}
        for u in units:
            own.setdefault(u.dims_mm, []).append(u.product_id)
        rows = []
        for n, (parcel_units, choice) in enumerate(planned, start=1):
            ids = [own[u.dims_mm].pop() for u in parcel_units]
            row = self._row({**base, "parcel": n, "parcels": len(planned)}, ids, parcel_units, choice, machine)
            if note is not None:
                row["reason"] = "; ".join(r for r in (row["reason"], note) if r)
            rows.append(row)
        return rows

    def _parcels(self, units: list[Unit], machine: OnDemandMachine | None) -> _Plan:
        """One parcel when a box takes every unit (split only to save board); else first-fit-decreasing into as
        few boxes as it takes. Returns the parcels and, for a split that saves board, what it saves."""
        alone = {u.dims_mm: self._alone(u, machine) for u in units}
        own = [u for u in units if alone[u.dims_mm].box is None]
        rest = [u for u in units if alone[u.dims_mm].box is not None]
        out: list[tuple[list[Unit], BoxChoice | None]] = []
        note = None
        if rest:
            whole = self._choose(rest, machine) if len(rest) <= MAX_UNITS_PER_ORDER else None
            if whole is not None and whole.box is not None:
                saving = self._split_to_save(rest, whole, machine, self.boxes.parcel_split.max_parcels)
                if len(saving) > 1:
                    note = self._split_note(saving, whole)
                out.extend(saving)
            else:
                bins: list[tuple[list[Unit], BoxChoice]] = []
                for u in sorted(rest, key=lambda u: (-u.volume_mm3, -max(u.dims_mm))):
                    for j, (members, _) in enumerate(bins):
                        if len(members) >= SPLIT_CHUNK_UNITS:
                            continue
                        trial = choose_box([*members, u], self.boxes, machine)
                        if trial.box is not None:
                            bins[j] = ([*members, u], trial)
                            break
                    else:
                        bins.append(([u], alone[u.dims_mm]))
                out.extend(bins)
        out.extend(([u], None) for u in own)
        return out, note

    def _choose(self, units: list[Unit], machine: OnDemandMachine | None) -> BoxChoice:
        """``choose_box``, remembered by the units' shapes: split candidates repeat across orders."""
        key = (machine, tuple(sorted(u.dims_mm for u in units)))
        if key not in self.chosen:
            self.chosen[key] = choose_box(units, self.boxes, machine)
        return self.chosen[key]

    def _split_to_save(self, units: list[Unit], whole: BoxChoice, machine: OnDemandMachine | None,
                       budget: int) -> list[tuple[list[Unit], BoxChoice]]:  # fmt: skip
        """Ship units one box takes as several parcels when that saves board (``BoxCatalog.parcel_split``).

        Only a box over the PPWR limit is searched (``SPLIT_SEARCH_MIN_ESR``). Candidates split the units
        by shape: one shape's units (a folded shirt, three jars) apart from the rest. The leanest candidate
        whose parcels together take ``min_board_saving`` less board and no more volumetric weight than the
        one box wins, and its parts may be split again, up to ``max_parcels`` parcels in all.
        """
        policy = self.boxes.parcel_split
        shapes = sorted({u.dims_mm for u in units})
        if not policy.enabled or budget < 2 or len(shapes) < 2 or len(units) > SPLIT_SEARCH_UNITS:
            return [(units, whole)]
        assert whole.box is not None
        if empty_space_ratio(sum(u.volume_mm3 for u in units), whole.box.inner_mm) <= SPLIT_SEARCH_MIN_ESR:
            return [(units, whole)]
        board_limit = whole.box.blank_area_m2 * (1.0 - policy.min_board_saving)
        weight_limit = self._volumetric_kg(whole) + 1e-9
        best: tuple[float, list[Unit], BoxChoice, list[Unit], BoxChoice] | None = None
        for shape in shapes:
            part = [u for u in units if u.dims_mm == shape]
            other = [u for u in units if u.dims_mm != shape]
            a, b = self._choose(part, machine), self._choose(other, machine)
            if a.box is None or b.box is None:
                continue
            board = a.box.blank_area_m2 + b.box.blank_area_m2
            if board <= board_limit and self._volumetric_kg(a) + self._volumetric_kg(b) <= weight_limit:
                if best is None or board < best[0]:
                    best = (board, part, a, other, b)
        if best is None:
            return [(units, whole)]
        _, part, a, other, b = best
        first = self._split_to_save(part, a, machine, budget - 1)
        return [*first, *self._split_to_save(other, b, machine, budget - len(first))]

    def _split_note(self, parcels: list[tuple[list[Unit], BoxChoice]], whole: BoxChoice) -> str:
        board = sum(c.box.blank_area_m2 for _, c in parcels if c.box is not None)
        weight = sum(self._volumetric_kg(c) for _, c in parcels)
        assert whole.box is not None
        return (f"{SPLIT_TO_SAVE}: {len(parcels)} parcels take {board:.3f} m2 of board and {weight:.2f} kg "
                f"volumetric weight, one box {whole.box.blank_area_m2:.3f} m2 and {self._volumetric_kg(whole):.2f} kg")

    def _volumetric_kg(self, choice: BoxChoice) -> float:
        assert choice.box is not None
        outer = outer_mm(choice.box.style, choice.box.inner_mm, self.caliper(choice.box.board))
        return volumetric_weight_kg(outer, self.boxes.volumetric_divisor)

    def _alone(self, unit: Unit, machine: OnDemandMachine | None) -> BoxChoice:
        """The box of one unit by itself: most orders share a few thousand products."""
        return self._choose([unit], machine)

    def caliper(self, board: str) -> float:
        if board not in self.calipers:
            self.calipers[board] = load_materials().board(board).caliper_mm
        return self.calipers[board]

    def _row(self, row: dict[str, Any], ids: list[str], units: list[Unit], choice: BoxChoice | None,
             machine: OnDemandMachine | None) -> dict[str, Any]:  # fmt: skip
        counts: dict[str, int] = {}
        for p in ids:
            counts[p] = counts.get(p, 0) + 1
        item_volume = sum(u.volume_mm3 for u in units)
        row.update(
            units=len(units), lines=len(counts), products=";".join(f"{p}x{n}" for p, n in sorted(counts.items())),
            item_volume_mm3=item_volume, item_volume_l=item_volume / 1e6,
        )  # fmt: skip
        if choice is None or choice.box is None:
            worst = max(units, key=lambda u: u.volume_mm3)
            cut = f" and the box-on-demand machine's largest cut {format_dims(machine.max_inner_mm)}" if machine else ""
            reason = (f"ships in its own packaging (PPWR Art. 24(5)): {format_dims(worst.dims_mm)} mm exceeds every "
                      f"box{cut}")  # fmt: skip
            return {**row, "status": "own_packaging", "reason": reason}
        box, pad = choice.box, self.boxes.padding_mm
        extent = packing_extent(choice.placements)
        floor = tuple(e + 2 * pad for e in extent)
        outer = outer_mm(box.style, box.inner_mm, self.caliper(box.board))
        volume = box.inner_volume_mm3
        esr = empty_space_ratio(item_volume, box.inner_mm)
        on_demand = choice.reason == "cut on demand"
        row.update(
            status="fitted", style=box.style, box_code=box.code, board_grade=box.board, custom_size=box.custom,
            on_demand=on_demand, inner_length_mm=box.inner_mm[0], inner_width_mm=box.inner_mm[1],
            inner_height_mm=box.inner_mm[2], box_volume_mm3=volume, box_volume_l=volume / 1e6, esr=esr,
            board_area_m2=box.blank_area_m2, reason=None if on_demand else choice.reason,
            outer_length_mm=outer[0], outer_width_mm=outer[1], outer_height_mm=outer[2],
            esr_outer=empty_space_ratio(item_volume, outer), floor_length_mm=floor[0], floor_width_mm=floor[1],
            floor_height_mm=floor[2], esr_floor=empty_space_ratio(item_volume, floor),
            volumetric_weight_kg=volumetric_weight_kg(outer, self.boxes.volumetric_divisor),
        )  # fmt: skip
        if esr > PPWR_ESR_LIMIT:
            row["esr_reason"] = self._over_limit_reason(row, units, ids, box, floor, machine)
        return row

    def _over_limit_reason(self, row: Mapping[str, Any], units: list[Unit], ids: list[str], box: Any,
                           floor: Sequence[float], machine: OnDemandMachine | None) -> str:  # fmt: skip
        """Why a parcel is over the 50% limit, in the terms Art. 24(2) allows for; else the gate's rule."""
        if row["esr_floor"] > PPWR_ESR_LIMIT and len(units) == 1:
            return "small item: even a box of its own size plus the clearance is over 50% empty (PPWR Art. 24(2))"
        if machine is not None and row["on_demand"] and any(
            b > f + machine.step_mm + 1e-9 for b, f in zip(box.inner_mm, floor, strict=True)
        ):
            return "label space: the machine's smallest cut keeps room for the shipping label (PPWR Art. 24(2))"
        if not row["on_demand"] and box.blank_area_m2 <= self.smallest_area + 1e-12:
            return "smaller than the smallest box the warehouse stocks (PPWR Art. 24(2), small items)"
        if any(p in self.fragile for p in ids):
            return "fragile: the box keeps room for cushioning (PPWR Art. 24(2))"
        if len(units) > 1:
            return "several products: their shapes leave space between them (PPWR Art. 24(2))"
        return "over the 50% limit with no exemption: fails the gate's max_esr rule unless a leaner box is added"


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lack the columns {missing}; right-sizing needs {list(columns)}")


def _mean(values: pd.Series) -> float | None:
    values = values.astype(float)
    return round(float(values.mean()), 4) if len(values) else None


ESR_HISTOGRAM_BINS = 10


def esr_histogram(esr: np.ndarray) -> list[int]:
    """Parcels per tenth of ESR: [0, 10%), [10%, 20%), ... [90%, 100%]; the report draws it."""
    bins = np.clip(np.floor(np.asarray(esr, dtype=float) * ESR_HISTOGRAM_BINS), 0, ESR_HISTOGRAM_BINS - 1)
    return [int(n) for n in np.bincount(bins.astype(int), minlength=ESR_HISTOGRAM_BINS)]


def summarise_right_sizing(per_order: pd.DataFrame) -> dict[str, Any]:
    """Night totals an operator and an analyst read first: parcels, ESR spread on both bases, board used.

    ``mean_esr``, ``p95_esr`` and ``share_esr_over_50pct`` are on the inner basis, over the boxed
    parcels; ``*_outer`` on the outer basis; ``mean_esr_floor`` is the physical floor's mean and
    ``esr_to_floor`` the ratio of the two means.
    """
    to_ship = per_order[per_order["status"] != "returns_only"]
    fitted = to_ship[to_ship["status"] == "fitted"]
    esr = fitted["esr"].astype(float).to_numpy()
    outer = fitted["esr_outer"].astype(float).to_numpy()
    item_total, box_total = float(fitted["item_volume_mm3"].sum()), float(fitted["box_volume_mm3"].sum())
    unboxed = to_ship[to_ship["status"] != "fitted"]
    orders = to_ship.drop_duplicates(["order_id", "warehouse_id", "ship_date"])
    over = fitted[fitted["esr"].astype(float) > PPWR_ESR_LIMIT]
    floor_mean = _mean(fitted["esr_floor"])
    mean_esr = round(float(esr.mean()), 4) if len(esr) else None
    single = fitted[fitted["units"] == 1]
    return {
        "esr_basis": "inner (box inner volume); *_outer: outer dimensions from the board caliper",
        "orders": len(orders),
        "parcels": len(to_ship),
        "fitted": len(fitted),
        "split_orders": int(orders["parcels"].astype(int).gt(1).sum()) if len(orders) else 0,
        "split_to_save_orders": int(orders["reason"].fillna("").str.contains(SPLIT_TO_SAVE, regex=False).sum()),
        "custom_sizes": int((fitted["custom_size"].astype(bool) & ~fitted["on_demand"].astype(bool)).sum()),
        "on_demand_parcels": int(fitted["on_demand"].astype(bool).sum()),
        "own_packaging": int((to_ship["status"] == "own_packaging").sum()),
        "unfit": int((to_ship["status"] == "unfit").sum()),
        "missing_product": int((to_ship["status"] == "missing_product").sum()),
        "returns_only": int((per_order["status"] == "returns_only").sum()),
        "unboxed_orders": [
            {"order_id": r.order_id, "warehouse_id": r.warehouse_id, "status": r.status, "reason": r.reason}
            for r in unboxed.itertuples(index=False)
        ],
        "units": int(to_ship["units"].sum()),
        "mean_esr": mean_esr,
        "p95_esr": round(float(np.percentile(esr, 95)), 4) if len(esr) else None,
        "share_esr_over_50pct": round(float((esr > PPWR_ESR_LIMIT).mean()), 4) if len(esr) else None,
        "mean_esr_outer": round(float(outer.mean()), 4) if len(outer) else None,
        "p95_esr_outer": round(float(np.percentile(outer, 95)), 4) if len(outer) else None,
        "share_esr_outer_over_50pct": round(float((outer > PPWR_ESR_LIMIT).mean()), 4) if len(outer) else None,
        "mean_esr_floor": floor_mean,
        "esr_to_floor": round(mean_esr / floor_mean, 4) if mean_esr is not None and floor_mean else None,
        "single_unit": {"parcels": len(single), "mean_esr": _mean(single["esr"]),
                        "mean_esr_floor": _mean(single["esr_floor"])},  # fmt: skip
        "over_50pct_reasons": {str(k): int(v) for k, v in over["esr_reason"].value_counts().sort_index().items()},
        "volume_weighted_esr": round(1.0 - item_total / box_total, 4) if box_total else None,
        "esr_histogram": esr_histogram(esr),
        "board_m2_total": round(float(fitted["board_area_m2"].sum()), 3),
        "volumetric_weight_kg_total": round(float(fitted["volumetric_weight_kg"].astype(float).sum()), 3),
        "per_style": {str(k): int(v) for k, v in fitted["style"].value_counts().sort_index().items()},
        "per_box": {str(k): int(v) for k, v in fitted["box_code"].value_counts().sort_index().items()},
    }


def order_records(per_order: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing values become None, not NaN."""
    return per_order.astype(object).where(per_order.notna(), None).to_dict(orient="records")


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
    return unique_lines(pd.concat(frames, ignore_index=True)), read


def unique_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Each order line once, by the orders contract's line identity (the first delivery wins, as in ingest)."""
    return lines.loc[~ORDERS.identity_of(lines).duplicated()].reset_index(drop=True)


def night_catalog(lake: Lake, ds: str) -> tuple[str, pd.DataFrame]:
    """The newest accepted catalog snapshot at or before ``ds``: its ds and its products."""
    snapshot = catalog_snapshot_ds(lake, ds)
    schema = CATALOG.accepted_schema
    table = read_parquet_prefix(lake, keys.accepted_prefix("catalog", snapshot), schema)
    return snapshot, (table if table is not None else schema.empty_table()).to_pandas()


def right_size_night(
    settings: Settings,
    ds: str,
    boxes: BoxCatalog | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    shipping: tuple[pd.DataFrame, list[str]] | None = None,
    on_demand_everywhere: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Right-size the orders shipping on ``ds + 1`` (see the module docstring for the rule).

    ``shipping`` is ``orders_shipping_next``'s result when the caller has already read it;
    ``on_demand_everywhere`` plans as if every warehouse had a box-on-demand machine.

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
    snapshot, catalog = night_catalog(lake, ds)
    lines, partitions = shipping if shipping is not None else orders_shipping_next(lake, ds, lookback_days)
    per_order = right_size_orders(lines, catalog, boxes, on_demand_everywhere)
    summary = {
        "ds": ds,
        "ship_date": (night + dt.timedelta(days=1)).isoformat(),
        "catalog_snapshot": snapshot,
        "order_partitions": partitions,
        "box_catalog": boxes.source,
        "padding_mm": boxes.padding_mm,
        "on_demand": {"everywhere": on_demand_everywhere, "machines": sorted(boxes.machines)},
        **summarise_right_sizing(per_order),
    }
    summary["standard_catalog"] = _standard_reference(lines, catalog, boxes, on_demand_everywhere, summary)
    return per_order, summary


def _standard_reference(lines: pd.DataFrame, catalog: pd.DataFrame, boxes: BoxCatalog, everywhere: bool,
                        summary: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The same orders in the catalog's standard sizes alone (no machine, no split to save board), and the
    board tonight's parcels save against it: what box-on-demand and splitting are worth, night by night."""
    plain = boxes.stock_only(split=False)
    if everywhere or boxes.machines or boxes.parcel_split.enabled:
        reference = summarise_right_sizing(right_size_orders(lines, catalog, plain))
    else:
        reference = dict(summary)
    board, saved_from = summary["board_m2_total"], reference["board_m2_total"]
    return {
        **{k: reference[k] for k in ("parcels", "mean_esr", "share_esr_over_50pct", "board_m2_total")},
        "board_saved_m2": round(saved_from - board, 3),
        "board_saved_share": round((saved_from - board) / saved_from, 4) if saved_from else None,
    }


def write_parcels(lake: Lake, ds: str, per_order: pd.DataFrame, summary: Mapping[str, Any]) -> str:
    """Replace night ``ds``'s parcels (table and summary); returns the table's key. No customer data."""
    prefix = keys.parcels_prefix(ds)
    lake.delete_prefix(prefix)
    table_key = prefix + keys.PARCELS_NAME
    write_parquet(lake, table_key, pa.Table.from_pandas(per_order.reset_index(drop=True), preserve_index=False))
    write_json(lake, prefix + keys.PARCELS_SUMMARY_NAME, dict(summary))
    return table_key


def read_parcels(lake: Lake, ds: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """Night ``ds``'s parcels as the right-sizing stage wrote them, or None when it has not run."""
    prefix = keys.parcels_prefix(ds)
    if not (lake.exists(prefix + keys.PARCELS_NAME) and lake.exists(prefix + keys.PARCELS_SUMMARY_NAME)):
        return None
    per_order = read_parquet(lake, prefix + keys.PARCELS_NAME).to_pandas()
    return per_order, read_json(lake, prefix + keys.PARCELS_SUMMARY_NAME)


def right_size_stage(settings: Settings, ds: str, boxes_path: str | None = None,
                     on_demand_everywhere: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """The nightly stage (CLI ``right-size`` and the DAG's ``right_size_orders``): parcels into the lake.

    Warehouses can use ``parcels/ds=<ds>/`` even when the artwork fails; designs and the gate read it.
    """
    per_order, summary = right_size_night(settings, ds, load_box_catalog(boxes_path),
                                          on_demand_everywhere=on_demand_everywhere)  # fmt: skip
    summary = {**summary, "parcels_key": write_parcels(open_lake(settings), ds, per_order, summary)}
    return per_order, summary
