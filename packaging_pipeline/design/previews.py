"""Raster views of a design for people: the flat preview and a mockup of the folded box, as PNG."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, hex_rgb
from packaging_pipeline.design.compose import (
    CREASE_RGB,
    CUT_RGB,
    KNOCKOUT_PAD_MM,
    MOCKUP_PX,
    PAGE_MARGIN_MM,
    PREVIEW_PX_PER_MM,
    Design,
    Layout,
    _panel_frame,
    logo_alpha,
    message_panel,
)
from packaging_pipeline.design.dielines import Dieline, Panel
from packaging_pipeline.design.pdf import DEFAULT_FONT


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
