"""SIGKILL trials of ``publish`` and of the design stage at random moments of their own progress
(tests/support/kill_trials.py judges each); bench/fault_trials.py runs many more moments."""

from __future__ import annotations

from tests.support.kill_trials import design_kill_trials, publish_kill_trials
from tests.support.nights import DS

KILLS = 4


def test_publish_killed_at_random_moments_leaves_a_whole_batch_and_reruns(staged, tmp_path):
    trials = publish_kill_trials(staged, tmp_path, DS, KILLS, seed=11)
    assert len(trials) == KILLS and any(t["killed"] for t in trials), trials


def test_the_design_stage_killed_at_random_moments_never_stages_a_partial_night(staged, tmp_path):
    trials = design_kill_trials(staged, tmp_path, DS, KILLS, seed=12)
    assert len(trials) == KILLS and any(t["killed"] for t in trials), trials
