"""Composing a print-ready design: artwork repeated over a dieline, brand logo and segment message.

One design is a pattern tile (slot indices: 0 = paper, 1..K-1 = inks), the segment's inks for those
slots, a message and a logo. Per box size it becomes:

* a true-scale vector PDF (:mod:`packaging_pipeline.design.print_files`): each ink its own
  Separation colour repeating the tile through a tiling pattern at ``tile_mm`` per repeat, 3 mm of
  bleed past every cut, cut and crease lines in the ``CutContour`` and ``Crease`` spots, the logo
  and message upright on the message panel inside its safe zone;
* an SVG with the same layers; a flat PNG preview and a PNG mockup of the folded box
  (:mod:`packaging_pipeline.design.previews`).

The pattern runs continuously over the flat blank, so it continues across every fold; text and logo
follow the message panel's ``up`` so they read right once the box is folded. Legibility: the text
colour must reach a WCAG contrast of 4.5:1 against every colour of the artwork behind it; when no
ink does, a knock-out panel (inks removed, bare board) goes behind the text.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import re
import unicodedata
from importlib import resources
from typing import Any

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, contrast_ratio
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.vocabulary import COLOR_HEX
from packaging_pipeline.design.dielines import Dieline, Panel
from packaging_pipeline.design.pdf import text_width_mm

BLEED_MM = 3.0

SAFE_MM = 8.0  # text and logo keep this far from every fold and cut of the message panel

PAGE_MARGIN_MM = 10.0

DEFAULT_TILE_MM = 40.0

MIN_CONTRAST = 4.5

MAX_MESSAGE_CHARS = 48

MAX_TEXT_PT = 36.0

MIN_TEXT_PT = 9.0

KNOCKOUT_PAD_MM = 3.0

COVERAGE_FLOOR = 0.02  # colours covering less of the tile than this are specks, not background

BLACK_HEX = COLOR_HEX["black"]

PREVIEW_PX_PER_MM = 1.5

MOCKUP_PX = 640

CUT_RGB, CREASE_RGB = (236, 0, 140), (0, 166, 81)


@dataclasses.dataclass(frozen=True)
class Design:
    """What one design prints, independent of the box it goes on."""

    design_id: str
    tile: np.ndarray  # uint8 [px, px] slot indices, seamless
    inks: tuple[str, ...]  # "#rrggbb" per ink slot 1..K-1
    ink_names: tuple[str, ...]  # names for the spot colours, e.g. the palette colour names
    message: str
    tile_mm: float = DEFAULT_TILE_MM

    def __post_init__(self) -> None:
        if self.tile.ndim != 2 or self.tile.dtype != np.uint8:
            raise ValueError(f"tile must be uint8 slot indices [px, px], got {self.tile.dtype} {self.tile.shape}")
        if len(self.inks) != len(self.ink_names) or int(self.tile.max(initial=0)) > len(self.inks):
            raise ValueError("one ink (and name) per slot used by the tile")
        if not (math.isfinite(self.tile_mm) and 5.0 <= self.tile_mm <= 500.0):
            raise InputError(f"tile size {self.tile_mm} mm per repeat must lie in 5..500 mm")

    @property
    def dpi(self) -> float:
        return self.tile.shape[0] / (self.tile_mm / 25.4)

    def coverage(self) -> dict[int, float]:
        """Share of the printable area each slot covers (0 = bare board)."""
        counts = np.bincount(self.tile.ravel(), minlength=len(self.inks) + 1)
        return {k: float(c) / self.tile.size for k, c in enumerate(counts)}


def clean_message(text: str) -> str:
    """One printable line: control characters dropped, spaces collapsed, cut to the length limit."""
    text = "".join(" " if c.isspace() or unicodedata.category(c).startswith("Z") else c for c in text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return text


@dataclasses.dataclass(frozen=True)
class Layout:
    """The message panel's frame and what is drawn in it, in mm; local x right, local y up."""

    panel: str
    origin: tuple[float, float]  # panel centre on the blank
    rotation_deg: float  # local frame turned so local y is the panel's up
    safe_width: float
    safe_height: float
    font_pt: float
    text_width: float
    text_baseline: float  # local y of the text baseline
    logo_box: tuple[float, float, float, float]  # local x, y, width, height
    text_colour: str
    text_colour_name: str
    contrast: float
    knockout: tuple[float, float, float, float] | None  # local x, y, width, height

    def as_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, tuple | list):
                return [plain(x) for x in v]
            return round(float(v), 3) if isinstance(v, float | np.floating) else v

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


def message_panel(dieline: Dieline) -> Panel:
    """The face a person sees first: the mailer's lid, the slotted box's largest wall."""
    candidates = [p for p in dieline.panels if p.role in ("top", "front")]
    if not candidates:
        raise InputError(f"dieline {dieline.style} has no top or front panel for the message")
    return max(candidates, key=lambda p: (p.area_mm2, p.role == "top"))


def _panel_frame(panel: Panel) -> tuple[tuple[float, float], float, float, float]:
    """(centre, rotation, local width, local height) of a panel in its upright frame."""
    ux, uy = panel.up
    rx, ry = uy, -ux  # local x: the up vector turned 90 degrees clockwise
    pts = np.asarray(panel.polygon, dtype=float)
    along_x, along_y = pts @ np.array([rx, ry]), pts @ np.array([ux, uy])
    cx = (along_x.min() + along_x.max()) / 2
    cy = (along_y.min() + along_y.max()) / 2
    centre = (cx * rx + cy * ux, cx * ry + cy * uy)
    rotation = math.degrees(math.atan2(ry, rx))
    return centre, rotation, float(np.ptp(along_x)), float(np.ptp(along_y))


def logo_alpha(path: str | None = None) -> np.ndarray:
    """The brand logo as an alpha mask [h, w] (0..255), cropped to its ink.

    ``path``, else ``$PACKAGING_BRAND_LOGO`` (a PNG with transparency), else the shipped logo.
    """
    return _logo_alpha(path or os.environ.get("PACKAGING_BRAND_LOGO") or None)


@functools.lru_cache(maxsize=4)
def _logo_alpha(path: str | None) -> np.ndarray:
    from PIL import Image

    try:
        if path is None:
            with resources.files("packaging_pipeline").joinpath("data/brand/logo.png").open("rb") as fh:
                img = Image.open(io.BytesIO(fh.read()))
        else:
            img = Image.open(path)
        img.load()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the brand logo {path!r}: {exc}; give a PNG with transparency") from exc
    alpha = np.asarray(img.convert("RGBA"))[..., 3]
    if not alpha.any():
        raise InputError(f"the brand logo {path!r} is fully transparent")
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    return alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def choose_text_colour(design: Design) -> tuple[str, str, float, bool]:
    """(hex, name, worst contrast, knock-out needed) for the message over this artwork.

    Candidates are the design's own inks, darkest first, then black: reusing an ink adds no plate.
    The worst contrast is taken against every colour covering at least 2% of the tile.
    """
    coverage = design.coverage()
    behind = [PAPER_HEX if k == 0 else design.inks[k - 1] for k, share in coverage.items() if share >= COVERAGE_FLOOR]
    candidates = sorted(zip(design.inks, design.ink_names, strict=True), key=lambda c: contrast_ratio(c[0], PAPER_HEX))
    candidates = [*reversed(candidates), (BLACK_HEX, "Black")]
    for colour, name in candidates:
        worst = min(contrast_ratio(colour, b) for b in behind)
        if worst >= MIN_CONTRAST:
            return colour, name, worst, False
    for colour, name in candidates:  # on a knock-out the text only meets bare board
        worst = contrast_ratio(colour, PAPER_HEX)
        if worst >= MIN_CONTRAST:
            return colour, name, worst, True
    raise InputError(f"no text colour reaches {MIN_CONTRAST}:1 on paper {PAPER_HEX}")  # black always does


def layout_for(dieline: Dieline, design: Design, logo: np.ndarray | None = None) -> Layout:
    """Fit the logo and one line of message into the message panel's safe zone."""
    logo = logo_alpha() if logo is None else logo
    panel = message_panel(dieline)
    centre, rotation, width, height = _panel_frame(panel)
    safe_w, safe_h = width - 2 * SAFE_MM, height - 2 * SAFE_MM
    if safe_w < 20 or safe_h < 12:
        raise InputError(f"the {panel.name} panel ({width:.0f} x {height:.0f} mm) is too small for a message")
    # Logo in the upper part, message below it, both centred; the font shrinks to fit the width.
    logo_h = min(safe_h * 0.4, 30.0)
    logo_w = logo_h * logo.shape[1] / logo.shape[0]
    if logo_w > safe_w:
        logo_w, logo_h = safe_w, safe_w * logo.shape[0] / logo.shape[1]
    gap = min(6.0, safe_h * 0.08)
    mm_per_pt = 25.4 / 72.0
    font_pt = min(MAX_TEXT_PT, (safe_h - logo_h - gap) / mm_per_pt / 1.2)
    if design.message:
        font_pt = min(font_pt, MAX_TEXT_PT * safe_w / max(text_width_mm(design.message, MAX_TEXT_PT), 1e-9))
    font_pt = max(font_pt, MIN_TEXT_PT)
    text_w = text_width_mm(design.message, font_pt) if design.message else 0.0
    if text_w > safe_w + 1e-6:
        raise InputError(f"message {design.message!r} does not fit the {panel.name} panel even at {MIN_TEXT_PT} pt")
    text_h = font_pt * mm_per_pt
    block_h = logo_h + (gap + text_h if design.message else 0.0)
    top = block_h / 2
    logo_box = (-logo_w / 2, top - logo_h, logo_w, logo_h)
    baseline = top - logo_h - gap - text_h * 0.75
    colour, name, contrast, knockout = choose_text_colour(design)
    knock = None
    if knockout:
        pad = KNOCKOUT_PAD_MM
        kw = min(max(logo_w, text_w) + 2 * pad, width - 2 * SAFE_MM + 2 * pad)
        knock = (-kw / 2, -block_h / 2 - pad, kw, block_h + 2 * pad)
    return Layout(
        panel=panel.name, origin=centre, rotation_deg=rotation, safe_width=safe_w, safe_height=safe_h,
        font_pt=round(font_pt, 2), text_width=text_w, text_baseline=baseline, logo_box=logo_box,
        text_colour=colour, text_colour_name=name, contrast=round(contrast, 3), knockout=knock,
    )  # fmt: skip
