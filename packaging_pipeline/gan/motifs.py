"""The procedural corpus: eight motif classes drawn from functions periodic over the tile.

Every field is a function of (x, y) in [0, 1)^2 with integer frequencies, so every tile repeats on
a box panel without a seam.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from packaging_pipeline.gan.corpus import Corpus, _check_k_slots

MOTIFS = ("stripes", "dots", "checks", "chevrons", "waves", "blobs", "terrazzo", "geometric")
"""Procedural motif classes; ``blobs`` are florals and organic shapes."""


def _frac(a: np.ndarray) -> np.ndarray:
    return a - np.floor(a)


def _wave_vectors(rng: np.random.Generator, lo: float, hi: np.ndarray) -> np.ndarray:
    """Integer wave vectors [n, 2] with norm in [lo, hi[i]]: integers keep a rotated pattern periodic on the tile."""
    top = int(np.ceil(hi.max()))
    p, q = np.meshgrid(np.arange(-top, top + 1), np.arange(-top, top + 1), indexing="ij")
    cand = np.stack([p.ravel(), q.ravel()], axis=1)
    cand = cand[(cand[:, 0] > 0) | ((cand[:, 0] == 0) & (cand[:, 1] > 0))]  # (p, q) and (-p, -q) draw the same
    norm = np.hypot(cand[:, 0], cand[:, 1])
    keep = norm >= lo
    cand, norm = cand[keep][np.argsort(norm[keep], kind="stable")], np.sort(norm[keep])
    stop = np.maximum(np.searchsorted(norm, hi + 1e-9, side="right"), 1)
    return cand[(rng.random(len(hi)) * stop).astype(np.int64)]


def _perp(v: np.ndarray) -> np.ndarray:
    return np.stack([-v[:, 1], v[:, 0]], axis=1)


def _dot(v: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return v[:, 0, None, None] * x + v[:, 1, None, None] * y


def _col(a: np.ndarray) -> np.ndarray:
    return np.asarray(a)[:, None, None]


def _band_layout(rng: np.random.Generator, n_inks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tile, a period split into ink and paper bands: (bounds [n, B], levels [n, B + 1], band count [n])."""
    n, width = len(n_inks), 2 * int(n_inks.max())
    bounds = np.full((n, width - 1), 2.0)  # unused bounds lie beyond the phase range [0, 1)
    levels = np.zeros((n, width), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for i, k in enumerate(n_inks):
        inks = list(range(1, k + 1))
        seq = [lvl for j in inks for lvl in (j, 0)] if k == 1 or rng.random() < 0.5 else [*inks, 0]
        weights = rng.uniform(0.5, 1.5, len(seq)) * np.where(np.array(seq) == 0, rng.uniform(0.8, 2.0), 1.0)
        cum = np.cumsum(weights) / weights.sum()
        bounds[i, : len(seq) - 1] = cum[:-1]
        levels[i, : len(seq)] = seq
        count[i] = len(seq)
    return bounds, levels, count


def _piecewise(t: np.ndarray, bounds: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Map a phase t [n, H, W] in [0, 1) to the level of the band it falls in."""
    index = (t[..., None] >= bounds[:, None, None, :]).sum(-1)
    return np.take_along_axis(levels[:, None, None, :], index[..., None], axis=-1)[..., 0]


def _banded(rng: np.random.Generator, n_inks: np.ndarray, size: int, phase: Callable[..., np.ndarray]) -> np.ndarray:
    bounds, levels, count = _band_layout(rng, n_inks)
    # At least ~2.5 px per band, so thin bands do not alias away.
    hi = np.maximum(1.5, size / (2.5 * count))
    t = phase(hi)
    return _piecewise(t, bounds, levels)


def _stripes(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _banded(rng, n_inks, size, lambda hi: _frac(_dot(_wave_vectors(rng, 1.0, hi), x, y)))


def _lattice(rng: np.random.Generator, n: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Two integer wave vectors per tile: a rotated square lattice or an axis-aligned rectangular one."""
    a = _wave_vectors(rng, lo, np.full(n, hi))
    b = _perp(a)
    rect = rng.random(n) < 0.3
    sides = rng.integers(int(np.ceil(lo)), int(np.floor(hi)) + 1, size=(n, 2))
    a = np.where(rect[:, None], np.stack([sides[:, 0], np.zeros(n, dtype=np.int64)], 1), a)
    b = np.where(rect[:, None], np.stack([np.zeros(n, dtype=np.int64), sides[:, 1]], 1), b)
    return a, b


def _cell_offset(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Physical offset (tile units) from each pixel to its lattice point; periodic because a and b are integer."""
    u, v = _dot(a, x, y), _dot(b, x, y)
    du, dv = u - np.round(u), v - np.round(v)
    det = (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).astype(np.float64)
    ox = (_col(b[:, 1]) * du - _col(a[:, 1]) * dv) / _col(det)
    oy = (-_col(b[:, 0]) * du + _col(a[:, 0]) * dv) / _col(det)
    return ox, oy


def _dots(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(n_inks)
    a, b = _lattice(rng, n, 2.0, max(2.0, size / 6))
    ox, oy = _cell_offset(a, b, x, y)
    spacing = 1.0 / np.maximum(np.hypot(*a.T), np.hypot(*b.T))
    rho = np.hypot(ox, oy) / _col(spacing)
    outer = np.maximum(rng.uniform(0.18, 0.42, n), 1.5 / (spacing * size))  # a dot of at least ~1.5 px radius
    level = (rho < _col(outer)).astype(np.int64)
    for j in range(2, int(n_inks.max()) + 1):  # darker concentric cores
        inner = outer * rng.uniform(0.35, 0.7, n) ** (j - 1)
        level += (rho < _col(inner)) & (_col(n_inks) >= j)
    return level


def _checks(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(n_inks)
    a, b = _lattice(rng, n, 1.0, max(1.0, size / 8))
    u, v = _dot(a, x, y), _dot(b, x, y)
    # Checkerboard: parity of half-cells; an integer lattice keeps the parity periodic over the tile.
    parity = (np.floor(2 * u) + np.floor(2 * v)).astype(np.int64) % 2
    cu, cv = np.abs(_frac(2 * u) - 0.5), np.abs(_frac(2 * v) - 0.5)
    inner = np.maximum(cu, cv) < _col(rng.uniform(0.15, 0.35, n))
    checker = parity.copy()
    checker = np.where((parity == 1) & inner & (_col(n_inks) >= 2), 2, checker)
    checker = np.where((parity == 0) & inner & (_col(n_inks) >= 3), 3, checker)
    # Gingham: crossing bands darken where they overlap.
    w = _col(rng.uniform(0.2, 0.5, n))
    gingham = np.minimum((_frac(u) < w).astype(np.int64) + (_frac(v) < w), _col(n_inks))
    return np.where(_col(rng.random(n) < 0.5), checker, gingham)


def _zigzag(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray, smooth: bool):
    """Bands displaced along their length: straight-armed zigzags (chevrons) or a sine (waves).

    The two share everything but the wave shape and how steep it is: chevrons are bold, steep V's and
    waves gentle undulations. With one steepness range for both, a 32 px chevron of low slope is a
    wave in all but name (the judge called 42 of 64 held-out chevrons waves), and no generator could
    be judged to paint the class asked for.
    """
    n = len(n_inks)

    def phase(hi: np.ndarray) -> np.ndarray:
        a = _wave_vectors(rng, 1.0, np.minimum(hi, size / 4))
        g = np.gcd(a[:, 0], a[:, 1])[:, None]
        b = _perp(a) // g * rng.integers(1, max(2, size // 12) + 1, size=(n, 1))  # zig count along the stripes
        slope = rng.uniform(0.35, 0.9, n) if smooth else rng.uniform(1.0, 1.8, n)
        na, nb = np.hypot(*a.T), np.hypot(*b.T)
        s = _dot(b, x, y)
        if smooth:
            wave = np.sin(2 * np.pi * s + _col(rng.uniform(0, 2 * np.pi, n))) / (2 * np.pi)
        else:
            wave = 2 * np.abs(_frac(s) - 0.5) / 2  # triangle wave, same peak slope scale as the sine
        return _frac(_dot(a, x, y) + _col(slope * na / nb) * wave)

    return _banded(rng, n_inks, size, phase)


def _chevrons(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _zigzag(rng, n_inks, size, x, y, smooth=False)


def _waves(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _zigzag(rng, n_inks, size, x, y, smooth=True)


def _scatter(
    rng: np.random.Generator, size: int, counts: np.ndarray, radius: np.ndarray, reach: float,
    shape: Callable[[np.ndarray, int], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Shapes at random centres with wrap-around distance: (nearest normalised distance, its shape index) [n, H, W].

    ``shape(theta, m)`` gives shape m's radius per angle as a multiple of its base radius; ``reach`` (tile units)
    bounds every shape, so each one is drawn in a small patch around its centre instead of over the whole tile.
    """
    n = len(counts)
    best = np.full((n, size, size), np.inf)
    which = np.zeros(best.shape, dtype=np.int64)
    half = int(np.ceil(reach * size)) + 1
    offs = np.arange(-half, half + 1) if 2 * half + 1 <= size else np.arange(-(size // 2), size - size // 2)
    centres = rng.random((n, int(counts.max()), 2)) * size
    tile = np.arange(n)[:, None, None]
    for m in range(centres.shape[1]):
        origin = np.floor(centres[:, m]).astype(np.int64)
        cols, rows = (origin[:, 0, None] + offs) % size, (origin[:, 1, None] + offs) % size
        dx = ((origin[:, 0, None] + offs) - centres[:, m, 0, None])[:, None, :] / size
        dy = ((origin[:, 1, None] + offs) - centres[:, m, 1, None])[:, :, None] / size
        s = np.hypot(dx, dy) / (_col(radius[:, m]) * shape(np.arctan2(dy, dx), m))
        s = np.where(_col(m < counts), s, np.inf)
        index = (tile, rows[:, :, None], cols[:, None, :])  # within one shape a pixel appears once: no write races
        current = best[index]
        closer = s < current
        best[index] = np.where(closer, s, current)
        which[index] = np.where(closer, m, which[index])
    return best, which


def _blobs(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, area = len(n_inks), (size / 32) ** 2
    counts = rng.integers(2, max(3, round(8 * area)) + 1, n)
    top = int(counts.max())
    radius = np.maximum(rng.uniform(0.09, 0.2, (n, top)) * 32 / size, 3.0 / size)  # same pixel scale at any size
    reach = float(radius.max()) * 1.6  # the most a petal or wobble stretches the base radius
    flower = rng.random(n) < 0.6
    petals = rng.integers(4, 9, (n, top))
    twist = rng.uniform(0, 2 * np.pi, (n, top, 3))
    wobble = rng.uniform(0.1, 0.3, (n, top, 2))

    def shape(theta: np.ndarray, m: int) -> np.ndarray:
        petal = 0.5 + 0.5 * np.abs(np.cos(_col(petals[:, m]) * theta / 2 + _col(twist[:, m, 0])))
        organic = (1 + _col(wobble[:, m, 0]) * np.cos(2 * theta + _col(twist[:, m, 1]))
                   + _col(wobble[:, m, 1]) * np.cos(3 * theta + _col(twist[:, m, 2])))  # fmt: skip
        return np.where(_col(flower), petal, organic)

    dist, which = _scatter(rng, size, counts, radius, reach, shape)
    # Flowers keep the darkest ink for their hearts; organic blobs use every ink.
    top_ink = np.where(flower & (n_inks >= 2), n_inks - 1, n_inks)
    ink = rng.integers(1, top_ink[:, None] + 1, (n, top))
    level = np.where(dist < 1, np.take_along_axis(ink, which.reshape(n, -1), 1).reshape(which.shape), 0)
    heart = (dist < _col(rng.uniform(0.25, 0.45, n))) & _col(flower & (n_inks >= 2))
    return np.where(heart, _col(n_inks), level)


def _terrazzo(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, area = len(n_inks), (size / 32) ** 2
    counts = rng.integers(max(4, round(14 * area)), max(5, round(30 * area)) + 1, n)
    top = int(counts.max())
    radius = np.maximum(rng.uniform(0.045, 0.1, (n, top)) * 32 / size, 1.6 / size)
    sides = rng.integers(3, 7, (n, top))
    turn = rng.uniform(0, 2 * np.pi, (n, top))

    def shape(theta: np.ndarray, m: int) -> np.ndarray:
        # A regular polygon's radius per angle: sharp-edged chips, unlike the round blobs.
        sector = 2 * np.pi / _col(sides[:, m])
        return np.cos(sector / 2) / np.cos(_frac((theta - _col(turn[:, m])) / sector) * sector - sector / 2)

    dist, which = _scatter(rng, size, counts, radius, float(radius.max()), shape)  # a polygon stays within R
    ink = rng.integers(1, n_inks[:, None] + 1, (n, top))
    return np.where(dist < 1, np.take_along_axis(ink, which.reshape(n, -1), 1).reshape(which.shape), 0)


def _geometric(rng: np.random.Generator, n_inks: np.ndarray, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(n_inks)
    a, b = _lattice(rng, n, 1.0, max(1.0, size / 8))
    u, v = _frac(_dot(a, x, y)), _frac(_dot(b, x, y))
    cu, cv = np.abs(u - 0.5), np.abs(v - 0.5)
    rings = _col(rng.integers(2, 5, n))
    levels = _col(n_inks) + 1
    diamonds = np.floor((cu + cv) * rings).astype(np.int64) % levels  # nested diamonds
    squares = np.floor(np.maximum(cu, cv) * 2 * rings).astype(np.int64) % levels  # nested squares
    margin = _col(rng.uniform(0.06, 0.15, n))
    lower = (u > margin) & (v > margin) & (u + v < 1 - margin)
    upper = (u < 1 - margin) & (v < 1 - margin) & (u + v > 1 + margin)
    triangles = np.where(lower, 1, np.where(upper, np.minimum(2, _col(n_inks)), 0))
    variant = _col(rng.integers(0, 3, n))
    return np.where(variant == 0, diamonds, np.where(variant == 1, squares, triangles))


_GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "stripes": _stripes, "dots": _dots, "checks": _checks, "chevrons": _chevrons,
    "waves": _waves, "blobs": _blobs, "terrazzo": _terrazzo, "geometric": _geometric,
}  # fmt: skip


def procedural_corpus(
    n_per_class: int, size: int = 32, k_slots: int = 3, seed: int = 0, motifs: Sequence[str] = MOTIFS
) -> Corpus:
    """Seamless motif tiles shipped as code, so a GAN can train (and tests run) without any image folder.

    Each class draws from its own seeded stream, so a class's tiles do not change when other classes are added.
    Tiles vary in scale, rotation (integer wave vectors), density, line width and number of inks (1..k_slots-1).
    """
    _check_k_slots(k_slots)
    if n_per_class < 1 or size < 8:
        raise ValueError(f"need n_per_class >= 1 and size >= 8, got {n_per_class} and {size}")
    unknown = [m for m in motifs if m not in _GENERATORS]
    if unknown or len(set(motifs)) != len(motifs) or not motifs:
        raise ValueError(f"motifs must be distinct names from {', '.join(MOTIFS)}; got {list(motifs)}")
    grid = np.arange(size) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    x, y = x[None], y[None]
    tiles, labels, inks_used = [], [], Counter()
    for label, name in enumerate(motifs):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        n_inks = rng.integers(1, k_slots, n_per_class)
        # A random translation on the torus, so no motif edge sits on the tile border by construction; the border
        # stays where it is, so a pattern that is not periodic still shows its seam there (and seam_score sees it).
        shift = rng.random((2, n_per_class, 1, 1))
        levels = _GENERATORS[name](rng, n_inks, size, x + shift[0], y + shift[1])
        # Which ink slots a tile uses: a sorted subset keeps darker levels on darker (higher) slots.
        lut = np.zeros((n_per_class, k_slots), dtype=np.uint8)
        for i, k in enumerate(n_inks):
            lut[i, 1 : k + 1] = np.sort(rng.choice(np.arange(1, k_slots), size=k, replace=False))
        tiles.append(np.take_along_axis(lut, levels.reshape(n_per_class, -1), 1).reshape(levels.shape))
        labels.append(np.full(n_per_class, label, dtype=np.int32))
        inks_used.update(int(k) for k in n_inks)
    report = {
        "source": "procedural",
        "seed": seed,
        "size": size,
        "k_slots": k_slots,
        "tiles": n_per_class * len(motifs),
        "per_class": {name: n_per_class for name in motifs},
        "inks_per_tile": {str(k): inks_used[k] for k in sorted(inks_used)},
    }
    return Corpus(np.concatenate(tiles), np.concatenate(labels), tuple(motifs), k_slots, report)
