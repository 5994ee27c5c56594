"""Segmentation helpers without Spark: merging small clusters, matching ids across nights, the ARI."""

from __future__ import annotations

import numpy as np
import pytest

from packaging_pipeline.customers.segments import adjusted_rand_index, match_to_previous, merge_small_clusters


def test_merge_small_clusters_goes_to_the_nearest_neighbour():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.5, 0.0], [10.2, 0.0]])
    merged = merge_small_clusters({0: 100, 1: 80, 2: 3, 3: 2}, centers, min_size=10)
    assert merged == {0: 0, 1: 1, 2: 0, 3: 1}
    assert merge_small_clusters({0: 5, 1: 4}, centers[:2], min_size=10) == {0: 0, 1: 0}


def test_matching_keeps_ids_and_refuses_far_clusters():
    previous = {7: np.array([0.0, 0.0]), 3: np.array([5.0, 5.0])}
    today = {0: np.array([5.1, 4.9]), 1: np.array([0.2, 0.0]), 2: np.array([-9.0, 9.0])}
    assert match_to_previous(today, previous, max_distance=1.0) == {0: 3, 1: 7}


def test_adjusted_rand_index_matches_the_textbook_values():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 9, 9]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 500), rng.integers(0, 5, 500)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b))
