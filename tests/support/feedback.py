"""Builders for the feedback tests: a published night as feedback reads it, and raw feedback events."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import plan_designs
from tests.support.published import fake_batch

NIGHT1, NIGHT2 = "2026-11-02", "2026-11-06"
PROFILES = [
    {"segment_id": s, "label": f"segment {s}", "palette": [{"color": "navy", "hex": "#1f2a44"},
                                                          {"color": "yellow", "hex": "#f2c230"}],
     "top_categories": [{"category": "home", "share": 1.0}]}
    for s in (0, 1)
]  # fmt: skip


def fitted_orders(ds: str, n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    """``n`` fitted orders of the night and their segment (alternating 0 and 1)."""
    ids = [f"O{ds.replace('-', '')}-{i:05d}" for i in range(n)]
    per_order = pd.DataFrame({
        "order_id": ids, "status": "fitted", "box_code": "0427-M2", "style": "0427", "inner_length_mm": 200.0,
        "inner_width_mm": 150.0, "inner_height_mm": 40.0, "board_grade": "E",
    })  # fmt: skip
    return per_order, pd.Series([i % 2 for i in range(n)], index=ids)


def publish_plans(lake: LocalLake, ds: str, plans, fitted: pd.DataFrame) -> None:
    """The parts of a published batch feedback reads: assignments, spec.json per design, _SUCCESS."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["order_id", "box_code", "design_id"])
    writer.writerows(fitted[["order_id", "box_code", "design_id"]].itertuples(index=False))
    files = {keys.batch_assignments_key("WH-1"): buf.getvalue().encode()}
    for p in plans:
        spec = {"design_id": p.design_id, "segment_id": p.segment_id, "motif": p.motif,
                "inks": [{"name": n, "hex": c} for c, n in zip(p.inks, p.ink_names, strict=True)]}  # fmt: skip
        files[keys.batch_design_key(p.design_id, "spec.json")] = json.dumps(spec).encode()
    fake_batch(lake, ds, files)


def published_night1(root) -> tuple[LocalLake, Settings, list, pd.DataFrame]:
    """Night 1 planned with four designs per segment and published: (lake, settings, plans, fitted)."""
    lake = LocalLake(root)
    per_order, segment = fitted_orders(NIGHT1)
    plans, fitted = plan_designs(PROFILES, per_order, segment, 4, ds=NIGHT1)
    publish_plans(lake, NIGHT1, plans, fitted)
    return lake, Settings(lake_uri=lake.uri), plans, fitted


def write_raw_feedback(lake: LocalLake, ds: str, rows: list[dict]) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    lake.write_text(keys.raw_prefix("feedback", ds) + "part-00000.jsonl", "\n".join(lines) + "\n")


def feedback_event(n: int, order: str, design: str, event: str = "unboxed", rating: int | None = 4) -> dict:
    return {"feedback_id": f"F{n:06d}", "event_time": f"{NIGHT2}T10:00:00Z", "order_id": order,
            "design_id": design, "event": event, "rating": rating}  # fmt: skip
