"""Right-sizing on generated nights: throughput, ESR against the physical floor, box sets, heuristic gap.

    .venv/bin/python bench/right_size_bench.py --root /tmp/rs-bench [--days 32 --customers 4000] [--sizes 20]

Generates (once, kept under --root) a sample lake of ``--days`` nights and ingests it, then measures:
1. right-sizing one night with the shipped catalog (the reference), with the shipped catalog at a
   warehouse with a machine (as shipped: WH-BER), and with a box-on-demand machine at every warehouse
   (``--on-demand``): orders/s (the lake read excluded), mean ESR, floor, share over 50%, board;
   then the same three on a night of ``--scale-orders`` orders drawn from the history (each order
   takes the line and quantity structure of a random history order, its products drawn by how often
   the history sold them), for throughput at scale;
2. ``box-assortment`` over the history (all nights but the last two) for ``--sizes`` sizes, judged on
   the held-out next night against the shipped catalog; then its core on ``--assortment-nights``
   nights of ``--scale-orders`` orders each (sampled to 100,000 orders), for its time at scale;
3. the packing heuristic against the exact MILP packing on random 2-5 unit orders (mean board gap).
Results go to bench/results/right_size_<timestamp>.json beside the machine and a BLAS reference.
``--throughput-only`` stops after step 1 and also times the machine-everywhere night without splitting
orders to save board (bench/results/right_size_throughput_<timestamp>.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load, machine_base, matmul_reference, write_result  # noqa: E402
from packaging_pipeline.core import keys  # noqa: E402
from packaging_pipeline.core.config import Settings  # noqa: E402
from packaging_pipeline.core.errors import InputError  # noqa: E402
from packaging_pipeline.core.formats import read_parquet_prefix  # noqa: E402
from packaging_pipeline.core.schemas import ORDERS  # noqa: E402
from packaging_pipeline.core.storage import LocalLake, open_lake  # noqa: E402
from packaging_pipeline.design.assortment import box_assortment, sizes_from_history  # noqa: E402
from packaging_pipeline.design.boxes import ParcelSplit, load_box_catalog  # noqa: E402
from packaging_pipeline.design.exact_packing import leanest_box_exactly  # noqa: E402
from packaging_pipeline.design.packing import Unit, choose_box  # noqa: E402
from packaging_pipeline.design.right_size import (  # noqa: E402
    night_catalog,
    orders_shipping_next,
    right_size_orders,
    summarise_right_sizing,
)
from packaging_pipeline.ingest.raw import ingest_range  # noqa: E402
from packaging_pipeline.sample_data.generate import generate_sample_data  # noqa: E402

KEY = "right-size-bench-key-0123456789"
START = dt.date(2026, 10, 1)
KEEP = ("orders", "parcels", "split_orders", "own_packaging", "on_demand_parcels", "mean_esr", "p95_esr",
        "share_esr_over_50pct", "mean_esr_outer", "mean_esr_floor", "esr_to_floor", "single_unit",
        "board_m2_total", "volumetric_weight_kg_total", "over_50pct_reasons", "unfit")  # fmt: skip


def lake_of(root: Path, days: int, customers: int) -> Settings:
    settings = Settings(lake_uri=LocalLake(root / "lake").uri, pseudonym_key=KEY)
    last = START + dt.timedelta(days=days - 1)
    if not (root / "lake" / "reports" / "ingest" / f"ds={last}").exists():
        generate_sample_data(LocalLake(root / "lake"), start=START, days=days, customers=customers, seed=3)
        ingest_range(settings, START.isoformat(), last.isoformat())
    return settings


def night_inputs(settings: Settings, ds: str):  # noqa: ANN201 - (lines, products)
    lake = open_lake(settings)
    lines, _ = orders_shipping_next(lake, ds)
    return lines, night_catalog(lake, ds)[1]


def sizing_run(lines, products, boxes, everywhere: bool) -> dict:  # noqa: ANN001
    started = time.perf_counter()
    parcels = right_size_orders(lines, products, boxes, on_demand_everywhere=everywhere)
    seconds = time.perf_counter() - started
    summary = summarise_right_sizing(parcels)
    orders = summary["orders"]
    return {"seconds": round(seconds, 3), "orders_per_s": round(orders / seconds, 1),
            **{k: summary[k] for k in KEEP}}  # fmt: skip


def scaled_night(history, n: int, ship_date: dt.date, seed: int, prefix: str = "SCALE"):  # noqa: ANN001, ANN201
    """``n`` orders shaped like the history's: per order, a random history order's warehouse and line
    quantities, each line's product drawn from the history's sold products by frequency."""
    sale = history[history["quantity"] > 0].sort_values(["order_id", "product_id"], kind="stable")
    starts = np.flatnonzero(np.r_[True, sale["order_id"].to_numpy()[1:] != sale["order_id"].to_numpy()[:-1]])
    sizes = np.diff(np.r_[starts, len(sale)])
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(starts), n)
    lines_per_order = sizes[picked]
    line_rows = np.repeat(starts[picked], lines_per_order) + (
        np.arange(lines_per_order.sum()) - np.repeat(np.cumsum(lines_per_order) - lines_per_order, lines_per_order)
    )
    popularity = sale["product_id"].value_counts(normalize=True)
    return pd.DataFrame({
        "order_id": np.repeat([f"{prefix}{i:07d}" for i in range(n)], lines_per_order),
        "warehouse_id": sale["warehouse_id"].to_numpy()[line_rows],
        "ship_date": ship_date,
        "product_id": rng.choice(popularity.index.to_numpy(), size=len(line_rows), p=popularity.to_numpy()),
        "quantity": sale["quantity"].to_numpy()[line_rows],
        "customer_key": "k",
    })  # fmt: skip


def history_lines(settings: Settings, first: dt.date, days: int):  # noqa: ANN201 - DataFrame
    lake = open_lake(settings)
    tables = [read_parquet_prefix(lake, keys.accepted_prefix("orders", (first + dt.timedelta(days=d)).isoformat()),
                                  ORDERS.accepted_schema) for d in range(days)]  # fmt: skip
    return pd.concat([t.to_pandas() for t in tables if t is not None], ignore_index=True)


def assortment_at_scale(settings: Settings, products, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """``box-assortment``'s core on ``--assortment-nights`` nights of ``--scale-orders`` orders each (sampled)."""
    history = history_lines(settings, START, args.days - 2)
    t = time.perf_counter()
    nights = pd.concat([scaled_night(history, args.scale_orders, START + dt.timedelta(days=d), seed=100 + d,
                                     prefix=f"N{d:02d}-") for d in range(args.assortment_nights)], ignore_index=True)
    built = time.perf_counter() - t
    t = time.perf_counter()
    chosen, report = sizes_from_history(nights, products, load_box_catalog(), args.sizes, time_limit_s=args.time_limit)
    return {"nights": args.assortment_nights, "orders": report["history_orders"], "lines": len(nights),
            "build_history_s": round(built, 1), "packed_orders": report["packed_orders"],
            "sample_scale": report["sample_scale"], "packing_s": report["packing_seconds"],
            "solve_s": round(chosen.seconds, 1), "total_s": round(time.perf_counter() - t, 1),
            "demand_classes": chosen.demand_classes, "candidates": chosen.candidates, "variables": chosen.variables,
            "mip_gap": chosen.mip_gap, "solver_status": chosen.status,
            "chosen": [list(c.inner_mm) for c in chosen.chosen]}  # fmt: skip


def heuristic_gap(n: int, seed: int) -> dict:
    boxes = load_box_catalog()
    rng = np.random.default_rng(seed)
    gaps = []
    for k in range(n):
        units = [Unit(f"P{k}-{i}", tuple(float(v) for v in rng.choice([20, 40, 60, 80, 120, 160, 220], 3)))
                 for i in range(int(rng.integers(2, 6)))]  # fmt: skip
        exact = leanest_box_exactly(units, boxes)
        if exact is not None:
            gaps.append(choose_box(units, boxes).box.blank_area_m2 / exact.blank_area_m2 - 1)
    arr = np.array(gaps)
    return {"orders": len(gaps), "mean_board_gap": round(float(arr.mean()), 5), "orders_worse": int((arr > 1e-9).sum()),
            "max_board_gap": round(float(arr.max()), 4)}  # fmt: skip


def sizing_at_scale(settings: Settings, products, shipped, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """Throughput on ``--scale-orders`` orders drawn from the history: stock sizes alone, a machine
    everywhere as shipped, and (``--throughput-only``) the same without splitting to save board."""
    scaled = scaled_night(history_lines(settings, START, args.days - 2), args.scale_orders,
                          START + dt.timedelta(days=args.days - 2), seed=5)  # fmt: skip
    runs = {
        "orders": args.scale_orders,
        "units_per_order": {str(k): int(v) for k, v in
                            scaled.groupby("order_id")["quantity"].sum().value_counts().sort_index().items()},
        "shipped_catalog_standard_only": sizing_run(scaled, products, shipped.stock_only(), False),
        "on_demand_everywhere": sizing_run(scaled, products, shipped, True),
    }  # fmt: skip
    if args.throughput_only:
        whole = dataclasses.replace(shipped, parcel_split=ParcelSplit(enabled=False))
        runs["on_demand_everywhere_no_split"] = sizing_run(scaled, products, whole, True)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--days", type=int, default=32)
    ap.add_argument("--customers", type=int, default=4000)
    ap.add_argument("--sizes", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--scale-orders", type=int, default=100_000)
    ap.add_argument("--assortment-nights", type=int, default=30)
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the throughput at --scale-orders, with and without splitting to save board")
    ap.add_argument("--out")
    args = ap.parse_args()
    result = {"machine": machine_base(), "load_before": load(), "reference_matmul": matmul_reference(),
              "args": vars(args)}  # fmt: skip
    root = Path(args.root)
    t = time.perf_counter()
    settings = lake_of(root, args.days, args.customers)
    result["generate_and_ingest_s"] = round(time.perf_counter() - t, 1)
    night = (START + dt.timedelta(days=args.days - 3)).isoformat()  # its orders ship the next day
    lines, products = night_inputs(settings, night)
    shipped = load_box_catalog()
    result["night"] = night
    result["sizing"] = {
        "shipped_catalog_standard_only": sizing_run(lines, products, shipped.stock_only(), False),
        "shipped_catalog_with_WH-BER_machine": sizing_run(lines, products, shipped, False),
        "on_demand_everywhere": sizing_run(lines, products, shipped, True),
    }
    result["sizing_at_scale"] = sizing_at_scale(settings, products, shipped, args)
    if args.throughput_only:
        result["load_after"] = load()
        print(write_result(result, "right_size_throughput", args.out))
        return
    t = time.perf_counter()
    _, report = box_assortment(settings, night, args.days - 2, args.sizes, time_limit_s=args.time_limit)
    result["box_assortment"] = {k: report[k] for k in ("history_orders", "history_parcels", "demand_classes",
                                                      "candidates", "variables", "objective_board_m2", "mip_gap",
                                                      "solver_status", "seconds", "held_out_ds", "held_out",
                                                      "board_ratio", "chosen")}  # fmt: skip
    result["box_assortment"]["wall_s"] = round(time.perf_counter() - t, 1)
    try:
        result["box_assortment_at_scale"] = assortment_at_scale(settings, products, args)
    except InputError as exc:  # the solver's time limit on a loaded machine: recorded, the rest still runs
        result["box_assortment_at_scale"] = {"error": str(exc)}
    result["heuristic_vs_exact"] = heuristic_gap(200, seed=11)
    result["load_after"] = load()
    print(write_result(result, "right_size", args.out))


if __name__ == "__main__":
    main()
