"""Composing a print-ready design: artwork repeated over a dieline, brand logo and segment message.

One design is a pattern tile (slot indices: 0 = paper, 1..K-1 = inks), the segment's inks for those
slots, a message and a logo. Per box size it becomes:

* a true-scale vector PDF: each ink its own Separation colour repeating the tile through a tiling
  pattern at ``tile_mm`` per repeat, 3 mm of bleed past every cut, cut and crease lines in the
  ``CutContour`` and ``Crease`` spots, the logo and message upright on the message panel inside
  its safe zone;
* an SVG with the same layers; a flat PNG preview; a PNG mockup of the folded box.

The pattern runs continuously over the flat blank, so it continues across every fold; text and logo
follow the message panel's ``up`` so they read right once the box is folded. Legibility: the text
colour must reach a WCAG contrast of 4.5:1 against every colour of the artwork behind it; when no
ink does, a knock-out panel (inks removed, bare board) goes behind the text.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import math
import os
import re
import unicodedata
from collections.abc import Sequence
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, contrast_ratio, hex_cmyk, hex_rgb
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.vocabulary import COLOR_HEX
from packaging_pipeline.design.dielines import Dieline, Panel, svg_cut_and_crease, svg_num

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


# --------------------------------------------------------------------------------------------------
# Layout: where the message and logo go, in which colour, with or without a knock-out


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
    from packaging_pipeline.design.pdf import text_width_mm

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


# --------------------------------------------------------------------------------------------------
# PDF


def spot_name(name: str) -> str:
    return f"Ink {name}"


def design_pdf(dieline: Dieline, design: Design, layout: Layout, logo: np.ndarray | None = None) -> bytes:
    """The print file: page = blank + margin, TrimBox the blank, BleedBox 3 mm past it."""
    from packaging_pipeline.design.dielines import draw_cut_and_crease
    from packaging_pipeline.design.pdf import PatternLayer, PdfDocument, Spot

    logo = logo_alpha() if logo is None else logo
    m = PAGE_MARGIN_MM
    w, h = dieline.blank_width_mm, dieline.blank_height_mm
    doc = PdfDocument(title=f"{design.design_id} {dieline.style} {_dims(dieline)}")
    page = doc.add_page(
        w + 2 * m, h + 2 * m, trim_box_mm=(m, m, w, h),
        bleed_box_mm=(m - BLEED_MM, m - BLEED_MM, w + 2 * BLEED_MM, h + 2 * BLEED_MM),
    )  # fmt: skip
    spots = [Spot(spot_name(n), hex_cmyk(c)) for c, n in zip(design.inks, design.ink_names, strict=True)]
    layers = [
        PatternLayer(doc.stencil_mask(design.tile == k), spots[k - 1])
        for k in range(1, len(spots) + 1)
        if (design.tile == k).any()
    ]
    if layers:
        # Image row 0 is the top of the cell in PDF as in PNG, so the files show the same repeat.
        pattern = doc.tiling_pattern(layers, (design.tile_mm, design.tile_mm), offset_mm=(m, m))
        # Artwork on the blank itself plus a band 3 mm wide past every cut (a stroke 6 mm wide on
        # the outline), not on the waste around it: ink there would be printed and thrown away.
        outline = [(x + m, y + m) for x, y in dieline.cut_paths[0]]
        page.fill(outline, pattern)
        page.stroke(outline, pattern, 2 * BLEED_MM, closed=True)
    text_spot = Spot(spot_name(layout.text_colour_name), hex_cmyk(layout.text_colour))
    with page.frame((layout.origin[0] + m, layout.origin[1] + m), layout.rotation_deg):
        if layout.knockout:
            kx, ky, kw, kh = layout.knockout
            page.fill(_rect(kx, ky, kw, kh), spots[0] if spots else text_spot, tint=0.0)  # tint 0: inks removed
        lx, ly, lw, lh = layout.logo_box
        page.image(doc.stencil_mask(logo >= 128), lx, ly, lw, lh, colour=text_spot)
        if design.message:
            page.text(0.0, layout.text_baseline, design.message, layout.font_pt, text_spot, align="center")
    draw_cut_and_crease(page, dieline, (m, m))
    return doc.to_bytes()


def _rect(x: float, y: float, w: float, h: float) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _dims(dieline: Dieline) -> str:
    return "x".join(f"{v:g}" for v in dieline.inner_mm)


# --------------------------------------------------------------------------------------------------
# SVG


def _png_data_uri(rgba: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def ink_layer_rgba(design: Design, slot: int) -> np.ndarray:
    """One ink of the tile as an RGBA image: the ink's colour where it prints, transparent elsewhere."""
    rgba = np.zeros((*design.tile.shape, 4), dtype=np.uint8)
    rgba[..., :3] = hex_rgb(design.inks[slot - 1])
    rgba[..., 3] = np.where(design.tile == slot, 255, 0)
    return rgba


def svg_ink_uris(design: Design) -> list[str]:
    """Each ink of the tile as a PNG data URI, encoded once per design and shared by its SVGs."""
    return [_png_data_uri(ink_layer_rgba(design, k)) for k in range(1, len(design.inks) + 1)]


def design_svg(
    dieline: Dieline, design: Design, layout: Layout, logo: np.ndarray | None = None,
    ink_uris: Sequence[str] | None = None,
) -> str:  # fmt: skip
    """The same layers as the PDF: one ``Ink <name>`` group per ink, knock-out, logo, text, cut, crease."""
    logo = logo_alpha() if logo is None else logo
    ink_uris = svg_ink_uris(design) if ink_uris is None else ink_uris
    m = PAGE_MARGIN_MM
    w, h = dieline.blank_width_mm + 2 * m, dieline.blank_height_mm + 2 * m
    t = design.tile_mm
    num = svg_num
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(w)}mm" height="{num(h)}mm" viewBox="0 0 {num(w)} '
        f'{num(h)}">',
        f"<title>{escape(design.design_id)}</title>",
        "<defs>",
    ]
    # Pattern cells are anchored at the blank's bottom-left corner, as in the PDF (SVG's y runs down).
    y0 = h - m
    for k in range(1, len(design.inks) + 1):
        out.append(
            f'<pattern id="ink{k}" patternUnits="userSpaceOnUse" x="{num(m)}" y="{num(y0)}" width="{num(t)}" '
            f'height="{num(t)}"><image width="{num(t)}" height="{num(t)}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="{ink_uris[k - 1]}"/></pattern>'
        )
    out.append("</defs>")
    outline = "M" + " L".join(f"{num(x + m)},{num(h - (y + m))}" for x, y in dieline.cut_paths[0]) + " Z"
    for k, name in enumerate(design.ink_names, start=1):
        # As in the PDF: the blank plus a 3 mm band past the cut (a 6 mm stroke on the outline).
        layer_id = escape(f"{spot_name(name)}-{k}", {'"': "&quot;"})  # an attribute: quotes escaped too
        out.append(
            f'<g id="{layer_id}"><path d="{outline}" fill="url(#ink{k})" stroke="url(#ink{k})" '
            f'stroke-width="{num(2 * BLEED_MM)}" stroke-linejoin="round"/></g>'
        )
    ox, oy = layout.origin[0] + m, h - (layout.origin[1] + m)
    out.append(f'<g id="Message" transform="translate({num(ox)} {num(oy)}) rotate({num(-layout.rotation_deg)})">')
    if layout.knockout:
        kx, ky, kw, kh = layout.knockout
        out.append(f'<rect id="Knockout" x="{num(kx)}" y="{num(-(ky + kh))}" width="{num(kw)}" height="{num(kh)}" '
                   f'fill="{PAPER_HEX}"/>')  # fmt: skip
    lx, ly, lw, lh = layout.logo_box
    logo_rgba = np.zeros((*logo.shape, 4), dtype=np.uint8)
    logo_rgba[..., :3] = hex_rgb(layout.text_colour)
    logo_rgba[..., 3] = np.where(logo >= 128, 255, 0)
    out.append(f'<image id="Logo" x="{num(lx)}" y="{num(-(ly + lh))}" width="{num(lw)}" height="{num(lh)}" '
               f'preserveAspectRatio="none" href="{_png_data_uri(logo_rgba)}"/>')  # fmt: skip
    if design.message:
        size_mm = layout.font_pt * 25.4 / 72.0
        out.append(
            f'<text id="Text" x="0" y="{num(-layout.text_baseline)}" text-anchor="middle" '
            f'font-family="DejaVu Sans" font-weight="bold" font-size="{num(size_mm)}" '
            f'fill="{layout.text_colour}">{escape(design.message)}</text>'
        )
    out.append("</g>")
    out += svg_cut_and_crease(dieline, m, h)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Raster: flat preview and folded mockup, for people


def colour_tile(design: Design) -> np.ndarray:
    """The tile in its inks on paper, RGB uint8 [px, px, 3] (also the design's artwork.png)."""
    palette = np.array([hex_rgb(PAPER_HEX)] + [hex_rgb(c) for c in design.inks], dtype=np.uint8)
    return palette[design.tile]


def preview_rgb(
    dieline: Dieline, design: Design, layout: Layout, px_per_mm: float = PREVIEW_PX_PER_MM,
    logo: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The flat blank as printed, RGB uint8, with cut lines magenta and creases green."""
    from PIL import Image, ImageDraw

    logo = logo_alpha() if logo is None else logo
    m = PAGE_MARGIN_MM
    w_px = round((dieline.blank_width_mm + 2 * m) * px_per_mm)
    h_px = round((dieline.blank_height_mm + 2 * m) * px_per_mm)
    tile_px = max(2, round(design.tile_mm * px_per_mm))
    tile = np.asarray(Image.fromarray(colour_tile(design)).resize((tile_px, tile_px), Image.Resampling.BOX))
    # Row 0 of the tile is the top of the cell; the cell grid is anchored at the blank's bottom-left.
    reps_y, reps_x = h_px // tile_px + 2, w_px // tile_px + 2
    art = np.tile(tile, (reps_y, reps_x, 1))
    off_x = round(m * px_per_mm) % tile_px
    off_y = (h_px - round(m * px_per_mm)) % tile_px
    art = art[tile_px - off_y : tile_px - off_y + h_px, tile_px - off_x : tile_px - off_x + w_px]
    canvas = Image.new("RGB", (w_px, h_px), (255, 255, 255))

    def to_px(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [((x + m) * px_per_mm, h_px - (y + m) * px_per_mm) for x, y in points]

    mask = Image.new("L", (w_px, h_px), 0)
    draw_mask = ImageDraw.Draw(mask)
    draw_mask.polygon(to_px(dieline.cut_paths[0]), fill=255)
    for hole in dieline.cut_paths[1:]:
        draw_mask.polygon(to_px(hole), fill=0)
    canvas.paste(Image.fromarray(np.ascontiguousarray(art)), (0, 0), mask)
    message = _message_image(layout, design, logo, px_per_mm)
    # Centred on the panel centre; the turned image's own size says where its corner goes.
    cx = (layout.origin[0] + PAGE_MARGIN_MM) * px_per_mm
    cy = h_px - (layout.origin[1] + PAGE_MARGIN_MM) * px_per_mm
    corner = (round(cx - message.width / 2), round(cy - message.height / 2))
    canvas.paste(message.convert("RGB"), corner, message.getchannel("A"))
    draw = ImageDraw.Draw(canvas)
    for path in dieline.crease_paths:
        draw.line(to_px(path), fill=CREASE_RGB, width=1)
    for path in dieline.cut_paths:
        draw.line(to_px([*path, path[0]]), fill=CUT_RGB, width=max(1, round(px_per_mm * 0.6)))
    return np.asarray(canvas)


def _message_image(layout: Layout, design: Design, logo: np.ndarray, px_per_mm: float) -> Any:
    """The knock-out, logo and text drawn upright, then turned like the panel (PIL RGBA image)."""
    from PIL import Image, ImageDraw, ImageFont

    from packaging_pipeline.design.pdf import DEFAULT_FONT

    half_w = max(layout.safe_width, (layout.knockout or (0, 0, 0, 0))[2]) / 2 + KNOCKOUT_PAD_MM
    half_h = layout.safe_height / 2 + KNOCKOUT_PAD_MM
    size = (max(2, round(2 * half_w * px_per_mm)), max(2, round(2 * half_h * px_per_mm)))
    colour = hex_rgb(layout.text_colour)
    img = Image.new("RGBA", size, (0, 0, 0, 0))

    def box(x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        left, top = (x + half_w) * px_per_mm, (half_h - (y + h)) * px_per_mm
        return round(left), round(top), round(left + w * px_per_mm), round(top + h * px_per_mm)

    draw = ImageDraw.Draw(img)
    if layout.knockout:
        draw.rectangle(box(*layout.knockout), fill=(*hex_rgb(PAPER_HEX), 255))
    left, top, right, bottom = box(*layout.logo_box)
    if right > left and bottom > top:
        mark = Image.fromarray(logo).resize((right - left, bottom - top), Image.Resampling.BILINEAR)
        img.paste(Image.new("RGBA", mark.size, (*colour, 255)), (left, top), mark)
    if design.message:
        font_px = max(1, round(layout.font_pt * 25.4 / 72.0 * px_per_mm))
        with resources.as_file(resources.files("packaging_pipeline").joinpath(f"data/fonts/{DEFAULT_FONT}")) as f:
            font = ImageFont.truetype(str(f), font_px)
        x = half_w * px_per_mm
        y = (half_h - layout.text_baseline) * px_per_mm
        draw.text((x, y), design.message, font=font, fill=(*colour, 255), anchor="ms")
    return img.rotate(layout.rotation_deg, expand=True, resample=Image.Resampling.BICUBIC)


def _panel_image(flat: np.ndarray, dieline: Dieline, panel: Panel, px_per_mm: float) -> Any:
    """One panel cut out of the flat preview and turned upright (PIL image)."""
    from PIL import Image

    pts = np.asarray(panel.polygon, dtype=float)
    h_px = flat.shape[0]
    left = int(math.floor((pts[:, 0].min() + PAGE_MARGIN_MM) * px_per_mm))
    right = int(math.ceil((pts[:, 0].max() + PAGE_MARGIN_MM) * px_per_mm))
    top = int(math.floor(h_px - (pts[:, 1].max() + PAGE_MARGIN_MM) * px_per_mm))
    bottom = int(math.ceil(h_px - (pts[:, 1].min() + PAGE_MARGIN_MM) * px_per_mm))
    crop = Image.fromarray(flat[top:bottom, left:right])
    _, rotation, _, _ = _panel_frame(panel)
    return crop.rotate(-rotation, expand=True)


def mockup_rgb(
    dieline: Dieline, flat: np.ndarray, px_per_mm: float = PREVIEW_PX_PER_MM, size: int = MOCKUP_PX
) -> np.ndarray:
    """A folded box in a three-quarter view: the message panel on top, a front and a side wall, shaded."""
    from PIL import Image, ImageDraw

    top_panel = message_panel(dieline)
    walls = [p for p in dieline.panels if p.role in ("front", "back") and p is not top_panel]
    sides = [p for p in dieline.panels if p.role == "side"]
    front = walls[0] if walls else top_panel
    side = sides[0] if sides else front
    length, width, height = dieline.inner_mm
    if top_panel.role == "front":  # a slotted box shows its big wall in front and its flaps on top
        tops = [p for p in dieline.panels if p.role == "top"]
        front, top_panel = top_panel, (tops[0] if tops else top_panel)
    # Oblique projection: x to the right, depth up-right at 30 degrees, height straight up; then the
    # whole box is scaled and centred to fill 80% of the picture.
    dx, dy = math.cos(math.radians(30)) * 0.75, math.sin(math.radians(30)) * 0.75
    ex, ey, ez = np.array([length, 0.0]), np.array([width * dx, -width * dy]), np.array([0.0, -height])
    corners = np.array([a * ex + b * ey + c * ez for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    span = corners.max(0) - corners.min(0)
    scale = size * 0.8 / span.max()
    ex, ey, ez = ex * scale, ey * scale, ez * scale
    origin = (size - span * scale) / 2 - corners.min(0) * scale
    canvas = Image.new("RGB", (size, size), (236, 238, 240))
    shadow = ImageDraw.Draw(canvas)
    base = [origin, origin + ex, origin + ex + ey, origin + ey]
    shadow.polygon([tuple(p + np.array([8, 4])) for p in base], fill=(205, 207, 210))
    faces = (
        (front, origin + ez, ex, -ez, 1.0),  # corner at the front wall's top-left
        (side, origin + ex + ez, ey, -ez, 0.78),
        (top_panel, origin + ez + ey, ex, -ey, 1.08),
    )
    for panel, corner, e1, e2, shade in faces:
        img = _panel_image(flat, dieline, panel, px_per_mm)
        _paste_face(canvas, img, corner, e1, e2, shade)
    return np.asarray(canvas)


def _paste_face(canvas: Any, img: Any, corner: np.ndarray, e1: np.ndarray, e2: np.ndarray, shade: float) -> None:
    """Map ``img`` onto the parallelogram corner + s*e1 + t*e2 (s, t in 0..1), shaded."""
    from PIL import Image, ImageDraw, ImageEnhance

    w, h = img.size
    # Output pixel p = corner + (u / w) e1 + (v / h) e2; PIL wants the inverse map, output -> input.
    a = np.column_stack([e1 / w, e2 / h])
    inv = np.linalg.inv(a)
    offset = -inv @ corner
    data = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
    face = img.transform(canvas.size, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    face = ImageEnhance.Brightness(face).enhance(shade)
    mask = Image.new("L", canvas.size, 0)
    poly = [tuple(corner), tuple(corner + e1), tuple(corner + e1 + e2), tuple(corner + e2)]
    ImageDraw.Draw(mask).polygon(poly, fill=255)
    canvas.paste(face, (0, 0), mask)
    ImageDraw.Draw(canvas).line([*poly, poly[0]], fill=(90, 80, 70), width=1)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding with fixed settings, so the same image gives the same bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
