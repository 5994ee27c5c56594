"""Motif corpus: procedural tiles are deterministic and seamless; user images become slot tiles or fail clearly."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.gan.corpus import (
    MOTIFS,
    Corpus,
    load_image_corpus,
    procedural_corpus,
    quantise_to_slots,
    seam_score,
    tile_2x2,
)

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


# --- user corpus on a lake ---------------------------------------------------------------------------------------


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _stripes_rgb(w: int, h: int, period: int = 12) -> np.ndarray:
    x = np.arange(w)[None, :].repeat(h, 0)
    rgb = np.full((h, w, 3), 245, dtype=np.uint8)
    rgb[(x % period) < period // 3] = (30, 40, 120)
    return rgb


def _dots_rgb(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.full((h, w, 3), 250, dtype=np.uint8)
    rgb[np.hypot((xx % 16) - 8, (yy % 16) - 8) < 5] = (200, 40, 40)
    return rgb


def _write_corpus(lake, prefix: str = "motifs") -> None:
    w = lambda key, data: lake.write_bytes(f"{prefix}/{key}", data)  # noqa: E731
    w("stripes/rgb-large.png", _png(Image.fromarray(_stripes_rgb(400, 300))))
    w("stripes/photo.jpg", _jpeg(Image.fromarray(_stripes_rgb(120, 90))))
    w("stripes/gray.png", _png(Image.fromarray(_stripes_rgb(80, 80)[..., 0], "L")))
    sixteen = (_stripes_rgb(70, 50)[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    img16 = Image.fromarray(sixteen)
    assert img16.mode.startswith("I;16")
    w("stripes/deep-16bit.png", _png(img16))
    w("stripes/tiny.png", _png(Image.fromarray(_stripes_rgb(12, 10, period=4))))
    w("stripes/speck.png", _png(Image.fromarray(_stripes_rgb(2, 2))))
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # transparent background, opaque red dots
    dots = _dots_rgb(64, 64)
    rgba[..., :3] = dots
    rgba[..., 3] = np.where((dots == 250).all(-1), 0, 255)
    w("dots/transparent.png", _png(Image.fromarray(rgba, "RGBA")))
    w("dots/palette.png", _png(Image.fromarray(_dots_rgb(96, 64)).convert("P", palette=Image.Palette.ADAPTIVE)))
    w("dots/corrupt.png", b"this is not a png at all" * 10)
    w("dots/truncated.png", _png(Image.fromarray(_dots_rgb(64, 64)))[:200])
    w("dots/zero.jpg", b"")
    w("dots/README.txt", b"florals from the spring catalogue")


def test_user_corpus_reads_every_mode_and_skips_bad_files(lake):
    _write_corpus(lake)
    c = load_image_corpus(lake, "motifs", size=32, k_slots=3, crops_per_image=4, seed=0)
    assert c.class_names == ("dots", "stripes")
    report = c.report
    assert report["images_read"] == 7
    assert report["per_class"] == {"dots": 8, "stripes": 20}
    assert report["skipped"] == {"empty_file": 1, "not_an_image": 1, "too_small": 1, "unreadable": 2}
    assert set(report["files_skipped"]) == {
        "motifs/dots/README.txt", "motifs/dots/zero.jpg", "motifs/dots/corrupt.png", "motifs/dots/truncated.png",
        "motifs/stripes/speck.png",
    }  # fmt: skip
    assert c.slots.shape == (28, 32, 32) and c.slots.max() <= 2
    # Paper (the lightest colour, white after compositing) is slot 0; the motif is ink.
    for tiles in (c.slots[c.labels == 0], c.slots[c.labels == 1]):
        assert 0.3 < (tiles == 0).mean() < 0.95
    again = load_image_corpus(lake, "motifs/", size=32, k_slots=3, crops_per_image=4, seed=0)
    np.testing.assert_array_equal(again.slots, c.slots)


def test_user_corpus_converts_modes_correctly(local_lake):
    """Grayscale, 16-bit, palette and RGBA files give exactly the tiles of their RGB original."""
    stripes, dots = _stripes_rgb(64, 64), _dots_rgb(64, 64)
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # black where transparent: wrong compositing turns it into ink
    rgba[..., :3] = np.where((stripes == 245).all(-1, keepdims=True), 0, stripes)
    rgba[..., 3] = np.where((stripes == 245).all(-1), 0, 255)
    variants = {
        "rgb": Image.fromarray(stripes),
        "gray": Image.fromarray(stripes[..., 0], "L"),
        "deep": Image.fromarray((stripes[..., 0].astype(np.uint16) * 257).astype(np.uint16)),
        "palette": Image.fromarray(stripes).convert("P", palette=Image.Palette.ADAPTIVE, colors=4),
        "rgba": Image.fromarray(rgba, "RGBA"),
    }
    tiles = {}
    for name, img in variants.items():
        local_lake.write_bytes(f"{name}/stripes/img.png", _png(img))
        local_lake.write_bytes(f"{name}/dots/img.png", _png(Image.fromarray(dots)))
        c = load_image_corpus(local_lake, name, size=32, crops_per_image=3, seed=1, k_slots=2)
        tiles[name] = c.slots[c.labels == c.class_names.index("stripes")]
    for name, got in tiles.items():
        np.testing.assert_array_equal(got, tiles["rgb"], err_msg=name)
    assert 0.2 < tiles["rgb"].mean() < 0.45  # a third of each period is ink, slot 1


def test_user_corpus_max_images_per_class_and_seeded_crops(local_lake):
    for i in range(5):
        local_lake.write_bytes(f"m/stripes/s{i}.png", _png(Image.fromarray(_stripes_rgb(200 + 10 * i, 150))))
        local_lake.write_bytes(f"m/dots/d{i}.png", _png(Image.fromarray(_dots_rgb(150, 200 + 10 * i))))
    c = load_image_corpus(local_lake, "m", max_images_per_class=2, crops_per_image=3)
    assert c.report["per_class"] == {"dots": 6, "stripes": 6}
    other = load_image_corpus(local_lake, "m", max_images_per_class=2, crops_per_image=3, seed=9)
    assert not np.array_equal(c.slots, other.slots)


def test_empty_corpus_is_an_input_error(lake):
    with pytest.raises(InputError, match="nothing under .*nothing-here: put images in one sub-folder per motif class"):
        load_image_corpus(lake, "nothing-here")
    lake.write_bytes("flat/loose.png", _png(Image.fromarray(_dots_rgb(40, 40))))
    with pytest.raises(InputError, match=r"1 file\(s\) but no class sub-folders"):
        load_image_corpus(lake, "flat")


def test_one_class_is_an_input_error_saying_why(lake):
    lake.write_bytes("one/dots/a.png", _png(Image.fromarray(_dots_rgb(40, 40))))
    with pytest.raises(InputError, match=r"'dots'.*conditional GAN needs at least two"):
        load_image_corpus(lake, "one")


def test_a_class_without_usable_images_is_named(lake):
    lake.write_bytes("two/dots/a.png", _png(Image.fromarray(_dots_rgb(40, 40))))
    lake.write_bytes("two/stripes/broken.png", b"\x89PNG\r\n\x1a\n garbage")
    lake.write_bytes("two/stripes/notes.txt", b"todo")
    with pytest.raises(InputError, match=r"'stripes'.*no usable image.*not_an_image: 1, unreadable: 1"):
        load_image_corpus(lake, "two")


def test_an_empty_class_folder_is_named(lake):
    lake.write_bytes("three/dots/a.png", _png(Image.fromarray(_dots_rgb(40, 40))))
    lake.write_bytes("three/stripes/b.png", _png(Image.fromarray(_stripes_rgb(40, 40))))
    if isinstance(lake, LocalLake):
        (lake.root / "three" / "florals").mkdir(parents=True)
    else:
        lake.write_bytes("three/florals/", b"")  # the folder marker the S3 console creates
    with pytest.raises(InputError, match=r"'florals'.*no usable image"):
        load_image_corpus(lake, "three")


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
