"""The feedback loop: customer reactions to published designs steer the next night's designs.

1. :func:`ingest_feedback` validates the night's ``raw/feedback/`` partition like every raw source
   (contract rules, duplicates, quarantine with reasons), then joins each accepted event to the
   published batch its order was in: events naming an order or a design no published batch knows
   (or an order that got another design) go to ``quarantine/feedback_unmatched/``; the rest land in
   ``feedback/events/`` with the design's segment, motif class, palette and box.
   ``read = joined + quarantined + unmatched`` always holds.
2. :func:`compute_design_stats` turns the events of the lookback window into a reward per event
   (weights in ``data/feedback_policy.yaml``) and decayed Beta posteriors per (segment, motif class)
   and (segment, palette), written to ``feedback/stats/`` and logged to MLflow.
3. :func:`thompson_allocation` and :func:`design_weights` are what ``plan_designs`` uses to spend a
   segment's design slots and orders; :func:`motif_class_weights` is the GAN fine-tune's signal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from packaging_pipeline.contract import iter_assignments, read_spec
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import dumps, load_yaml, read_json, read_parquet_prefix, write_json, write_parquet
from packaging_pipeline.core.hashing import stable_hash64
from packaging_pipeline.core.schemas import FEEDBACK_EVENTS
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.ingest.raw import ingest_source

log = logging.getLogger(__name__)

FEEDBACK_EXPERIMENT = "design-feedback"
Posteriors = Mapping[int, Mapping[str, tuple[float, float]]]  # segment_id -> arm -> (alpha, beta)

EVENT_COLUMNS = (
    "feedback_id", "event_time", "order_id", "design_id", "rating", "event", "published_ds", "warehouse_id",
    "box_code", "segment_id", "motif", "palette",
)  # fmt: skip
UNMATCHED_SCHEMA = pa.schema(
    [("feedback_id", pa.string()), ("reason", pa.string()), ("reasons", pa.string()), ("record", pa.string())]
)
STATS_SCHEMA = pa.schema(
    [
        ("segment_id", pa.int64()), ("arm", pa.string()), ("events", pa.int64()), ("weight", pa.float64()),
        ("reward_sum", pa.float64()), ("alpha", pa.float64()), ("beta", pa.float64()), ("mean", pa.float64()),
    ]
)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Policy


@dataclasses.dataclass(frozen=True)
class FeedbackPolicy:
    """The numbers of ``data/feedback_policy.yaml``: reward weights, prior, decay, exploration."""

    version: int
    event_reward: Mapping[str, float]
    rating_weight: float
    prior: tuple[float, float]
    half_life_days: float
    lookback_days: int
    exploration_floor: float
    gan_feedback_weighting: bool
    gan_min_weight: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_policy(path: str | None = None) -> FeedbackPolicy:
    """The packaged policy, or the user's file at ``path``; a bad file is named in the error."""
    where = path or "packaging_pipeline/data/feedback_policy.yaml"
    doc = load_yaml("feedback_policy.yaml", path)
    try:
        reward, prior, alloc, gan = doc["reward"], doc["prior"], doc["allocation"], doc.get("gan") or {}
        events = {str(k): float(v) for k, v in reward["events"].items()}
        policy = FeedbackPolicy(
            version=int(doc["version"]), event_reward=events, rating_weight=float(reward["rating_weight"]),
            prior=(float(prior["alpha"]), float(prior["beta"])), half_life_days=float(doc["half_life_days"]),
            lookback_days=int(doc["lookback_days"]), exploration_floor=float(alloc["exploration_floor"]),
            gan_feedback_weighting=bool(gan.get("feedback_weighting", False)),
            gan_min_weight=float(gan.get("min_weight", 0.25)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"cannot read feedback policy {where}: {type(exc).__name__}: {exc}") from exc
    problems = [f"reward.events lacks {e}" for e in FEEDBACK_EVENTS if e not in events]
    problems += [f"reward.events.{e}={v} is outside [0, 1]" for e, v in events.items() if not 0 <= v <= 1]
    if not 0 <= policy.rating_weight <= 1:
        problems.append(f"reward.rating_weight={policy.rating_weight} is outside [0, 1]")
    if min(policy.prior) <= 0:
        problems.append(f"prior {policy.prior} must be positive")
    if policy.half_life_days <= 0 or policy.lookback_days < 1:
        problems.append("half_life_days must be > 0 and lookback_days >= 1")
    if not 0 <= policy.exploration_floor <= 1:
        problems.append(f"allocation.exploration_floor={policy.exploration_floor} is outside [0, 1]")
    if problems:
        raise InputError(f"feedback policy {where}: " + "; ".join(problems))
    return policy


# --------------------------------------------------------------------------------------------------
# Ingest: validate, then join to the published batches


def _days_back(ds: str, days: int) -> list[str]:
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
    for day in reversed(_days_back(ds, lookback_days)):  # oldest first, so newer batches overwrite
        for warehouse, row in iter_assignments(lake, day):
            if row.get("order_id") and row.get("design_id"):
                orders[row["order_id"]] = (row["design_id"], day, warehouse, row.get("box_code") or "")
                design_day[row["design_id"]] = day
    designs: dict[str, tuple[str, int | None, str | None, str | None]] = {}
    for design_id, day in design_day.items():
        if wanted is None or design_id in wanted:
            spec = read_spec(lake, day, design_id)
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


# --------------------------------------------------------------------------------------------------
# Statistics: reward per event, decayed Beta posteriors per arm


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
    tables = [t for day in _days_back(ds, lookback_days)
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
        mlflow.log_metrics({_metric_name(k): v for k, v in metrics.items()})
        return run.info.run_id


def _metric_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in name)


def latest_stats(lake: Lake, ds: str, lookback_days: int | None = None) -> dict[str, Any] | None:
    """The newest ``stats.json`` at or before ``ds`` (within the lookback), or None: plan uniformly."""
    for day in _days_back(ds, lookback_days if lookback_days is not None else load_policy().lookback_days):
        key = keys.feedback_stats_prefix(day) + keys.FEEDBACK_STATS_NAME
        if lake.exists(key):
            return read_json(lake, key)
    return None


# --------------------------------------------------------------------------------------------------
# Using the posteriors: Thompson sampling over arms, weighted order assignment, GAN weights


def thompson_allocation(
    arms: Sequence[str], posterior: Mapping[str, tuple[float, float]], n: int, rng: np.random.Generator,
    floor: float, prior: tuple[float, float] = (1.0, 1.0),
) -> list[dict[str, Any]]:  # fmt: skip
    """``n`` picks among ``arms``: each one, with probability ``floor``, a uniform draw (exploration),
    else the arm whose sample from its Beta posterior is highest. Each pick records why."""
    picks = []
    for _ in range(n):
        params = [posterior.get(a, prior) for a in arms]
        draws = rng.beta([p[0] for p in params], [p[1] for p in params])
        explore = bool(rng.random() < floor)
        k = int(rng.integers(len(arms))) if explore else int(np.argmax(draws))
        a, b = params[k]
        picks.append({"arm": arms[k], "method": "explore" if explore else "thompson", "draw": round(float(draws[k]), 6),
                      "alpha": round(a, 6), "beta": round(b, 6), "mean": round(a / (a + b), 6)})  # fmt: skip
    return picks


def design_weights(picks: Sequence[Mapping[str, Any]], floor: float) -> list[float]:
    """Share of a segment's orders per design: posterior means, mixed with a uniform ``floor``."""
    means = np.array([float(p["mean"]) for p in picks])
    share = means / means.sum() if means.sum() > 0 else np.full(len(picks), 1 / len(picks))
    return ((1 - floor) * share + floor / len(picks)).round(6).tolist()


def weighted_order_choice(order_id: str, weights: Sequence[float]) -> int:
    """A stable pick with the given weights: the same order and weights always give the same design."""
    u = stable_hash64(order_id) / 2**64
    cum = np.cumsum(weights) / float(np.sum(weights))
    return min(int(np.searchsorted(cum, u, side="right")), len(weights) - 1)


def night_class_weights(settings: Settings, ds: str, motifs: Sequence[str]) -> dict[str, float] | None:
    """The GAN fine-tune's motif-class weights for night ``ds`` from the newest stats, or None (off / no stats)."""
    policy = load_policy()
    if not policy.gan_feedback_weighting:
        return None
    return motif_class_weights(latest_stats(open_lake(settings), ds, policy.lookback_days), motifs, policy)


def motif_class_weights(
    stats: Mapping[str, Any] | None, motifs: Sequence[str], policy: FeedbackPolicy | None = None
) -> dict[str, float] | None:
    """Sampling weight per motif class for the GAN fine-tune (mean 1), or None when switched off.

    A class's weight is its evidence-weighted posterior mean over segments, relative to the others,
    never below ``gan.min_weight``; a class without feedback gets the prior mean.
    """
    policy = policy or load_policy()
    if not policy.gan_feedback_weighting or not stats:
        return None
    prior_mean = policy.prior[0] / sum(policy.prior)
    num, den = dict.fromkeys(motifs, 0.0), dict.fromkeys(motifs, 0.0)
    for r in stats.get("motif", []):
        if r["arm"] in num:
            num[r["arm"]] += float(r["mean"]) * float(r["weight"])
            den[r["arm"]] += float(r["weight"])
    raw = np.array([num[m] / den[m] if den[m] > 0 else prior_mean for m in motifs])
    weights = raw / raw.mean() if raw.mean() > 0 else np.ones(len(motifs))
    weights = np.maximum(weights, policy.gan_min_weight)
    weights = weights / weights.mean()
    return {m: round(float(w), 6) for m, w in zip(motifs, weights, strict=True)}


def allocation_summary(plans: Sequence[Any]) -> dict[str, Any]:
    """Per segment, the chosen arm and posterior of each design (for plan.json and MLflow)."""
    out: dict[str, Any] = {}
    for p in plans:
        out.setdefault(str(p.segment_id), []).append({"design_id": p.design_id, **dict(p.allocation)})
    return out


def log_allocation(ds: str, stats_ds: str | None, summary: Mapping[str, Any]) -> str:
    """Log a night's allocation (which arm each design got, and from which posterior) to MLflow."""
    import mlflow

    with night_run(FEEDBACK_EXPERIMENT, ds, f"design allocation ds={ds}", {"kind": "allocation"}) as run:
        mlflow.log_params({"stats_ds": stats_ds or "none"})
        counts = Counter((seg, d["arm"]) for seg, designs in summary.items() for d in designs)
        mlflow.log_metrics({_metric_name(f"s{seg}.designs.{arm}"): float(n) for (seg, arm), n in counts.items()})
        mlflow.log_dict(json.loads(dumps(dict(summary))), "allocation.json")
        return run.info.run_id
