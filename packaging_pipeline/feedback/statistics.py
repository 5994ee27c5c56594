"""Rewards and decayed Beta posteriors per (segment, motif class) and (segment, palette), and their MLflow run.

The events of the lookback window become a reward per event (weights from the policy); the
posteriors are written to ``feedback/stats/`` and are what the next night's designs are planned from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import read_json, read_parquet_prefix, write_json, write_parquet
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.feedback.ingest import EVENT_COLUMNS, nights_back
from packaging_pipeline.feedback.policy import FEEDBACK_EXPERIMENT, FeedbackPolicy, load_policy

log = logging.getLogger(__name__)

Posteriors = Mapping[int, Mapping[str, tuple[float, float]]]  # segment_id -> arm -> (alpha, beta)

STATS_SCHEMA = pa.schema(
    [
        ("segment_id", pa.int64()), ("arm", pa.string()), ("events", pa.int64()), ("weight", pa.float64()),
        ("reward_sum", pa.float64()), ("alpha", pa.float64()), ("beta", pa.float64()), ("mean", pa.float64()),
    ]
)  # fmt: skip


def event_rewards(events: pd.DataFrame, policy: FeedbackPolicy) -> pd.Series:
    """Reward in [0, 1] of each event: its type's weight, blended with the 1-5 rating when given."""
    base = events["event"].map(policy.event_reward).astype("float64")
    rating = pd.to_numeric(events["rating"], errors="coerce")
    blended = (1 - policy.rating_weight) * base + policy.rating_weight * (rating - 1) / 4
    return blended.where(rating.notna(), base)


def arm_posteriors(events: pd.DataFrame, arm: str, ds: str, policy: FeedbackPolicy) -> pd.DataFrame:
    """Beta posterior per (segment_id, ``arm`` column); evidence ``age`` days old weighs 0.5**(age/half-life)."""
    if not len(events):
        return pd.DataFrame(columns=STATS_SCHEMA.names)
    day = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    age = (day - pd.to_datetime(events["event_time"], utc=True)).dt.total_seconds() / 86400
    weight = np.power(0.5, age.clip(lower=0) / policy.half_life_days)
    reward = event_rewards(events, policy)
    frame = pd.DataFrame({"segment_id": events["segment_id"].astype("int64"), "arm": events[arm].astype(str),
                          "w": weight, "wr": weight * reward})  # fmt: skip
    out = frame.groupby(["segment_id", "arm"], sort=True).agg(
        events=("w", "size"), weight=("w", "sum"), reward_sum=("wr", "sum")
    ).reset_index()  # fmt: skip
    out["alpha"] = policy.prior[0] + out["reward_sum"]
    out["beta"] = policy.prior[1] + out["weight"] - out["reward_sum"]
    out["mean"] = out["alpha"] / (out["alpha"] + out["beta"])
    return out[list(STATS_SCHEMA.names)]


def posteriors_by_segment(stats: pd.DataFrame) -> dict[int, dict[str, tuple[float, float]]]:
    """``{segment_id: {arm: (alpha, beta)}}`` from a stats table."""
    out: dict[int, dict[str, tuple[float, float]]] = {}
    for r in stats.itertuples():
        out.setdefault(int(r.segment_id), {})[str(r.arm)] = (float(r.alpha), float(r.beta))
    return out


def read_window_events(lake: Lake, ds: str, lookback_days: int) -> pd.DataFrame:
    """Joined feedback events of the nights ``ds - lookback_days`` .. ``ds``."""
    tables = [t for day in nights_back(ds, lookback_days)
              if (t := read_parquet_prefix(lake, keys.feedback_events_prefix(day))) is not None]  # fmt: skip
    if not tables:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def compute_design_stats(
    settings: Settings, ds: str, lake: Lake | None = None, policy: FeedbackPolicy | None = None,
    log_mlflow: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Posteriors as of ``ds`` from the window's feedback: ``feedback/stats/ds=<ds>/`` and an MLflow run."""
    keys.parse_ds(ds)
    lake = lake or open_lake(settings)
    policy = policy or load_policy()
    events = read_window_events(lake, ds, policy.lookback_days)
    motif = arm_posteriors(events, "motif", ds, policy)
    palette = arm_posteriors(events, "palette", ds, policy)
    prefix = keys.feedback_stats_prefix(ds)
    lake.delete_prefix(prefix)
    for name, frame in (("motif", motif), ("palette", palette)):
        write_parquet(lake, f"{prefix}{name}_stats.parquet",
                      pa.Table.from_pandas(frame, schema=STATS_SCHEMA, preserve_index=False))  # fmt: skip
    stats = {
        "ds": ds, "policy": policy.as_dict(), "events": len(events),
        "nights": sorted(pd.to_datetime(events["event_time"], utc=True).dt.date.astype(str).unique().tolist())
        if len(events) else [],
        "motif": motif.to_dict("records"), "palette": palette.to_dict("records"),
    }  # fmt: skip
    if log_mlflow:
        stats["mlflow_run_id"] = log_design_stats(stats)
    write_json(lake, prefix + keys.FEEDBACK_STATS_NAME, stats)
    return stats


def log_design_stats(stats: Mapping[str, Any]) -> str:
    """One MLflow run per stats night: the policy as params, every arm's posterior mean and table."""
    import mlflow

    ds = stats["ds"]
    with night_run(FEEDBACK_EXPERIMENT, ds, f"design feedback ds={ds}") as run:
        policy = stats["policy"]
        mlflow.log_params({"policy_version": policy["version"], "half_life_days": policy["half_life_days"],
                           "lookback_days": policy["lookback_days"],
                           "exploration_floor": policy["exploration_floor"],
                           **{f"reward_{k}": v for k, v in policy["event_reward"].items()},
                           "rating_weight": policy["rating_weight"]})  # fmt: skip
        metrics: dict[str, float] = {"events": float(stats["events"])}
        for kind in ("motif", "palette"):
            for r in stats[kind]:
                metrics[f"s{r['segment_id']}.{kind}.{r['arm']}.mean"] = float(r["mean"])
                metrics[f"s{r['segment_id']}.{kind}.{r['arm']}.weight"] = float(r["weight"])
            if stats[kind]:
                mlflow.log_table(pd.DataFrame(stats[kind]), artifact_file=f"{kind}_posteriors.json")
        mlflow.log_metrics({mlflow_metric_name(k): v for k, v in metrics.items()})
        return run.info.run_id


def mlflow_metric_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in name)


def latest_stats(lake: Lake, ds: str, lookback_days: int | None = None) -> dict[str, Any] | None:
    """The newest ``stats.json`` at or before ``ds`` (within the lookback), or None: plan uniformly."""
    for day in nights_back(ds, lookback_days if lookback_days is not None else load_policy().lookback_days):
        key = keys.feedback_stats_prefix(day) + keys.FEEDBACK_STATS_NAME
        if lake.exists(key):
            return read_json(lake, key)
    return None
