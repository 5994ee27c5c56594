"""A design's print-ready files per box: a true-scale vector PDF with spot-colour separations, and an SVG.

Each ink is its own Separation colour repeating the tile through a tiling pattern; cut and crease
lines are the ``CutContour`` and ``Crease`` spots; 3 mm of bleed runs past every cut.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, hex_cmyk, hex_rgb
from packaging_pipeline.design.compose import BLEED_MM, PAGE_MARGIN_MM, Design, Layout, logo_alpha
from packaging_pipeline.design.dielines import Dieline, draw_cut_and_crease, svg_cut_and_crease, svg_num
from packaging_pipeline.design.pdf import PatternLayer, PdfDocument, Spot


def spot_name(name: str) -> str:
    return f"Ink {name}"


def design_pdf(dieline: Dieline, design: Design, layout: Layout, logo: np.ndarray | None = None) -> bytes:
    """The print file: page = blank + margin, TrimBox the blank, BleedBox 3 mm past it."""
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
