"""A user's corpus: a folder or S3 prefix with one sub-folder per motif class.

Its images are colour-quantised into K slots ordered by luminance (lightest = paper) and cropped
into tiles; what cannot be used is skipped and counted in the corpus report, never silently.
"""

from __future__ import annotations

import io
import posixpath
import zlib
from collections import Counter
from typing import Any

import numpy as np

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.storage import Lake, LocalLake
from packaging_pipeline.gan.corpus import Corpus, _check_k_slots, quantise_to_slots

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

MIN_IMAGE_SIDE = 4
"""Images with a shorter side below this hold no motif worth upscaling; they are skipped as ``too_small``."""

MAX_IMAGE_BYTES = 200 * 1024 * 1024

WORK_SIDE_FACTOR = 2
"""Large images are downscaled so their shorter side is this many tiles: a crop then shows a motif, not a pixel."""

MAX_FILES_LISTED = 20


class _Skip(Exception):
    """A file that cannot become tiles; ``reason`` is the report key."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _decode_rgb(data: bytes, size: int) -> np.ndarray:
    """Decode an image to RGB uint8 [h, w, 3] at working resolution (see WORK_SIDE_FACTOR)."""
    from PIL import Image, ImageOps

    work = WORK_SIDE_FACTOR * size
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if min(w, h) < MIN_IMAGE_SIDE:
            raise _Skip("too_small")
        if min(w, h) > work:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale for free while staying at least the requested size.
            img.draft(None, (max(1, w * work // min(w, h)), max(1, h * work // min(w, h))))
        img.load()  # truncated or corrupt data fails here, not later
        img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
    except _Skip:
        raise
    except Image.DecompressionBombError:
        raise _Skip("too_large") from None
    except Exception:  # noqa: BLE001 - image decoders raise many types on bad input; any of them means "unreadable"
        raise _Skip("unreadable") from None
    w, h = img.size
    short = min(w, h)
    if short > work or short < size:
        # Downscale with an antialiasing filter (motif, not pixels); upscale small images so one crop fits.
        target = work if short > work else size
        new = (max(target, round(w * target / short)), max(target, round(h * target / short)))
        resample = Image.Resampling.LANCZOS if short > work else Image.Resampling.BICUBIC
        img = img.resize(new, resample, reducing_gap=3.0 if short > work else None)
    return np.asarray(img, dtype=np.uint8)


def _to_rgb(img: Any) -> Any:
    """Any Pillow mode to 8-bit RGB: transparency composited on white paper, 16-bit and float ranges rescaled."""
    from PIL import Image

    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if mode.startswith("I;16"):
            scale, low = 65535.0, 0.0
        elif mode == "F" and 0.0 <= arr.min() and top <= 1.0:
            scale, low = 1.0, 0.0
        elif arr.min() >= 0 and top <= 255:
            scale, low = 255.0, 0.0
        elif arr.min() >= 0 and top <= 65535:
            scale, low = 65535.0, 0.0
        else:
            low = float(arr.min())
            scale = max(top - low, 1e-12)
        gray = np.clip(np.round((arr - low) / scale * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return img.convert("RGB")


def _crops(slots: np.ndarray, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    h, w = slots.shape
    tops, lefts = rng.integers(0, h - size + 1, n), rng.integers(0, w - size + 1, n)
    return np.stack([slots[t : t + size, left : left + size] for t, left in zip(tops, lefts, strict=True)])


def _list_classes(lake: Lake, prefix: str) -> tuple[dict[str, list[str]], Counter, list[str]]:
    """Candidate image keys per class folder (class folders with no files included), plus skips from listing."""
    base = f"{prefix}/" if prefix else ""
    classes: dict[str, list[str]] = {}
    skipped: Counter = Counter()
    files_skipped: list[str] = []

    def skip(key: str, reason: str) -> None:
        skipped[reason] += 1
        if len(files_skipped) < MAX_FILES_LISTED:
            files_skipped.append(key)

    for obj in lake.list(base):
        if not obj.key.startswith(base):  # a local listing of "abc/" may also match "abcd/"
            continue
        rel = obj.key[len(base) :]
        parts = rel.split("/")
        if len(parts) < 2:
            skip(obj.key, "outside_class_folder")
            continue
        cls, name = parts[0], parts[-1]
        if cls.startswith(".") or cls == "__MACOSX" or any(p.startswith(".") for p in parts[1:-1]):
            skip(obj.key, "hidden_file")
            continue
        classes.setdefault(cls, [])
        if not name:
            continue  # an S3 "folder" marker: the class exists, even if it holds nothing
        if name.startswith("."):
            skip(obj.key, "hidden_file")
        elif posixpath.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            skip(obj.key, "not_an_image")
        elif obj.size == 0:
            skip(obj.key, "empty_file")
        elif obj.size > MAX_IMAGE_BYTES:
            skip(obj.key, "too_large")
        else:
            classes[cls].append(obj.key)
    if isinstance(lake, LocalLake):
        # A local folder can exist with no files at all; listing objects cannot see it, so look at directories.
        root = lake.root / prefix if prefix else lake.root
        if root.is_dir():
            for child in root.iterdir():
                if child.is_dir() and not child.name.startswith(".") and child.name != "__MACOSX":
                    classes.setdefault(child.name, [])
    return dict(sorted(classes.items())), skipped, files_skipped


def load_image_corpus(
    lake: Lake,
    prefix: str,
    size: int = 32,
    k_slots: int = 3,
    crops_per_image: int = 4,
    seed: int = 0,
    max_images_per_class: int | None = None,
) -> Corpus:
    """Tiles from a folder or S3 prefix of images, one sub-folder per motif class (nested folders count as it).

    Each image is converted to RGB (transparency onto white paper), brought to a working size (shorter side
    ``2 * size`` when larger; images smaller than ``size`` are upscaled, below 4 px skipped as ``too_small``),
    quantised into ``k_slots`` slots by luminance, and cut into ``crops_per_image`` seeded random crops.
    Unusable files are skipped and counted in ``report``; a corpus that cannot train a conditional GAN raises.
    Crops of photographs or scans are not periodic: compare seam scores against this corpus, not against 1.
    """
    _check_k_slots(k_slots)
    if size < 8 or crops_per_image < 1:
        raise ValueError(f"need size >= 8 and crops_per_image >= 1, got {size} and {crops_per_image}")
    prefix = prefix.strip("/")
    where = lake.uri_of(prefix) if prefix else lake.uri
    example = f"{where.rstrip('/')}/florals/rose.png"
    classes, skipped, files_skipped = _list_classes(lake, prefix)
    if not classes:
        found = sum(skipped.values())
        what = f"{found} file(s) but no class sub-folders" if found else "nothing"
        raise InputError(f"{what} under {where}: put images in one sub-folder per motif class, e.g. {example}")
    if len(classes) < 2:
        raise InputError(
            f"only one class folder ({next(iter(classes))!r}) under {where}: a conditional GAN needs at least two "
            f"motif classes to condition on; add another sub-folder of images, e.g. {example}"
        )
    tiles: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    per_class: dict[str, int] = {}
    images_per_class: dict[str, int] = {}
    images_read = 0
    for label, (cls, keys) in enumerate(classes.items()):
        if max_images_per_class is not None:
            # A seeded sample rather than the first names: file names often sort by date or source.
            keys = [keys[i] for i in np.random.default_rng([seed, zlib.crc32(cls.encode())]).permutation(len(keys))]
        used = 0
        for key in keys:
            if max_images_per_class is not None and used >= max_images_per_class:
                break
            try:
                try:
                    data = lake.read_bytes(key)
                except OSError:
                    raise _Skip("read_failed") from None
                rgb = _decode_rgb(data, size)
            except _Skip as skip:
                skipped[skip.reason] += 1
                if len(files_skipped) < MAX_FILES_LISTED:
                    files_skipped.append(key)
                continue
            slots = quantise_to_slots(rgb, k_slots)
            # Crops depend on the file's place in the corpus, not on listing order or where the corpus lives.
            rng = np.random.default_rng([seed, zlib.crc32(key[len(prefix) :].lstrip("/").encode())])
            tiles.append(_crops(slots, size, crops_per_image, rng))
            labels.append(np.full(crops_per_image, label, dtype=np.int32))
            used += 1
        images_read += used
        images_per_class[cls] = used
        per_class[cls] = used * crops_per_image
    empty = [cls for cls, n in per_class.items() if n == 0]
    if empty:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(skipped.items())) or "no files"
        raise InputError(
            f"class folder(s) {', '.join(repr(c) for c in empty)} under {where} hold no usable image "
            f"(skipped files: {reasons}): add JPEG or PNG images to them, or remove the folder(s)"
        )
    report = {
        "source": where,
        "seed": seed,
        "size": size,
        "k_slots": k_slots,
        "images_read": images_read,
        "tiles": images_read * crops_per_image,
        "skipped": dict(sorted(skipped.items())),
        "files_skipped": files_skipped,
        "per_class": per_class,
        "images_per_class": images_per_class,
    }
    return Corpus(np.concatenate(tiles), np.concatenate(labels), tuple(classes), k_slots, report)
