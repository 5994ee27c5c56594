"""Colours as the product uses them: ``#rrggbb`` strings, the board's paper colour, WCAG contrast."""

from __future__ import annotations

import numpy as np

from packaging_pipeline.core.errors import InputError

PAPER_HEX = "#f4f2ec"  # unbleached-white board; slot 0 of every pattern is the paper


def hex_rgb(value: str) -> tuple[int, int, int]:
    """``#rrggbb`` (the ``#`` optional) as 0-255 channels; anything else is an InputError naming it."""
    v = value.lstrip("#")
    if len(v) != 6:
        raise InputError(f"colour {value!r} is not #rrggbb")
    try:
        return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)
    except ValueError:
        raise InputError(f"colour {value!r} is not #rrggbb") from None


def hex_unit_rgb(value: str) -> np.ndarray:
    """The colour as float32 channels in 0..1, for compositing."""
    return np.array(hex_rgb(value), dtype=np.float32) / 255.0


def hex_cmyk(value: str) -> tuple[float, float, float, float]:
    """A naive CMYK alternate for proofs; the spot name is what the printer matches."""
    r, g, b = (c / 255.0 for c in hex_rgb(value))
    k = 1.0 - max(r, g, b)
    if k >= 1.0:
        return 0.0, 0.0, 0.0, 1.0
    return tuple(round((1.0 - c - k) / (1.0 - k), 4) for c in (r, g, b)) + (round(k, 4),)  # type: ignore[return-value]


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour, 0 (black) .. 1 (white)."""
    channels = np.array(hex_rgb(hex_colour)) / 255.0
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio between two colours, 1 .. 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
