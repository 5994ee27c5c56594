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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet_prefix
from packaging_pipeline.core.schemas import CATALOG, ORDERS
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.design.boxes import BoxCatalog, Dims, load_box_catalog
from packaging_pipeline.design.packing import BoxChoice, Unit, choose_box

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
