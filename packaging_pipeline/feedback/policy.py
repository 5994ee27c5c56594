"""The feedback policy: how customer reactions become a reward, how fast evidence fades, how much stays exploration.

Read from ``data/feedback_policy.yaml`` (or a copy passed with ``--policy``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import load_yaml
from packaging_pipeline.core.schemas import FEEDBACK_EVENTS

log = logging.getLogger(__name__)

FEEDBACK_EXPERIMENT = "design-feedback"


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
