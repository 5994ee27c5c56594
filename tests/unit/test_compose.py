"""Composing a print-ready design: PDF checked in PDFium and by its objects, SVG, preview, mockup, legibility."""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pypdfium2 as pdfium
import pytest

from packaging_pipeline.core.colour import PAPER_HEX, contrast_ratio, hex_rgb
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.vocabulary import COLOR_HEX
from packaging_pipeline.design import compose, pdf
from packaging_pipeline.design.artwork import night_tiles
from packaging_pipeline.design.compose import (
    BLACK_HEX,
    BLEED_MM,
    COVERAGE_FLOOR,
    MAX_MESSAGE_CHARS,
    MIN_CONTRAST,
    MIN_TEXT_PT,
    MOCKUP_PX,
    PAGE_MARGIN_MM,
    PREVIEW_PX_PER_MM,
    SAFE_MM,
    Design,
    clean_message,
    layout_for,
    message_panel,
)
from packaging_pipeline.design.dielines import Dieline, make_dieline
from packaging_pipeline.design.previews import mockup_rgb, png_bytes, preview_rgb
from packaging_pipeline.design.print_files import design_pdf, design_svg
from tests.support.pdf import PdfFile, split_strings

PT = 72 / 25.4  # points per mm
RENDER_PX_PER_MM = 2.0
SVG = {"svg": "http://www.w3.org/2000/svg"}
YELLOW, PINK, NAVY = COLOR_HEX["yellow"], COLOR_HEX["pink"], COLOR_HEX["navy"]
MESSAGE = "Thank you for choosing us"


@pytest.fixture(scope="module")
def tiles() -> dict[str, np.ndarray]:
    found, source = night_tiles(["waves", "dots", "stripes", "checks", "blobs"], per_motif=1, use_model=False)
    assert source.kind == "procedural"
    return {motif: stack[0] for motif, stack in found.items()}


@pytest.fixture(scope="module")
def mailer() -> Dieline:
    return make_dieline("0427", "300x200x80", "E")


@pytest.fixture(scope="module")
def rsc() -> Dieline:
    return make_dieline("0201", "300x200x150", "B")


@pytest.fixture(scope="module")
def turned(mailer) -> Dieline:
    """The mailer with its lid's artwork turned a quarter: local x runs down the blank, up is +x."""
    panels = tuple(dataclasses.replace(p, up=(1.0, 0.0)) if p.name == "lid" else p for p in mailer.panels)
    return dataclasses.replace(mailer, panels=panels)


@pytest.fixture(scope="module")
def waves(tiles) -> Design:
    """Navy and yellow waves: the darkest ink is also behind the text, so the message needs a knock-out."""
    return Design("waves-navy", tiles["waves"], (YELLOW, NAVY), ("yellow", "navy"), MESSAGE)


def solid_design(message: str = MESSAGE) -> Design:
    """No bare board anywhere: the cell's top-left quarter yellow, the rest navy (image row 0 is the top)."""
    tile = np.full((64, 64), 2, dtype=np.uint8)
    tile[:32, :32] = 1
    return Design("solid", tile, (YELLOW, NAVY), ("yellow", "navy"), message)


def render(data: bytes) -> np.ndarray:
    """Page 1 rendered by PDFium at RENDER_PX_PER_MM, RGB uint8, row 0 at the top of the page."""
    page = pdfium.PdfDocument(data)[0]
    return page.render(scale=RENDER_PX_PER_MM / PT, rev_byteorder=True).to_numpy()[..., :3]


def page_pixel(image: np.ndarray, dieline: Dieline, x_mm: float, y_mm: float, px_per_mm: float) -> np.ndarray:
    """The pixel at blank coordinates (x, y) mm (y up) of a page/preview with the PAGE_MARGIN_MM margin."""
    page_h = dieline.blank_height_mm + 2 * PAGE_MARGIN_MM
    row = math.floor((page_h - (y_mm + PAGE_MARGIN_MM)) * px_per_mm)
    col = math.floor((x_mm + PAGE_MARGIN_MM) * px_per_mm)
    return image[row, col]


def is_white(rgb: np.ndarray) -> bool:
    return bool((np.asarray(rgb) >= 250).all())


def to_blank(layout: compose.Layout, x: float, y: float) -> tuple[float, float]:
    """A point of the message panel's local frame in blank coordinates."""
    a = math.radians(layout.rotation_deg)
    return (
        layout.origin[0] + x * math.cos(a) - y * math.sin(a),
        layout.origin[1] + x * math.sin(a) + y * math.cos(a),
    )


def text_box(layout: compose.Layout) -> tuple[float, float, float, float]:
    """Local (x, y, w, h) the message line can ink: descenders to accents, by the font's own metrics."""
    font = pdf.load_font()
    size = layout.font_pt / PT
    bottom = layout.text_baseline + font.descent / 1000 * size
    top = layout.text_baseline + font.ascent / 1000 * size
    return -layout.text_width / 2, bottom, layout.text_width, top - bottom


def inside(point: tuple[float, float], box: tuple[float, float, float, float], pad: float = 0.0) -> bool:
    x, y, w, h = box
    return x - pad <= point[0] <= x + w + pad and y - pad <= point[1] <= y + h + pad


def tile_colours(design: Design, floor: float = COVERAGE_FLOOR) -> list[str]:
    return [PAPER_HEX if k == 0 else design.inks[k - 1] for k, share in design.coverage().items() if share >= floor]


def compose_all(dieline: Dieline, design: Design) -> dict[str, bytes]:
    layout = layout_for(dieline, design)
    flat = preview_rgb(dieline, design, layout)
    return {
        "pdf": design_pdf(dieline, design, layout),
        "svg": design_svg(dieline, design, layout).encode("utf-8"),
        "preview": png_bytes(flat),
        "mockup": png_bytes(mockup_rgb(dieline, flat)),
    }


# -- the print file: boxes, bleed, spot inks, resolution ----------------------------------------------
@pytest.mark.parametrize("which", ["mailer", "rsc"])
def test_pdf_page_is_blank_plus_margin_with_trim_and_bleed_boxes_in_pdfium(which, request, waves):
    dieline = request.getfixturevalue(which)
    data = design_pdf(dieline, waves, layout_for(dieline, waves))
    page = pdfium.PdfDocument(data)[0]
    w, h, m = dieline.blank_width_mm, dieline.blank_height_mm, PAGE_MARGIN_MM
    assert page.get_size() == pytest.approx(((w + 2 * m) * PT, (h + 2 * m) * PT), abs=0.01)
    assert page.get_trimbox() == pytest.approx((m * PT, m * PT, (m + w) * PT, (m + h) * PT), abs=0.01)
    lo, w_hi, h_hi = (m - BLEED_MM) * PT, (m + w + BLEED_MM) * PT, (m + h + BLEED_MM) * PT
    assert page.get_bleedbox() == pytest.approx((lo, lo, w_hi, h_hi), abs=0.01)


@pytest.mark.parametrize("which", ["mailer", "rsc"])
def test_artwork_bleeds_3mm_past_the_bounding_cut_and_stops_there(which, request):
    dieline = request.getfixturevalue(which)
    design = solid_design()
    image = render(design_pdf(dieline, design, layout_for(dieline, design)))
    w, h = dieline.blank_width_mm, dieline.blank_height_mm
    outline = dieline.outline
    checked = 0
    for (x0, y0), (x1, y1) in zip(outline, outline[1:], strict=False):
        # Cut edges lying on the blank's bounding rectangle: step outward across them.
        if y0 == y1 and y0 in (0.0, h):
            normal = (0.0, -1.0 if y0 == 0.0 else 1.0)
        elif x0 == x1 and x0 in (0.0, w):
            normal = (-1.0 if x0 == 0.0 else 1.0, 0.0)
        else:
            continue
        for s in np.linspace(0.1, 0.9, 9):
            x, y = x0 + s * (x1 - x0), y0 + s * (y1 - y0)
            in_bleed = page_pixel(image, dieline, x + 1.5 * normal[0], y + 1.5 * normal[1], RENDER_PX_PER_MM)
            margin = page_pixel(image, dieline, x + 6.0 * normal[0], y + 6.0 * normal[1], RENDER_PX_PER_MM)
            assert not is_white(in_bleed), f"no ink 1.5 mm outside the cut at ({x:.1f}, {y:.1f})"
            assert is_white(margin), f"ink 6 mm outside the cut at ({x:.1f}, {y:.1f})"
            checked += 1
    assert checked >= 4 * 9, "every side of the bounding rectangle touches the cut somewhere"


def outline_distance(outline: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance of each point to the closed polyline ``outline`` (first point repeated at the end)."""
    a, b = outline[:-1][None], outline[1:][None]
    p = points[:, None]
    t = np.clip(((p - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1).min(1)


def inside_outline(outline: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test."""
    (x0, y0), (x1, y1) = outline[:-1].T, outline[1:].T
    px, py = points[:, :1], points[:, 1:]
    crosses = ((y0 > py) != (y1 > py)) & (px < x0 + (py - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0))
    return crosses.sum(1) % 2 == 1


@pytest.mark.parametrize("which", ["mailer", "rsc"])
def test_every_cut_has_a_3mm_ink_band_and_the_waste_beyond_stays_bare(which, request):
    dieline = request.getfixturevalue(which)
    design = solid_design()
    image = render(design_pdf(dieline, design, layout_for(dieline, design)))
    outline = np.asarray(dieline.outline, dtype=float)
    near, far = [], []
    for a, b in zip(outline[:-1], outline[1:], strict=True):
        length = float(np.linalg.norm(b - a))
        if length < 2.0:
            continue
        normal = np.array([a[1] - b[1], b[0] - a[0]]) / length
        for s in np.linspace(0.1, 0.9, 5):
            p = a + s * (b - a)
            near += [p + 1.5 * normal, p - 1.5 * normal]
            far += [p + 6.0 * normal, p - 6.0 * normal]
    near_pts, far_pts = np.array(near), np.array(far)
    waste = far_pts[~inside_outline(outline, far_pts) & (outline_distance(outline, far_pts) > 3.5)]
    assert len(near_pts) > 100 and len(waste) > 50
    for x, y in near_pts:
        assert not is_white(page_pixel(image, dieline, x, y, RENDER_PX_PER_MM)), f"no ink at ({x:.1f}, {y:.1f})"
    for x, y in waste:
        assert is_white(page_pixel(image, dieline, x, y, RENDER_PX_PER_MM)), f"ink on the waste at ({x:.1f}, {y:.1f})"


def test_pattern_cells_start_at_the_blank_corner_with_image_row_zero_on_top(mailer):
    # Points on the 0427 front wall (x 100..406, y 0..81.5 mm); 40 mm cells from the blank's corner.
    design = solid_design()
    layout = layout_for(mailer, design)
    printed = render(design_pdf(mailer, design, layout))
    flat = preview_rgb(mailer, design, layout)
    yellow = [(165.0, 25.0), (175.0, 35.0), (205.0, 65.0)]  # left half of a cell, upper half
    navy = [(175.0, 15.0), (195.0, 35.0), (185.0, 25.0), (165.0, 45.0)]
    for image, px_per_mm in ((printed, RENDER_PX_PER_MM), (flat, PREVIEW_PX_PER_MM)):
        for x, y in yellow:
            r, g, b = page_pixel(image, mailer, x, y, px_per_mm).astype(int)
            assert r > 180 and g > 140 and b < 120, f"yellow expected at ({x}, {y}), got {(r, g, b)}"
        for x, y in navy:
            rgb = page_pixel(image, mailer, x, y, px_per_mm).astype(int)
            assert rgb.max() < 110, f"navy expected at ({x}, {y}), got {rgb}"


def test_inks_cut_and_crease_are_separations_and_the_font_is_embedded(mailer, waves):
    layout = layout_for(mailer, waves)
    assert layout.text_colour_name == "navy"
    doc = PdfFile(design_pdf(mailer, waves, layout))
    separations = {
        n: re.match(rb"^\[/Separation (/\S+) /DeviceCMYK ", body).group(1)
        for n, body in doc.objects.items()
        if body.startswith(b"[/Separation ")
    }
    assert sorted(separations.values()) == [b"/Crease", b"/CutContour", b"/Ink#20navy", b"/Ink#20yellow"]
    (pattern,) = doc.find(rb"/PatternType 1 /PaintType 1 /TilingType 1")
    cell = doc.streams[pattern]
    (content,) = doc.page_contents()
    for stream in (cell, content):
        operators = split_strings(stream)[1].split()
        for op in (b"rg", b"RG", b"k", b"K", b"g", b"G", b"/DeviceRGB", b"/DeviceCMYK", b"/DeviceGray"):
            assert op not in operators, f"{op!r}: artwork paints only in spot colours"
    # The cell paints each ink stencil in that ink's Separation.
    spaces = dict(re.findall(rb"/(CS\d+) (\d+) 0 R", doc.objects[pattern]))
    painted = [separations[int(spaces[cs])] for cs in re.findall(rb"/(CS\d+) cs 1 scn", cell)]
    assert painted == [b"/Ink#20yellow", b"/Ink#20navy"]
    assert not doc.find(rb"/ColorSpace /DeviceRGB"), "no RGB images"
    assert re.search(rb"^q /Pattern cs /P0 scn ", content, re.M)
    (descriptor,) = doc.find(rb"/Type /FontDescriptor")
    font_file = int(re.search(rb"/FontFile2 (\d+) 0 R", doc.objects[descriptor]).group(1))
    assert doc.streams[font_file][:4] == b"\x00\x01\x00\x00", "a TrueType font program is embedded"


def test_spot_names_are_pdf_name_escaped_and_svg_attribute_safe(mailer):
    tile = np.zeros((16, 16), dtype=np.uint8)
    tile[::2] = 1
    design = Design("odd", tile, (NAVY,), ('PANTONE "289" C & co',), MESSAGE)
    layout = layout_for(mailer, design)
    doc = PdfFile(design_pdf(mailer, design, layout))
    assert doc.find(rb'^\[/Separation /Ink#20PANTONE#20"289"#20C#20&#20co /DeviceCMYK ')
    root = ET.fromstring(design_svg(mailer, design, layout))
    assert [g.get("id") for g in root.findall("svg:g", SVG)][0] == 'Ink PANTONE "289" C & co-1'


def test_tiles_print_at_150_dpi_or_more_and_the_pattern_keeps_every_pixel(mailer, tiles, waves):
    for tile in tiles.values():
        assert Design("d", tile, (YELLOW, NAVY), ("yellow", "navy"), "x").dpi >= 150
    doc = PdfFile(design_pdf(mailer, waves, layout_for(mailer, waves)))
    (pattern,) = doc.find(rb"/PatternType 1 /PaintType 1 /TilingType 1")
    step = f"{waves.tile_mm * PT:.4f}"
    assert f"/XStep {step} /YStep {step} ".encode() in doc.objects[pattern]
    images = [int(n) for n in re.findall(rb"/Im\d+ (\d+) 0 R", doc.objects[pattern])]
    assert len(images) == 2
    height, width = waves.tile.shape
    for slot, number in enumerate(images, start=1):
        head = doc.objects[number]
        assert f"/Width {width} /Height {height} /ImageMask true".encode() in head
        assert doc.streams[number] == np.packbits(waves.tile != slot, axis=1).tobytes(), f"ink {slot} stencil"


# -- the message: escaping, legibility, safe zone ----------------------------------------------------
def test_clean_message_makes_one_printable_line_of_at_most_the_limit():
    assert clean_message("  Thank\u00a0you\u3000for\u2028shopping  ") == "Thank you for shopping"
    assert clean_message("Thank you\nfor\tshopping\r\n") == "Thank you for shopping"
    assert clean_message("zero\u200bwidth\x00bell\x07 \x1b[31mred") == "zerowidthbell [31mred"
    assert clean_message("x" * MAX_MESSAGE_CHARS) == "x" * MAX_MESSAGE_CHARS
    assert clean_message("word " * 30) == "word " * 9 + "wo…"
    assert clean_message("a" * 46 + " \n b" * 5) == "a" * 46 + "…", "no space before the ellipsis"
    assert clean_message("y" * 100) == "y" * (MAX_MESSAGE_CHARS - 1) + "…"


@pytest.mark.parametrize("message", [") Tj (pwned) Tj (", "</text><script>alert(1)</script>", "\\) Tj ((x"])
def test_hostile_messages_print_literally_in_pdf_and_svg(message, rsc):
    cleaned = clean_message(message)
    assert cleaned == message
    design = Design("d</title><script>alert(2)</script>", solid_design().tile, (YELLOW, NAVY), ("y", "n"), cleaned)
    layout = layout_for(rsc, design)
    data = design_pdf(rsc, design, layout)
    (content,) = PdfFile(data).page_contents()
    strings, operators = split_strings(content)
    assert strings == [cleaned.encode("cp1252")], "one string operand, the whole message"
    assert operators.split().count(b"Tj") == 1 and operators.split().count(b"<string>") == 1
    assert pdfium.PdfDocument(data)[0].get_textpage().get_text_range() == cleaned
    root = ET.fromstring(design_svg(rsc, design, layout))
    (text,) = root.findall(".//svg:text[@id='Text']", SVG)
    assert text.text == cleaned and len(text) == 0
    assert root.find("svg:title", SVG).text == design.design_id
    assert not [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "script"]


def assert_legible(design: Design, layout: compose.Layout) -> None:
    """The WCAG rule, checked from the colours alone."""
    assert layout.contrast >= MIN_CONTRAST
    candidates = [*design.inks, BLACK_HEX]
    assert layout.text_colour in candidates
    behind = tile_colours(design)
    if layout.knockout is None:
        worst = min(contrast_ratio(layout.text_colour, c) for c in behind)
        assert worst >= MIN_CONTRAST and worst == pytest.approx(layout.contrast, abs=1e-3)
    else:
        assert not any(min(contrast_ratio(c, b) for b in behind) >= MIN_CONTRAST for c in candidates)
        assert contrast_ratio(layout.text_colour, PAPER_HEX) == pytest.approx(layout.contrast, abs=1e-3)


@pytest.mark.parametrize("motif", ["waves", "dots", "stripes", "checks", "blobs"])
@pytest.mark.parametrize(
    "inks", [("yellow", "pink"), ("yellow", "navy"), ("beige", "brown"), ("orange", "red"), ("pink", "purple")]
)
def test_text_reaches_4_5_to_1_against_everything_behind_it_or_gets_a_knockout(motif, inks, tiles, mailer):
    design = Design(motif, tiles[motif], tuple(COLOR_HEX[n] for n in inks), inks, MESSAGE)
    assert_legible(design, layout_for(mailer, design))


def test_light_inks_take_black_text_without_a_knockout(tiles, mailer):
    for motif, tile in tiles.items():
        design = Design(motif, tile, (YELLOW, PINK), ("yellow", "pink"), MESSAGE)
        layout = layout_for(mailer, design)
        assert (layout.text_colour, layout.knockout) == (BLACK_HEX, None)
        present = tile_colours(design, floor=1e-12)
        assert all(contrast_ratio(BLACK_HEX, c) >= MIN_CONTRAST for c in present), motif
        assert layout.contrast >= MIN_CONTRAST


def test_specks_under_two_percent_do_not_count_as_background(mailer):
    specks, stripe = np.ones((100, 100), dtype=np.uint8), np.ones((100, 100), dtype=np.uint8)
    specks[:1] = 2  # navy on 1% of the tile
    stripe[:3] = 2  # navy on 3%: now it meets navy text
    design = Design("specks", specks, (YELLOW, NAVY), ("yellow", "navy"), MESSAGE)
    layout = layout_for(mailer, design)
    assert (layout.text_colour_name, layout.knockout) == ("navy", None)
    layout = layout_for(mailer, dataclasses.replace(design, tile=stripe))
    assert layout.knockout is not None and layout.text_colour_name == "navy"


def test_darkest_ink_behind_the_text_gets_a_knockout_and_navy_text(mailer, rsc, waves):
    for dieline in (mailer, rsc):
        layout = layout_for(dieline, waves)
        assert layout.knockout is not None
        assert (layout.text_colour, layout.text_colour_name) == (NAVY, "navy")
        assert contrast_ratio(NAVY, PAPER_HEX) >= MIN_CONTRAST and layout.contrast >= MIN_CONTRAST
        for x, y, w, h in (layout.logo_box, text_box(layout)):
            assert inside((x, y), layout.knockout) and inside((x + w, y + h), layout.knockout)
        assert layout.knockout[2] <= layout.safe_width + 2 * compose.KNOCKOUT_PAD_MM + 1e-9


def knockout_samples(layout: compose.Layout, clear_mm: float = 1.5) -> list[tuple[float, float]]:
    """Local points inside the knock-out, away from its border, the logo and the text."""
    kx, ky, kw, kh = layout.knockout
    points = []
    for x in np.arange(kx + clear_mm, kx + kw - clear_mm, 1.0):
        for y in np.arange(ky + clear_mm, ky + kh - clear_mm, 1.0):
            if not (inside((x, y), layout.logo_box, clear_mm) or inside((x, y), text_box(layout), clear_mm)):
                points.append((float(x), float(y)))
    return points


@pytest.mark.parametrize("which", ["mailer", "rsc", "turned"])
def test_the_preview_shows_bare_board_behind_the_message(which, request, waves):
    dieline = request.getfixturevalue(which)
    layout = layout_for(dieline, waves)
    paper = np.array(hex_rgb(PAPER_HEX))
    samples = knockout_samples(layout)
    assert len(samples) > 100
    flat = preview_rgb(dieline, waves, layout)
    without = preview_rgb(dieline, waves, dataclasses.replace(layout, knockout=None))
    kept, inked = 0, 0
    for x, y in samples:
        bx, by = to_blank(layout, x, y)
        kept += (page_pixel(flat, dieline, bx, by, PREVIEW_PX_PER_MM) == paper).all()
        inked += not (page_pixel(without, dieline, bx, by, PREVIEW_PX_PER_MM) == paper).all()
    assert kept == len(samples), "every sampled knock-out pixel is paper"
    assert inked > len(samples) // 4, "without the knock-out the waves show there (the check can fail)"
    # Between the letters, on the baseline: bare board or text colour (and their blend), never yellow.
    box = text_box(layout)
    y = layout.text_baseline + 0.2
    for x in np.linspace(box[0] + 0.5, box[0] + box[2] - 0.5, 60):
        r, g, b = page_pixel(flat, dieline, *to_blank(layout, float(x), y), PREVIEW_PX_PER_MM).astype(int)
        assert not (r > 200 and g > 150 and b < 120), f"ink shows through the text at local x={x:.1f}"


@pytest.mark.parametrize("which", ["mailer", "turned"])
def test_the_pdf_knockout_removes_the_inks_behind_the_message(which, request, waves):
    dieline = request.getfixturevalue(which)
    layout = layout_for(dieline, waves)
    printed = render(design_pdf(dieline, waves, layout))
    unknocked = render(design_pdf(dieline, waves, dataclasses.replace(layout, knockout=None)))
    samples = [to_blank(layout, x, y) for x, y in knockout_samples(layout)]
    assert all(is_white(page_pixel(printed, dieline, x, y, RENDER_PX_PER_MM)) for x, y in samples)
    inked = sum(not is_white(page_pixel(unknocked, dieline, x, y, RENDER_PX_PER_MM)) for x, y in samples)
    assert inked > len(samples) // 4, "without the knock-out the waves print there (the check can fail)"


@pytest.mark.parametrize(
    ("which", "panel", "role"), [("mailer", "lid", "top"), ("rsc", "front", "front"), ("turned", "lid", "top")]
)
def test_logo_and_text_sit_upright_inside_the_message_panels_safe_zone(which, panel, role, request, waves):
    dieline = request.getfixturevalue(which)
    layout = layout_for(dieline, waves)
    chosen = message_panel(dieline)
    assert (layout.panel, chosen.name, chosen.role) == (panel, panel, role)
    candidates = [p for p in dieline.panels if p.role in ("top", "front")]
    assert chosen.area_mm2 == max(p.area_mm2 for p in candidates)
    # Local y is the panel's up; the safe area is the panel less SAFE_MM on every side.
    a = math.radians(layout.rotation_deg)
    assert (-math.sin(a), math.cos(a)) == pytest.approx(chosen.up, abs=1e-9)
    xs, ys = zip(*chosen.polygon, strict=True)
    corners = [
        to_blank(layout, sx * layout.safe_width / 2, sy * layout.safe_height / 2) for sx in (-1, 1) for sy in (-1, 1)
    ]
    cx, cy = zip(*corners, strict=True)
    assert (min(cx), max(cx)) == pytest.approx((min(xs) + SAFE_MM, max(xs) - SAFE_MM), abs=1e-6)
    assert (min(cy), max(cy)) == pytest.approx((min(ys) + SAFE_MM, max(ys) - SAFE_MM), abs=1e-6)
    safe = (-layout.safe_width / 2, -layout.safe_height / 2, layout.safe_width, layout.safe_height)
    for x, y, w, h in (layout.logo_box, text_box(layout)):
        assert inside((x, y), safe, 1e-6) and inside((x + w, y + h), safe, 1e-6)
    # The width as drawn at the stored (rounded) size, measured independently of the layout.
    assert pdf.text_width_mm(waves.message, layout.font_pt) <= layout.safe_width + 0.05
    assert MIN_TEXT_PT <= layout.font_pt <= compose.MAX_TEXT_PT


@pytest.mark.parametrize("which", ["mailer", "rsc", "turned"])
def test_the_svg_draws_the_message_where_the_layout_puts_it(which, request, waves):
    dieline = request.getfixturevalue(which)
    layout = layout_for(dieline, waves)
    root = ET.fromstring(design_svg(dieline, waves, layout))
    group = root.find("svg:g[@id='Message']", SVG)
    a, b, r = map(float, re.fullmatch(r"translate\((\S+) (\S+)\) rotate\((\S+)\)", group.get("transform")).groups())
    page_h = dieline.blank_height_mm + 2 * PAGE_MARGIN_MM

    def svg_to_blank(sx: float, sy: float) -> tuple[float, float]:
        c, s = math.cos(math.radians(r)), math.sin(math.radians(r))
        x, y = a + c * sx - s * sy, b + s * sx + c * sy
        return x - PAGE_MARGIN_MM, page_h - y - PAGE_MARGIN_MM

    kx, ky, kw, kh = layout.knockout
    knock = group.find("svg:rect[@id='Knockout']", SVG)
    assert knock.get("fill") == PAPER_HEX
    top_left = (float(knock.get("x")), float(knock.get("y")))
    assert svg_to_blank(*top_left) == pytest.approx(to_blank(layout, kx, ky + kh), abs=2e-3)
    far = (top_left[0] + float(knock.get("width")), top_left[1] + float(knock.get("height")))
    assert svg_to_blank(*far) == pytest.approx(to_blank(layout, kx + kw, ky), abs=2e-3)
    text = group.find("svg:text[@id='Text']", SVG)
    anchor = (float(text.get("x")), float(text.get("y")))
    assert svg_to_blank(*anchor) == pytest.approx(to_blank(layout, 0.0, layout.text_baseline), abs=2e-3)
    assert text.get("text-anchor") == "middle" and text.get("fill") == layout.text_colour
    assert float(text.get("font-size")) == pytest.approx(layout.font_pt / PT, abs=1e-3)


def test_a_message_fails_only_when_it_cannot_fit_at_the_smallest_size():
    small = make_dieline("0427", "60x40x20", "E")
    blank = np.zeros((8, 8), dtype=np.uint8)
    safe_w = layout_for(small, Design("d", blank, (), (), "W")).safe_width
    fits = max(n for n in range(1, MAX_MESSAGE_CHARS + 1) if pdf.text_width_mm("W" * n, MIN_TEXT_PT) <= safe_w)
    assert fits < MAX_MESSAGE_CHARS
    layout = layout_for(small, Design("d", blank, (), (), "W" * fits))
    assert layout.font_pt >= MIN_TEXT_PT and layout.text_width <= safe_w + 1e-6
    with pytest.raises(InputError, match=rf"does not fit the lid panel even at {MIN_TEXT_PT} pt"):
        layout_for(small, Design("d", blank, (), (), "W" * (fits + 1)))
    with pytest.raises(InputError, match=r"the lid panel \(26 x 24 mm\) is too small for a message"):
        layout_for(make_dieline("0427", "20x20x20", "E"), Design("d", blank, (), (), "Hi"))


# -- reruns and the pictures -----------------------------------------------------------------------
def test_composing_the_same_design_twice_gives_the_same_bytes(mailer, rsc):
    def fresh(dieline: Dieline) -> dict[str, bytes]:
        compose._logo_alpha.cache_clear()
        tile = night_tiles(["waves"], per_motif=1, use_model=False)[0]["waves"][0]
        dieline = make_dieline(dieline.style, dieline.inner_mm, dieline.board)
        return compose_all(dieline, Design("w", tile, (YELLOW, NAVY), ("yellow", "navy"), MESSAGE))

    runs = {}
    for dieline in (mailer, rsc):
        runs[dieline.style] = first = fresh(dieline)
        second = fresh(dieline)
        assert first.keys() == second.keys()
        for kind in first:
            assert first[kind] == second[kind], f"{dieline.style} {kind} differs between runs"
    other = compose_all(mailer, Design("w", solid_design().tile, (YELLOW, NAVY), ("yellow", "navy"), "Other"))
    assert all(other[kind] != runs["0427"][kind] for kind in other), "the comparison can fail"


@pytest.mark.parametrize("which", ["mailer", "rsc"])
def test_preview_and_mockup_are_rgb_pictures_of_the_box(which, request, waves):
    dieline = request.getfixturevalue(which)
    flat = preview_rgb(dieline, waves, layout_for(dieline, waves))
    m = PAGE_MARGIN_MM
    assert flat.dtype == np.uint8 and flat.ndim == 3 and flat.shape[2] == 3
    assert flat.shape[:2] == (
        round((dieline.blank_height_mm + 2 * m) * PREVIEW_PX_PER_MM),
        round((dieline.blank_width_mm + 2 * m) * PREVIEW_PX_PER_MM),
    )
    assert (flat == compose.CUT_RGB).all(-1).sum() > 100, "the cut line shows"
    assert is_white(flat[0, 0]) and is_white(flat[-1, -1]), "the margin stays white"
    mock = mockup_rgb(dieline, flat)
    assert mock.dtype == np.uint8 and mock.shape == (MOCKUP_PX, MOCKUP_PX, 3)
    colours = np.unique(mock.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1]))
    assert len(colours) > 200, "a shaded, patterned box, not a blank picture"
    background = (mock == (236, 238, 240)).all(-1).mean()
    assert 0.2 < background < 0.8


def test_the_brand_logo_comes_from_configuration(tmp_path, monkeypatch):
    from PIL import Image

    mark = np.zeros((40, 120, 4), dtype=np.uint8)
    mark[10:30, 10:110, 3] = 255  # a plain bar
    Image.fromarray(mark).save(tmp_path / "brand.png")
    monkeypatch.setenv("PACKAGING_BRAND_LOGO", str(tmp_path / "brand.png"))
    assert compose.logo_alpha().shape == (20, 100)  # cropped to its ink
    monkeypatch.setenv("PACKAGING_BRAND_LOGO", str(tmp_path / "missing.png"))
    with pytest.raises(InputError, match="missing.png"):
        compose.logo_alpha()
