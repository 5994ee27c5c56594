"""Motif corpus: procedural tiles are deterministic and seamless, images quantise to ink slots, class
weights resample (user images on a local lake and on S3: tests/integration/test_corpus_lakes.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from packaging_pipeline.gan.corpus import Corpus, quantise_to_slots, seam_score, tile_2x2
from packaging_pipeline.gan.motifs import MOTIFS, procedural_corpus

# --- procedural corpus -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return procedural_corpus(64, size=32, k_slots=3, seed=0)


def test_procedural_corpus_has_every_class_with_n_tiles_and_valid_slots(corpus):
    assert corpus.class_names == MOTIFS
    assert corpus.slots.shape == (64 * len(MOTIFS), 32, 32) and corpus.slots.dtype == np.uint8
    assert corpus.labels.dtype == np.int32
    assert np.bincount(corpus.labels).tolist() == [64] * len(MOTIFS)
    assert corpus.slots.min() == 0 and corpus.slots.max() == 2
    assert corpus.report["per_class"] == dict.fromkeys(MOTIFS, 64)
    for c in range(len(MOTIFS)):
        tiles = corpus.slots[corpus.labels == c]
        ink = (tiles > 0).mean(axis=(1, 2))
        assert (ink > 0).all() and (ink < 1).all(), MOTIFS[c]  # every tile shows paper and ink
        used = {len(np.unique(t)) for t in tiles}
        assert used == {2, 3}, MOTIFS[c]  # one or two inks on paper


def test_procedural_corpus_is_deterministic_by_seed(corpus):
    again = procedural_corpus(64, size=32, k_slots=3, seed=0)
    np.testing.assert_array_equal(again.slots, corpus.slots)
    np.testing.assert_array_equal(again.labels, corpus.labels)
    other = procedural_corpus(64, size=32, k_slots=3, seed=1)
    assert (other.slots != corpus.slots).mean() > 0.2


def test_a_class_does_not_change_when_other_classes_are_left_out(corpus):
    only = procedural_corpus(64, size=32, k_slots=3, seed=0, motifs=("waves", "dots"))
    assert only.class_names == ("waves", "dots")
    np.testing.assert_array_equal(only.slots[only.labels == 0], corpus.slots[corpus.labels == MOTIFS.index("waves")])


def test_procedural_corpus_other_sizes_and_slot_counts():
    for size, k in ((16, 2), (64, 4)):
        c = procedural_corpus(8, size=size, k_slots=k, seed=3)
        assert c.slots.shape == (8 * len(MOTIFS), size, size)
        assert c.slots.max() == k - 1
        assert c.one_hot().shape == (8 * len(MOTIFS), size, size, k)
    with pytest.raises(ValueError, match="k_slots"):
        procedural_corpus(4, k_slots=5)
    with pytest.raises(ValueError, match="motifs"):
        procedural_corpus(4, motifs=("stripes", "paisley"))


def test_procedural_corpus_is_fast():
    start = time.perf_counter()
    procedural_corpus(64, size=32, k_slots=3, seed=7)
    assert time.perf_counter() - start < 1.5


def test_procedural_tiles_are_seamless_and_a_ramp_is_not(corpus):
    overall = seam_score(corpus.slots)
    assert 0.85 < overall < 1.15
    for c, name in enumerate(MOTIFS):
        assert 0.75 < seam_score(corpus.slots[corpus.labels == c]) < 1.25, name
    # The same score in one-hot (and soft) space, as the generator's output is scored.
    assert seam_score(corpus.one_hot()) == pytest.approx(overall, rel=1e-6)
    ramp = np.broadcast_to(np.linspace(0, 1, 32)[None, :, None], (32, 32, 3))
    control = np.stack([np.roll(quantise_to_slots(ramp, 3), s, axis=0) for s in range(8)])
    assert seam_score(control) > 3 * overall
    smooth = np.eye(3, dtype=np.float32)[control] * 0.8 + 0.2 / 3
    assert seam_score(smooth) == pytest.approx(seam_score(control), rel=1e-5)


def test_seam_score_of_flat_tiles_and_bad_shapes():
    assert seam_score(np.zeros((2, 8, 8), dtype=np.uint8)) == 1.0
    with pytest.raises(ValueError):
        seam_score(np.zeros((8, 8)))


def test_tile_2x2_repeats_each_image():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    tiled = tile_2x2(x)
    assert tiled.shape == (2, 6, 8, 5)
    np.testing.assert_array_equal(tiled[:, 3:, 4:], x)
    one = tile_2x2(x[0], batched=False)
    assert one.shape == (6, 8, 5)
    np.testing.assert_array_equal(one, tiled[0])


def test_one_hot_matches_slots(corpus):
    oh = corpus.one_hot()
    assert oh.dtype == np.float32 and oh.shape == (*corpus.slots.shape, 3)
    np.testing.assert_array_equal(oh.argmax(-1), corpus.slots)
    np.testing.assert_array_equal(oh.sum(-1), 1.0)


def test_split_is_stratified_and_deterministic(corpus):
    train, hold = corpus.split(0.25, seed=5)
    assert np.bincount(hold.labels).tolist() == [16] * len(MOTIFS)
    assert np.bincount(train.labels).tolist() == [48] * len(MOTIFS)
    train2, hold2 = corpus.split(0.25, seed=5)
    np.testing.assert_array_equal(hold.slots, hold2.slots)
    np.testing.assert_array_equal(train.slots, train2.slots)
    _, hold3 = corpus.split(0.25, seed=6)
    assert not np.array_equal(hold.slots, hold3.slots)
    # Disjoint and complete: every tile lands on exactly one side.
    keys = {t.tobytes() for t in corpus.slots}
    assert len({t.tobytes() for t in train.slots} | {t.tobytes() for t in hold.slots}) == len(keys)
    assert hold.report["split"] == "holdout" and hold.class_names == corpus.class_names
    # Tiny classes keep a tile on each side.
    small = procedural_corpus(2, motifs=("stripes", "dots"))
    tr, ho = small.split(0.1, seed=0)
    assert np.bincount(tr.labels).tolist() == [1, 1] and np.bincount(ho.labels).tolist() == [1, 1]


# --- quantisation ------------------------------------------------------------------------------------------------


def test_quantise_orders_slots_by_luminance():
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    img[:, :10] = (20, 30, 140)  # dark navy
    img[:, 10:20] = (250, 245, 230)  # cream paper
    img[:, 20:] = (220, 60, 50)  # red, between the two
    slots = quantise_to_slots(img, 3)
    assert slots.dtype == np.uint8 and slots.shape == (20, 30)
    assert (slots[:, 10:20] == 0).all() and (slots[:, 20:] == 1).all() and (slots[:, :10] == 2).all()
    # Scale does not matter: floats in 0..1 give the same slots.
    np.testing.assert_array_equal(quantise_to_slots(img / 255.0, 3), slots)


def test_quantise_handles_flat_and_two_colour_images():
    flat = np.full((8, 8, 3), 90, dtype=np.uint8)
    assert (quantise_to_slots(flat, 4) == 0).all()
    two = np.zeros((8, 8, 3))
    two[:4] = 1.0
    slots = quantise_to_slots(two, 4)
    assert set(np.unique(slots)) == {0, 1} and (slots[:4] == 0).all()
    noisy = np.random.default_rng(0).random((16, 16, 3))
    assert set(np.unique(quantise_to_slots(noisy, 3))) == {0, 1, 2}


# --- class weights -----------------------------------------------------------------------------------------------


def test_resampling_by_class_weights_shifts_the_class_shares_deterministically():
    corpus = procedural_corpus(40, size=16, seed=3)
    weights = {name: 1.0 for name in corpus.class_names} | {corpus.class_names[0]: 4.0}
    first, again = corpus.resampled(weights, seed=1), corpus.resampled(weights, seed=1)
    assert len(first.labels) == len(corpus.labels) and np.array_equal(first.labels, again.labels)
    shares = np.bincount(first.labels, minlength=len(corpus.class_names)) / len(first.labels)
    assert shares[0] > 2.5 / (len(corpus.class_names) + 3)  # expected 4/11 of the tiles, against 1/8 before
    assert first.report["class_weights"][corpus.class_names[0]] == 4.0
    with pytest.raises(ValueError, match="cannot resample"):
        corpus.resampled(dict.fromkeys(corpus.class_names, 0.0), seed=1)
