"""The feedback loop beats today's uniform plan on simulated customers with hidden tastes (seconds)."""

from __future__ import annotations

import numpy as np

from bench.feedback_sim import compare


def test_loop_regret_grows_clearly_slower_than_uniform():
    result = compare(nights=30, seed=7)
    loop, uniform = result["loop"], result["uniform"]
    # Night 1 has no feedback yet: the loop plans exactly what the uniform plan does.
    assert loop["regret"][0] == uniform["regret"][0]
    # Over 30 nights the loop loses well under half of what uniform loses ...
    assert loop["cum_regret"][-1] < 0.5 * uniform["cum_regret"][-1]
    # ... because it keeps learning: its last ten nights cost far less than its first ten,
    # and far less than uniform's last ten.
    assert np.sum(loop["regret"][-10:]) < 0.5 * np.sum(loop["regret"][:10])
    assert np.sum(loop["regret"][-10:]) < 0.3 * np.sum(uniform["regret"][-10:])
    assert np.mean(loop["favourite_share"][-5:]) > 2 * np.mean(uniform["favourite_share"][-5:])


def test_simulation_is_reproducible():
    a, b = compare(nights=5, seed=3), compare(nights=5, seed=3)
    assert a["loop"]["cum_regret"] == b["loop"]["cum_regret"]
