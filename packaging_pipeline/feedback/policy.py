"""The feedback policy: how customer reactions become a reward, how fast evidence fades, how much stays exploration.

Read from ``data/feedback_policy.yaml`` (or a copy passed with ``--policy``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, PlainValidator, Strict, model_validator

from packaging_pipeline.core.config_files import ConfigModel, got, load_config, problem, problems
from packaging_pipeline.core.schemas import FEEDBACK_EVENTS

log = logging.getLogger(__name__)

FEEDBACK_EXPERIMENT = "design-feedback"
POLICY_FILE = "feedback_policy.yaml"


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
    doc = load_config(FeedbackPolicyFile, POLICY_FILE, path)
    return FeedbackPolicy(
        version=doc.version, event_reward=dict(doc.reward.events), rating_weight=doc.reward.rating_weight,
        prior=(doc.prior.alpha, doc.prior.beta), half_life_days=doc.half_life_days, lookback_days=doc.lookback_days,
        exploration_floor=doc.allocation.exploration_floor, gan_feedback_weighting=doc.gan.feedback_weighting,
        gan_min_weight=doc.gan.min_weight,
    )  # fmt: skip


# -- the file, as pydantic models --------------------------------------------------------------------
# Numbers are read the way Python's int(), float() and bool() read them (a quoted "0.5" is 0.5), as
# this file always has been; the ranges are checked after.
def _python(convert: Callable[[Any], Any], what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            raise problem(f"expected {what}, got {got(value)}") from None

    return check


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


_Float = Annotated[float, PlainValidator(_python(_finite, "a finite number"))]
_Int = Annotated[int, PlainValidator(_python(int, "a whole number"))]
_Bool = Annotated[bool, PlainValidator(bool)]
_Key = Annotated[str, PlainValidator(str)]


class _Reward(ConfigModel):
    events: Annotated[dict[_Key, _Float], Strict()]
    rating_weight: _Float


class _Prior(ConfigModel):
    alpha: _Float
    beta: _Float


class _Allocation(ConfigModel):
    exploration_floor: _Float


class _Gan(ConfigModel):
    feedback_weighting: _Bool = False
    min_weight: _Float = 0.25


class FeedbackPolicyFile(ConfigModel):
    """``data/feedback_policy.yaml``: a reward in [0, 1] for every feedback event, positive prior and decay."""

    model_config = ConfigDict(title="feedback policy")

    version: _Int
    reward: _Reward
    prior: _Prior
    half_life_days: _Float
    lookback_days: _Int
    allocation: _Allocation
    # An empty or null gan section means the defaults (no feedback weighting).
    gan: Annotated[_Gan, BeforeValidator(lambda v: v or {})] = _Gan()

    @model_validator(mode="after")
    def _in_range(self) -> FeedbackPolicyFile:
        events = self.reward.events
        found: list[tuple[tuple[str, ...], str, Any]] = [
            (("reward", "events"), f"lacks {e}; expected a reward in [0, 1] for each of {', '.join(FEEDBACK_EVENTS)}",
             None)
            for e in FEEDBACK_EVENTS if e not in events
        ]  # fmt: skip
        found += [(("reward", "events", e), f"expected a reward in [0, 1], got {v!r}", v)
                  for e, v in events.items() if not 0 <= v <= 1]  # fmt: skip
        if not 0 <= self.reward.rating_weight <= 1:
            weight = self.reward.rating_weight
            found.append((("reward", "rating_weight"), f"expected a weight in [0, 1], got {weight!r}", weight))
        if min(self.prior.alpha, self.prior.beta) <= 0:
            found += [(("prior", k), f"expected a pseudo-count > 0, got {v!r}", v)
                      for k, v in (("alpha", self.prior.alpha), ("beta", self.prior.beta)) if v <= 0]  # fmt: skip
        if self.half_life_days <= 0:
            found.append((("half_life_days",), f"expected a number of days > 0, got {self.half_life_days!r}",
                          self.half_life_days))  # fmt: skip
        if not 1 <= self.lookback_days <= 3650:  # each night is read back from the lake: ten years at most
            found.append((("lookback_days",), f"expected a whole number of days in [1, 3650], got "
                          f"{self.lookback_days!r}", self.lookback_days))  # fmt: skip
        if not 0 <= self.allocation.exploration_floor <= 1:
            found.append((("allocation", "exploration_floor"), f"expected a share in [0, 1], got "
                          f"{self.allocation.exploration_floor!r}", self.allocation.exploration_floor))  # fmt: skip
        if found:
            raise problems(found)
        return self
