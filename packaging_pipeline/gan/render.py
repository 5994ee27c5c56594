"""From ink separations to pixels: colouring with a palette, sample grids for people.

Colour is applied after generation, so a design uses exactly its segment's palette and the ink
count is the number of slots; the same learned motif serves every segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, hex_unit_rgb
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.vocabulary import COLOR_HEX
from packaging_pipeline.gan.corpus import tile_2x2
from packaging_pipeline.gan.registry import load_generator

# Palettes for looking at samples before any segment exists (ink colours, darkest last).
PREVIEW_PALETTES = (
    ("beige", "olive", "brown"),
    ("pink", "purple", "black"),
    ("yellow", "blue", "navy"),
    ("orange", "red", "black"),
)


def colourise(separations: np.ndarray, inks: Sequence[str], paper: str = PAPER_HEX) -> np.ndarray:
    """[..., H, W, K] soft separations -> [..., H, W, 3] uint8 RGB with paper + K-1 ink colours.

    ``inks`` are colour names from the vocabulary or ``#rrggbb``; missing inks repeat the last one.
    """
    k = separations.shape[-1]
    names = list(inks)[: k - 1] or ["black"]
    while len(names) < k - 1:
        names.append(names[-1])
    colours = np.stack([hex_unit_rgb(paper)] + [hex_unit_rgb(COLOR_HEX.get(n, n)) for n in names])
    rgb = np.tensordot(separations.astype(np.float32), colours, axes=([-1], [0]))
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def generate_separations(generator: Any, motif: int, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``n`` soft separations of motif class ``motif`` from a generator (Keras model or MLflow pyfunc-free)."""
    latent = int(generator.inputs[0].shape[-1])
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, latent)).astype(np.float32)
    motifs = np.full((n, 1), motif, dtype=np.int32)
    # A direct call, not predict(): predict() sets up a fresh input pipeline per call, which cost
    # ten times the generation itself for the few hundred tiles a night asks per motif.
    batches = [
        np.asarray(generator([noise[i : i + batch_size], motifs[i : i + batch_size]], training=False))
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, *generator.outputs[0].shape[1:]), np.float32)


def sample_grid(generator: Any, class_names: Sequence[str], seed: int = 0, per_class: int = 4) -> np.ndarray:
    """One row per motif, ``per_class`` samples in preview palettes, each tiled 2x2 with a white gutter."""
    rows = []
    for motif in range(len(class_names)):
        seps = generate_separations(generator, motif, per_class, seed=seed * 1000 + motif)
        tiles = [tile_2x2(colourise(s, PREVIEW_PALETTES[i % len(PREVIEW_PALETTES)]), batched=False)
                 for i, s in enumerate(seps)]
        rows.append(_stack_with_gutter(tiles, axis=1))
    return _stack_with_gutter(rows, axis=0)


def _stack_with_gutter(images: list[np.ndarray], axis: int, gutter: int = 2) -> np.ndarray:
    """Join images along ``axis`` (1: side by side, 0: top to bottom) with white gutters between them."""
    shape = list(images[0].shape)
    shape[axis] = gutter
    pad = np.full(shape, 255, np.uint8)
    parts: list[np.ndarray] = []
    for img in images:
        parts += [img, pad]
    return np.concatenate(parts[:-1], axis=axis)


def write_sample_tiles(
    model_uri: str, motif: str, n: int, out_dir: str, inks: Sequence[str] = PREVIEW_PALETTES[0], seed: int = 0
) -> dict[str, Any]:
    """Generate ``n`` tiles of ``motif`` from a registered model and write PNGs (tile and 2x2 repeat)."""
    from pathlib import Path

    import mlflow
    from PIL import Image

    generator = load_generator(model_uri)
    meta_uri = mlflow.models.get_model_info(model_uri).run_id
    class_names = mlflow.artifacts.load_dict(f"runs:/{meta_uri}/model_meta.json")["class_names"]
    if motif not in class_names:
        raise InputError(f"motif {motif!r} is not one the model knows; choose one of {', '.join(class_names)}")
    seps = generate_separations(generator, class_names.index(motif), n, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, sep in enumerate(seps):
        rgb = colourise(sep, inks)
        for name, img in ((f"{motif}-{i:03d}.png", rgb), (f"{motif}-{i:03d}-2x2.png", tile_2x2(rgb, batched=False))):
            Image.fromarray(img).save(out / name)
            files.append(str(out / name))
    return {"model_uri": model_uri, "motif": motif, "tiles": n, "out_dir": str(out), "files": files}
