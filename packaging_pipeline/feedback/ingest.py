"""A night's feedback in: validated like every raw source, then joined to the published design each order got.

Events naming an order or a design no published batch knows (or an order that got another design)
go to ``quarantine/feedback_unmatched/``; the rest land in ``feedback/events/`` with the design's
segment, motif class, palette and box. ``read = joined + quarantined + unmatched`` always holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Collection
from typing import Any

import pandas as pd
import pyarrow as pa

from packaging_pipeline.contract import complete_batch, iter_assignments, read_spec
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import dumps, read_parquet_prefix, write_json, write_parquet
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.feedback.policy import FeedbackPolicy, load_policy
from packaging_pipeline.ingest.raw import ingest_source

log = logging.getLogger(__name__)

EVENT_COLUMNS = (
    "feedback_id", "event_time", "order_id", "design_id", "rating", "event", "published_ds", "warehouse_id",
    "box_code", "segment_id", "motif", "palette",
)  # fmt: skip

UNMATCHED_SCHEMA = pa.schema(
    [("feedback_id", pa.string()), ("reason", pa.string()), ("reasons", pa.string()), ("record", pa.string())]
)


def nights_back(ds: str, days: int) -> list[str]:
    last = keys.parse_ds(ds)
    return [(last - dt.timedelta(days=i)).isoformat() for i in range(days + 1)]


def published_designs(
    lake: Lake, ds: str, lookback_days: int, wanted: Collection[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and designs of the complete published batches from ``ds - lookback_days`` to ``ds``.

    Returns (orders: order_id, design_id, published_ds, warehouse_id, box_code) and
    (designs: design_id, published_ds, segment_id, motif, palette); a newer batch wins. Only the
    ``wanted`` designs' spec.json are read (all when None): a night's feedback names a few of them.
    """
    orders: dict[str, tuple[str, str, str, str]] = {}
    design_day: dict[str, str] = {}
    batches = {day: batch for day in nights_back(ds, lookback_days) if (batch := complete_batch(lake, day))}
    for day in reversed(list(batches)):  # oldest first, so newer batches overwrite
        for warehouse, row in iter_assignments(lake, batches[day]):
            if row.get("order_id") and row.get("design_id"):
                orders[row["order_id"]] = (row["design_id"], day, warehouse, row.get("box_code") or "")
                design_day[row["design_id"]] = day
    designs: dict[str, tuple[str, int | None, str | None, str | None]] = {}
    for design_id, day in design_day.items():
        if wanted is None or design_id in wanted:
            spec = read_spec(lake, batches[day], design_id)
            palette = "+".join(str(i.get("name")) for i in spec.get("inks", []))
            designs[design_id] = (day, int(spec["segment_id"]), str(spec["motif"]), palette)
        else:
            designs[design_id] = (day, None, None, None)
    order_frame = pd.DataFrame(
        [(o, *v) for o, v in orders.items()],
        columns=["order_id", "design_id", "published_ds", "warehouse_id", "box_code"],
    )
    design_frame = pd.DataFrame(
        [(d, *v) for d, v in designs.items()], columns=["design_id", "published_ds", "segment_id", "motif", "palette"]
    )
    return order_frame, design_frame


def join_feedback(
    events: pd.DataFrame, orders: pd.DataFrame, designs: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split accepted events into (joined, unmatched with ``reason``/``reasons``); pure, for tests."""
    known_orders = orders.set_index("order_id")
    got = events["order_id"].map(known_orders["design_id"]) if len(orders) else pd.Series(None, index=events.index)
    reasons = pd.Series([""] * len(events), index=events.index, dtype=object)
    checks = [
        ("unknown_order", got.isna()),
        ("unknown_design", ~events["design_id"].isin(designs["design_id"])),
        ("design_mismatch", got.notna() & (got != events["design_id"])),
    ]
    for code, mask in checks:
        reasons[mask] = reasons[mask] + code + ";"
    reasons = reasons.str.rstrip(";")
    ok = reasons == ""
    joined = events[ok].merge(orders.drop(columns="design_id"), on="order_id", how="left")
    joined = joined.merge(designs.drop(columns="published_ds"), on="design_id", how="left")
    unmatched = events[~ok].assign(reasons=reasons[~ok], reason=reasons[~ok].str.split(";").str[0])
    return joined[list(EVENT_COLUMNS)].reset_index(drop=True), unmatched


def ingest_feedback(
    settings: Settings, ds: str, lake: Lake | None = None, policy: FeedbackPolicy | None = None
) -> dict[str, Any]:
    """Validate and join one night of feedback; reruns replace its outputs. Returns the report.

    Raises:
        InputError: a feedback file is unreadable, or more than ``settings.max_bad_row_share`` of the
            rows were rejected (checked after the outputs and the report are written, for inspection).
    """
    keys.parse_ds(ds)
    lake = lake or open_lake(settings)
    policy = policy or load_policy()
    checked = ingest_source(lake, settings, "feedback", ds)
    accepted = read_parquet_prefix(lake, keys.accepted_prefix("feedback", ds))
    events = accepted.to_pandas() if accepted is not None else pd.DataFrame(columns=list(EVENT_COLUMNS[:6]))
    orders, designs = published_designs(lake, ds, policy.lookback_days, set(events["design_id"]))
    joined, unmatched = join_feedback(events, orders, designs)

    for prefix in (keys.feedback_events_prefix(ds), keys.feedback_unmatched_prefix(ds)):
        lake.delete_prefix(prefix)
    if len(joined):
        table = pa.Table.from_pandas(joined.astype({"segment_id": "int64"}), preserve_index=False)
        write_parquet(lake, keys.feedback_events_prefix(ds) + "part-00000.parquet", table)
    if len(unmatched):
        records = [dumps({k: v for k, v in r.items() if k not in ("reason", "reasons")}, sort_keys=True)
                   for r in unmatched.to_dict("records")]  # fmt: skip
        table = pa.table(
            {"feedback_id": unmatched["feedback_id"].astype(str).tolist(), "reason": unmatched["reason"].tolist(),
             "reasons": unmatched["reasons"].tolist(), "record": records},
            schema=UNMATCHED_SCHEMA,
        )  # fmt: skip
        write_parquet(lake, keys.feedback_unmatched_prefix(ds) + "part-00000.parquet", table)

    reasons = Counter(checked.reasons)
    reasons.update(unmatched["reason"].tolist() if len(unmatched) else [])
    report = {
        "ds": ds, "lake": lake.uri, "read": checked.read, "joined": len(joined),
        "quarantined": checked.quarantined, "unmatched": len(unmatched), "reasons": dict(sorted(reasons.items())),
        "published_orders_known": len(orders), "published_designs_known": len(designs),
        "lookback_days": policy.lookback_days, "events_key": keys.feedback_events_prefix(ds) if len(joined) else None,
        "quarantine_key": checked.quarantine_key,
        "unmatched_key": keys.feedback_unmatched_prefix(ds) if len(unmatched) else None,
    }  # fmt: skip
    if report["read"] != report["joined"] + report["quarantined"] + report["unmatched"]:  # an invariant
        raise AssertionError(f"feedback ds={ds}: read != joined + quarantined + unmatched: {report}")
    write_json(lake, keys.feedback_report_key(ds), report)
    log.info("feedback ds=%s read=%d joined=%d quarantined=%d unmatched=%d", ds, report["read"], report["joined"],
             report["quarantined"], report["unmatched"])  # fmt: skip
    rejected = report["quarantined"] + report["unmatched"]
    if report["read"] and rejected / report["read"] > settings.max_bad_row_share:
        top = ", ".join(f"{k} ({v})" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        raise InputError(
            f"feedback partition {lake.uri_of(keys.raw_prefix('feedback', ds))}: {rejected} of {report['read']} rows "
            f"rejected (limit {settings.max_bad_row_share:.1%}), top reasons {top}. Rejected rows are in "
            f"{lake.uri_of(keys.quarantine_prefix('feedback', ds))} and "
            f"{lake.uri_of(keys.feedback_unmatched_prefix(ds))}; fix the producer (or publish the batches it "
            f"refers to) and rerun, or raise PACKAGING_MAX_BAD_ROW_SHARE."
        )
    return report
