"""The generator's ink-coverage guard: each class is pulled towards the corpus's ink coverage of that class."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.gan.corpus import ink_coverage
from packaging_pipeline.gan.model import class_ink_gap
from packaging_pipeline.gan.motifs import procedural_corpus


@pytest.fixture(scope="module")
def corpus():
    return procedural_corpus(16, size=16, k_slots=3, seed=2, motifs=("stripes", "dots", "checks"))


def test_the_corpus_coverage_per_class_is_the_evaluations_ink_coverage(corpus):
    from packaging_pipeline.gan import evaluation

    assert evaluation.ink_coverage is ink_coverage  # one definition, which the gate and the guard share
    targets = corpus.class_ink_coverage()
    tiles = corpus.one_hot()
    for c in range(3):
        assert targets[c] == pytest.approx((corpus.slots[corpus.labels == c] != 0).mean())
        assert targets[c] == pytest.approx(ink_coverage(tiles[corpus.labels == c]))
    assert 0.05 < targets.min() and targets.max() < 0.95


def test_the_gap_is_zero_when_each_class_prints_its_corpus_coverage(corpus):
    targets = corpus.class_ink_coverage()
    tiles, motif = corpus.one_hot(), corpus.labels.reshape(-1, 1)
    assert float(class_ink_gap(tiles, motif, targets)) == pytest.approx(0.0, abs=1e-10)
    # Soft tiles that print the same (the most likely slot unchanged): the value is the printed coverage.
    soft = 0.7 * tiles + 0.1
    assert float(class_ink_gap(soft, motif, targets)) == pytest.approx(0.0, abs=1e-10)


def test_a_class_of_solid_ink_or_blank_paper_costs_its_squared_gap(corpus):
    targets = corpus.class_ink_coverage()
    tiles, motif = corpus.one_hot(), corpus.labels.reshape(-1, 1)
    dots = corpus.labels == 1
    solid = tiles.copy()
    solid[dots] = np.eye(3, dtype=np.float32)[1]  # every dots pixel in the first ink
    assert float(class_ink_gap(solid, motif, targets)) == pytest.approx((1.0 - targets[1]) ** 2, rel=1e-5)
    blank = tiles.copy()
    blank[dots] = np.eye(3, dtype=np.float32)[0]
    assert float(class_ink_gap(blank, motif, targets)) == pytest.approx(targets[1] ** 2, rel=1e-5)
    # A batch without dots says nothing about dots.
    assert float(class_ink_gap(solid[~dots], motif[~dots], targets)) == pytest.approx(0.0, abs=1e-10)


def test_the_gradient_moves_only_the_collapsed_class_towards_paper(corpus):
    import tensorflow as tf

    targets = corpus.class_ink_coverage()
    tiles, motif = corpus.one_hot(), corpus.labels.reshape(-1, 1)
    dots = corpus.labels == 1
    tiles[dots] = np.float32([0.1, 0.8, 0.1])  # soft solid ink: argmax has no gradient, the estimate does
    x = tf.constant(tiles)
    with tf.GradientTape() as tape:
        tape.watch(x)
        gap = class_ink_gap(x, motif, targets)
    grad = tape.gradient(gap, x).numpy()
    assert float(gap) > 0.2
    assert (grad[dots][..., 0] < 0).all()  # more paper lowers the gap
    np.testing.assert_array_equal(grad[~dots], 0.0)  # classes at their coverage are left alone


def test_the_profile_setting_trains_with_the_corpus_targets(corpus):
    import keras

    from packaging_pipeline.gan.training import PROFILES, build_gan, make_dataset, model_shape

    profile = dataclasses.replace(PROFILES["cpu"], name="tiny", size=16, filters=4, latent_dim=8, batch_size=16,
                                  ink_coverage_weight=5.0)  # fmt: skip
    with pytest.raises(InputError, match="ink_coverage_weight needs the training corpus"):
        build_gan(model_shape(corpus, profile), profile, seed=0, jit=False)
    keras.utils.set_random_seed(0)
    gan = build_gan(model_shape(corpus, profile), profile, seed=0, jit=False, corpus=corpus)
    assert gan.ink_targets == pytest.approx(corpus.class_ink_coverage().tolist())
    history = gan.fit(make_dataset(corpus, profile.batch_size, 0), epochs=1, verbose=0)
    assert np.isfinite(history.history["ink_gap"][-1]) and history.history["ink_gap"][-1] >= 0.0
