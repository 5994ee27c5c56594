"""Spending a night's design slots and orders on the posteriors: Thompson sampling per segment.

:func:`thompson_allocation` and :func:`design_weights` are what the design plan uses;
:func:`motif_class_weights` is the GAN fine-tune's signal from the same evidence.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import dumps
from packaging_pipeline.core.hashing import stable_hash64
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.feedback.policy import FEEDBACK_EXPERIMENT, FeedbackPolicy, load_policy
from packaging_pipeline.feedback.statistics import latest_stats, mlflow_metric_name

log = logging.getLogger(__name__)


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
        mlflow.log_metrics({mlflow_metric_name(f"s{seg}.designs.{arm}"): float(n) for (seg, arm), n in counts.items()})
        mlflow.log_dict(json.loads(dumps(dict(summary))), "allocation.json")
        return run.info.run_id
