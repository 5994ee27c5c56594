"""Motif corpus from user images on a lake (local and S3 over HTTP): every image mode becomes slot tiles,
bad files are skipped, and corpora that cannot train fail with a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.gan.image_corpus import load_image_corpus

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
