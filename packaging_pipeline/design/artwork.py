"""Artwork tiles for print: where they come from, how they reach print resolution, which inks they use.

A night's tiles come from the generator carrying the ``champion`` alias. Until a model has been
promoted they come from the procedural motif corpus, never from an unpromoted model; the source is
recorded in every design's ``spec.json``. Tiles leave here as hard slot indices (0 = paper,
1..K-1 = inks), upscaled on the torus so the repeat stays seamless at print resolution.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from packaging_pipeline.core.colour import contrast_ratio, relative_luminance
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.tracking import tracking_uri
from packaging_pipeline.gan.motifs import MOTIFS, procedural_corpus
from packaging_pipeline.gan.registry import CHAMPION, MODEL_NAME, champion_version, load_generator
from packaging_pipeline.gan.render import generate_separations

log = logging.getLogger(__name__)

PRINT_TILE_PX = 512
"""Pixels per tile side at print resolution: 512 px over a 40 mm repeat is 325 dpi (>= 300 dpi, offset quality)."""
K_SLOTS = 3


@dataclasses.dataclass(frozen=True)
class ArtworkSource:
    """Which model (or the procedural corpus) painted a night's tiles, for spec.json and the report."""

    kind: str  # "model" or "procedural"
    model_uri: str | None = None
    model_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def upscale_separation(soft: np.ndarray, px: int = PRINT_TILE_PX) -> np.ndarray:
    """Slot indices uint8 [px, px] from a soft separation [h, w, K]: smooth edges, still seamless.

    The probabilities are interpolated with wrap-around (the tile is a torus), and each print pixel
    takes its most likely slot: edges stay hard (no blur, no grey) and follow the smooth level lines
    of the interpolated field, instead of 32-pixel staircases.
    """
    soft = np.asarray(soft, dtype=np.float32)
    if soft.ndim != 3 or soft.shape[0] != soft.shape[1]:
        raise ValueError(f"expected a square soft separation [h, h, K], got {soft.shape}")
    size = soft.shape[0]
    # Bilinear on the torus: output pixel centres mapped to source coordinates, neighbours wrap.
    u = (np.arange(px) + 0.5) * size / px - 0.5
    lo = np.floor(u).astype(np.int64)
    w = (u - lo).astype(np.float32)
    i0, i1 = lo % size, (lo + 1) % size
    rows = soft[i0] * (1 - w)[:, None, None] + soft[i1] * w[:, None, None]
    up = rows[:, i0] * (1 - w)[None, :, None] + rows[:, i1] * w[None, :, None]
    return up.argmax(-1).astype(np.uint8)


def procedural_tiles(motif: str, n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` one-hot tiles [n, size, size, K] of one motif from the shipped procedural corpus."""
    if motif not in MOTIFS:
        raise InputError(f"unknown motif {motif!r}; choose one of {', '.join(MOTIFS)}")
    return procedural_corpus(n, size=size, k_slots=K_SLOTS, seed=seed, motifs=(motif,)).one_hot()


def champion_generator() -> tuple[Any, ArtworkSource] | None:
    """The promoted generator and its source, or None while no version carries ``champion``."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    version = champion_version(mlflow.MlflowClient())
    if version is None:
        return None
    uri = f"models:/{MODEL_NAME}@{CHAMPION}"
    return load_generator(uri), ArtworkSource("model", uri, str(version.version))


def night_tiles(
    motifs: Sequence[str], per_motif: int, seed: int = 0, use_model: bool = True
) -> tuple[dict[str, np.ndarray], ArtworkSource]:
    """Print-resolution slot tiles per motif, from the champion if there is one, else procedural."""
    unknown = sorted(set(motifs) - set(MOTIFS))
    if unknown:
        raise InputError(f"unknown motif(s) {unknown}; choose from {', '.join(MOTIFS)}")
    found = champion_generator() if use_model else None
    if found is None:
        log.info("no champion model: artwork comes from the procedural motif corpus")
        generator, source = None, ArtworkSource("procedural")
    else:
        generator, source = found
    tiles: dict[str, np.ndarray] = {}
    for motif in motifs:
        label = MOTIFS.index(motif)
        if generator is None:
            soft = procedural_tiles(motif, per_motif, seed=seed)
        else:
            soft = generate_separations(generator, label, per_motif, seed=seed * 1000 + label)
        tiles[motif] = np.stack([upscale_separation(s) for s in soft])
    return tiles, source


def inks_for_slots(palette_hex: Sequence[str], paper_hex: str, k_slots: int = K_SLOTS) -> list[str]:
    """Palette colours for ink slots 1..K-1, lightest on slot 1, darkest on the last slot.

    Slots are ordered by luminance (slot 0 is the paper), so the darkest palette colours go to the
    darkest slots and a motif keeps its light/dark structure in every segment's colours. Colours too
    close to the paper to show are skipped.
    """
    usable = [c for c in dict.fromkeys(palette_hex) if contrast_ratio(c, paper_hex) >= 1.3]
    if not usable:
        raise InputError(f"palette {list(palette_hex)} has no colour that shows on paper {paper_hex}")
    chosen = sorted(usable[: k_slots - 1], key=relative_luminance, reverse=True)
    while len(chosen) < k_slots - 1:  # a one-colour palette prints every ink slot in that colour
        chosen.append(chosen[-1])
    return chosen


def palette_variants(palette_hex: Sequence[str], paper_hex: str, most: int = 4) -> list[list[str]]:
    """Ink sets a segment's palette offers (the feedback loop's palette arms); the first is the default.

    The first is :func:`inks_for_slots` of the whole palette (what every design prints without
    feedback); the others take other pairs of its printable colours, in palette order.
    """
    import itertools

    variants = [inks_for_slots(palette_hex, paper_hex)]
    usable = [c for c in dict.fromkeys(palette_hex) if contrast_ratio(c, paper_hex) >= 1.3]
    for combo in itertools.combinations(usable, K_SLOTS - 1):
        inks = inks_for_slots(combo, paper_hex)
        if inks not in variants and len(variants) < most:
            variants.append(inks)
    return variants
