"""Dielines, the materials library and the PDF writer: hand-computed blanks, geometry, print-file checks."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from packaging_pipeline import cli
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design import pdf
from packaging_pipeline.design.dielines import (
    ROLES,
    Dieline,
    dieline_pdf,
    dieline_svg,
    make_dieline,
    parse_inner,
    polygon_area,
    write_dieline,
)
from packaging_pipeline.design.materials import load_materials, parse_materials
from tests.support.pdf import PdfFile, literal_strings, split_strings

MM = 72 / 25.4
CALIPER = {"E": 1.5, "B": 3.0, "C": 4.0, "BC": 7.0}


# -- hand computation, straight from the rule in the dielines module docstring -----------------------
def hand_0201(length: float, width: float, height: float, t: float) -> tuple[float, float, float]:
    hb, f, s = height + 2 * t, (width + t) / 2, 2 * t
    blank_w = 35 + 2 * length + 2 * width + 4 * t
    blank_h = width + height + 3 * t
    area = (blank_w - 35) * blank_h - 6 * s * f + 35 * (hb - 5)
    return blank_w, blank_h, area


def hand_0427(length: float, width: float, height: float, t: float) -> tuple[float, float, float]:
    lb, wb, wl, tuck = length + 4 * t, width + 2 * t, width + 3 * t, height - t
    c = min(10, tuck / 2, (length - 2 * t) / 4)
    blank_w = lb + 2 * max(2 * height + 3 * t, width / 2)
    blank_h = 3 * height + 2 * width + 6 * t
    area = (
        lb * (wb + 2 * (height + t) + wl)
        + tuck * (length - 2 * t)
        - c**2
        + 2 * (height + t) * wb
        + 4 * height * width
        + 2 * (height - t) * width
    )
    return blank_w, blank_h, area


CASES = [
    ("0201", (300, 200, 150), "E"),
    ("0201", (400, 300, 300), "C"),
    ("0201", (20, 20, 20), "E"),
    ("0201", (600, 400, 400), "BC"),
    ("0427", (300, 200, 80), "E"),
    ("0427", (300, 400, 50), "BC"),
    ("0427", (30, 40, 20), "E"),
    ("0427", (450, 350, 170), "B"),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{'x'.join(map(str, c[1]))}-{c[2]}")
def case(request) -> tuple[tuple, Dieline]:
    style, inner, board = request.param
    return request.param, make_dieline(style, inner, board)


def test_blank_matches_the_documented_rule(case):
    (style, inner, board), d = case
    expected_w, expected_h, expected_area = (hand_0201 if style == "0201" else hand_0427)(*inner, CALIPER[board])
    assert d.blank_width_mm == pytest.approx(expected_w)
    assert d.blank_height_mm == pytest.approx(expected_h)
    assert d.blank_area_m2 == pytest.approx(expected_area / 1e6)
    assert d.bounding_area_m2 == pytest.approx(expected_w * expected_h / 1e6)
    assert d.blank_area_m2 < d.bounding_area_m2
    assert d.caliper_mm == CALIPER[board] and d.board == board and d.inner_mm == tuple(map(float, inner))


@pytest.mark.parametrize(
    ("style", "inner", "board", "width", "height", "area_mm2"),
    [
        # 35 + 603 + 403 wide, 201.5 + 153 high; slots 6 x 3 x 100.75; glue 35 x (153 - 5)
        ("0201", "300x200x150", "E", 1041.0, 354.5, 1006 * 354.5 - 1813.5 + 5180),
        ("0201", "400x300x300", "C", 1451.0, 612.0, 866_592 - 7_296 + 10_605),
        # 306 + 2 x 164.5 wide; 81.5 + 203 + 81.5 + 204.5 + 78.5 high
        ("0427", "300x200x80", "E", 635.0, 649.0, 326_276.5),
        # the wall dust flaps (W/2 = 200) are wider than the rolled side walls (121): they set the width
        ("0427", "300x400x50", "BC", 728.0, 992.0, 485_066.0),
        # a small mailer: the tuck chamfer is limited by (L - 2t) / 4 = 6.75
        ("0427", "30x40x20", "E", 125.0, 149.0, 11_680.9375),
    ],
)
def test_hand_computed_numbers(style, inner, board, width, height, area_mm2):
    d = make_dieline(style, inner, board)
    assert (d.blank_width_mm, d.blank_height_mm) == pytest.approx((width, height))
    assert d.blank_area_m2 * 1e6 == pytest.approx(area_mm2)


# -- geometry invariants ---------------------------------------------------------------------------
def segments(path):
    return list(itertools.pairwise(path))


def collinear_overlap(a, b) -> float:
    """Length over which two segments lie on one another (0 when they only touch or cross)."""
    (p0, p1), (q0, q1) = a, b
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    for q in (q0, q1):
        if abs((q[0] - p0[0]) * uy - (q[1] - p0[1]) * ux) > 1e-6:
            return 0.0
    s0 = (q0[0] - p0[0]) * ux + (q0[1] - p0[1]) * uy
    s1 = (q1[0] - p0[0]) * ux + (q1[1] - p0[1]) * uy
    return max(0.0, min(length, max(s0, s1)) - max(0.0, min(s0, s1)))


def segments_intersect(a, b) -> bool:
    def orient(p, q, r):
        v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
        return 0 if abs(v) < 1e-9 else (1 if v > 0 else -1)

    def on(p, q, r):
        return min(p[0], q[0]) - 1e-9 <= r[0] <= max(p[0], q[0]) + 1e-9 and (
            min(p[1], q[1]) - 1e-9 <= r[1] <= max(p[1], q[1]) + 1e-9
        )

    (p1, p2), (q1, q2) = a, b
    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True
    return any(o == 0 and on(*seg, pt) for o, seg, pt in ((o1, a, q1), (o2, a, q2), (o3, b, p1), (o4, b, p2)))


def inside(point, polygon) -> bool:
    x, y = point
    hit = False
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


def signed_area(polygon) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True)) / 2


def centroid(polygon):
    return sum(p[0] for p in polygon) / len(polygon), sum(p[1] for p in polygon) / len(polygon)


def test_contours_are_closed_simple_and_start_at_the_origin(case):
    _, d = case
    for path in d.cut_paths:
        assert path[0] == path[-1], "cut contours are closed by repeating their first point"
        segs = segments(path)
        for (i, a), (j, b) in itertools.combinations(enumerate(segs), 2):
            if j - i == 1 or (i == 0 and j == len(segs) - 1):
                continue  # neighbours share a corner
            assert not segments_intersect(a, b), f"contour crosses itself: {a} x {b}"
    xs = [x for x, _ in d.outline]
    ys = [y for _, y in d.outline]
    assert (min(xs), min(ys)) == (0.0, 0.0)
    assert (max(xs), max(ys)) == pytest.approx((d.blank_width_mm, d.blank_height_mm))


def test_panels_tile_the_blank_and_holes_sit_in_the_base(case):
    _, d = case
    assert sum(p.area_mm2 for p in d.panels) == pytest.approx(polygon_area(d.outline))
    holes = d.cut_paths[1:]
    assert d.blank_area_m2 * 1e6 == pytest.approx(polygon_area(d.outline) - sum(polygon_area(h) for h in holes))
    for panel in d.panels:
        assert panel.role in ROLES, panel.name
        assert signed_area(panel.polygon) > 0, f"{panel.name} is not counter-clockwise"
        assert inside(centroid(panel.polygon), d.outline[:-1]), panel.name
        assert math.hypot(*panel.up) == pytest.approx(1.0), panel.name
    for hole in holes:
        assert inside(centroid(hole[:-1]), d.panel("base").polygon)
    for a, b in itertools.combinations(d.panels, 2):
        assert not inside(centroid(a.polygon), b.polygon), f"{a.name} overlaps {b.name}"


def test_no_crease_lies_on_a_cut_line(case):
    _, d = case
    cut_segments = [s for path in d.cut_paths for s in segments(path)]
    for crease in d.crease_paths:
        for crease_seg in segments(crease):
            for cut in cut_segments:
                assert collinear_overlap(crease_seg, cut) < 1e-6, f"crease {crease_seg} runs along cut {cut}"


def test_every_crease_joins_two_panels(case):
    _, d = case
    for crease in d.crease_paths:
        (seg,) = segments(crease)
        length = math.hypot(seg[1][0] - seg[0][0], seg[1][1] - seg[0][1])
        sharing = [p.name for p in d.panels if any(collinear_overlap(e, seg) > length - 1e-6 for e in edges(p))]
        assert len(sharing) == 2, (seg, sharing)


def edges(panel):
    return segments([*panel.polygon, panel.polygon[0]])


def test_roles_and_up_vectors_0201():
    d = make_dieline("0201", (300, 200, 150), "C")
    roles = sorted(p.role for p in d.panels)
    assert roles == sorted(["glue", "front", "side", "back", "side", "top", "top", "base", "base", *["flap"] * 4])
    for name in ("front", "side_right", "back", "side_left", "glue"):
        assert d.panel(name).up == (0.0, 1.0)
    # Seen from above with the front towards you, both top flaps point "up" to the back of the box.
    assert d.panel("top_front").up == (0.0, 1.0) and d.panel("top_back").up == (0.0, -1.0)
    assert {p.name for p in d.panels_with_role("top")} == {"top_front", "top_back"}


def test_roles_and_up_vectors_0427():
    d = make_dieline("0427", (300, 200, 80), "E")
    by_role = {role: sorted(p.name for p in d.panels_with_role(role)) for role in {p.role for p in d.panels}}
    assert by_role["top"] == ["lid"] and by_role["base"] == ["base"]
    assert by_role["front"] == ["front"] and by_role["back"] == ["back"]
    assert by_role["side"] == ["side_left", "side_right"]
    assert by_role["inner"] == ["side_left_inner", "side_right_inner"]
    assert len(by_role["flap"]) == 7  # tuck, four wall dust flaps, two lid dust flaps
    assert d.panel("front").up == (0.0, -1.0) and d.panel("back").up == (0.0, 1.0)
    assert d.panel("lid").up == (0.0, -1.0)  # the hinge is at the back: "up" on the lid points to it
    assert d.panel("side_left").up == (-1.0, 0.0) and d.panel("side_right").up == (1.0, 0.0)
    # The front wall hangs below the base and the lid sits above the back wall in the blank.
    assert centroid(d.panel("front").polygon)[1] < centroid(d.panel("base").polygon)[1]
    assert centroid(d.panel("lid").polygon)[1] > centroid(d.panel("back").polygon)[1]


def test_summary_is_json_ready():
    summary = make_dieline("FEFCO 0427", "300x200x80", "e").summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["style"] == "0427" and summary["board"] == "E" and summary["inner_mm"] == [300, 200, 80]
    assert summary["blank_area_m2"] == pytest.approx(0.326277, abs=1e-6)


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("style", "inner", "board", "message"),
    [
        ("0427", "300x200", "E", "is not LxWxH"),
        ("0427", "axbxc", "E", "is not LxWxH"),
        ("0427", "0x200x80", "E", "L=0 must be a finite number of mm above zero"),
        ("0427", "300x-5x80", "E", "W=-5 must be a finite number"),
        ("0427", "300x200xnan", "E", "H=nan must be a finite number"),
        ("0427", "infx200x80", "E", "L=inf must be a finite number"),
        ("0201", "2500x200x80", "E", "above the 2000 mm"),
        ("0201", (300, 200), "E", "three numbers"),
        ("0201", (300, "wide", 80), "E", "three numbers"),
        ("0427", "10x200x80", "E", "below the 20 mm minimum"),
        ("0201", "300x25x80", "BC", "below the 28 mm minimum for board BC"),
        ("0427", "300x200x201", "E", "takes H up to W (200 mm)"),
        ("0999", "300x200x80", "E", "known FEFCO styles are 0201"),
        ("0427", "300x200x80", "Z", "unknown board grade 'Z'"),
    ],
)
def test_impossible_inputs_get_a_clear_error(style, inner, board, message):
    with pytest.raises(InputError, match=re.escape(message)):
        make_dieline(style, inner, board)


def test_error_messages_list_what_is_known():
    with pytest.raises(InputError) as style_error:
        make_dieline("0300", "300x200x80", "E")
    assert "0201" in str(style_error.value) and "0427" in str(style_error.value)
    with pytest.raises(InputError) as board_error:
        make_dieline("0201", "300x200x80", "F")
    assert "known: E, B, C, BC" in str(board_error.value)


def test_parse_inner_accepts_common_spellings():
    assert parse_inner("300x200x80") == (300.0, 200.0, 80.0)
    assert parse_inner(" 300 × 200.5 X 80 ") == (300.0, 200.5, 80.0)


# -- materials -------------------------------------------------------------------------------------
def test_shipped_materials_library():
    lib = load_materials()
    assert lib is load_materials(), "the shipped file is parsed once"
    assert lib.version >= 1 and set(lib.board_codes) >= {"E", "B", "C", "BC"}
    e, bc = lib.board("E"), lib.board("bc")
    assert (e.caliper_mm, e.combined_gsm, e.wall) == (1.5, 385, "single")
    assert (bc.caliper_mm, bc.wall, bc.flutes) == (7.0, "double", ("B", "C"))
    assert bc.computed_gsm() == pytest.approx(645) and bc.kg_per_m2 == pytest.approx(0.645)
    assert all(b.assumptions for b in lib.boards), "unsourced figures are marked as assumptions"
    factor = lib.emission_factor(e.emission_factor)
    assert (factor.value, factor.unit, factor.scope, factor.year) == (
        0.491,
        "kg CO2e/kg",
        "cradle-to-grave incl. biogenic",
        2021,
    )
    assert factor.source == "FEFCO/CCB European database 2021 data" and factor.boundary == "cradle-to-grave"
    assert lib.emission_factor("folding_carton_gate").value == 0.148
    assert lib.emission_factor("sack_kraft").scope == "fossil, cradle-to-gate"
    assert {i.code for i in lib.inks} == {"water_flexo", "uv_cured", "metallic"}
    assert lib.ink("uv_cured").crosslinked and lib.ink("metallic").metallic
    assert not lib.ink("water_flexo").crosslinked and all(i.assumption for i in lib.inks)


def shipped_yaml() -> str:
    from importlib import resources

    return resources.files("packaging_pipeline").joinpath("data", "materials.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("combined_gsm: 385", "combined_gsm: 500", "board_grades.E.combined_gsm: expected 385 (liners + mediums"),
        ("caliper_mm: 1.5", "caliper_mm: -1.5", "board_grades.E.caliper_mm: expected a number > 0, got -1.5"),
        ("version: 1", "version: one", "version: expected a whole number, got 'one'"),
        ("emission_factor: corrugated_eu_2021", "emission_factor: nope", "names 'nope'"),
        ("scope: cradle-to-gate\n", "scope: gate only\n", "must name exactly one of"),
        ("crosslinked: true", "crosslinked: 1", "inks.uv_cured.crosslinked: expected true or false, got 1"),
    ],
)
def test_a_bad_materials_file_names_the_field(old, new, message):
    text = shipped_yaml()
    assert old in text
    with pytest.raises(InputError, match=re.escape(message)):
        parse_materials(text.replace(old, new, 1), source="test.yaml")


def test_materials_path_override_feeds_the_dieline(tmp_path):
    path = tmp_path / "materials.yaml"
    path.write_text(shipped_yaml().replace("caliper_mm: 1.5", "caliper_mm: 2.5", 1), encoding="utf-8")
    lib = load_materials(path)
    assert lib.source == str(path) and lib.board("E").caliper_mm == 2.5
    assert make_dieline("0201", "300x200x150", "E", lib).blank_width_mm == pytest.approx(35 + 1000 + 4 * 2.5)
    with pytest.raises(InputError, match="cannot read materials file"):
        load_materials(tmp_path / "missing.yaml")


# -- the PDF writer, read back with the tiny reader in tests/support/pdf.py ------------------------
@pytest.fixture(scope="module")
def mailer() -> Dieline:
    return make_dieline("0427", "300x200x80", "E")


def test_dieline_pdf_has_spot_layers_boxes_and_font(mailer):
    data = dieline_pdf(mailer, margin_mm=10)
    doc = PdfFile(data)
    assert doc.find(rb"^\[/Separation /CutContour /DeviceCMYK << /FunctionType 2 ")
    assert doc.find(rb"^\[/Separation /Crease /DeviceCMYK << /FunctionType 2 ")
    (page,) = doc.find(rb"/Type /Page ")
    media = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", doc.objects[page])
    assert float(media.group(1)) == pytest.approx((635 + 20) * MM, abs=1e-4)
    assert float(media.group(2)) == pytest.approx((649 + 20) * MM, abs=1e-4)
    trim = [float(v) for v in re.search(rb"/TrimBox \[([\d. ]+)\]", doc.objects[page]).group(1).split()]
    assert trim == pytest.approx([10 * MM, 10 * MM, 645 * MM, 659 * MM], abs=1e-4)
    (descriptor,) = doc.find(rb"/Type /FontDescriptor")
    font_file = int(re.search(rb"/FontFile2 (\d+) 0 R", doc.objects[descriptor]).group(1))
    assert re.search(rb"/FontName /[A-Z]{6}\+DejaVuSans-Bold", doc.objects[descriptor])
    from fontTools.ttLib import TTFont

    subset = TTFont(io.BytesIO(doc.streams[font_file]))
    assert ord("F") in subset.getBestCmap() and ord("Q") not in subset.getBestCmap(), "a subset, not the whole font"
    (content,) = doc.page_contents()
    cut_cs = re.search(rb"/(CS\d+) \d+ 0 R", doc.objects[doc.find(rb"/ColorSpace << /CS")[0]]).group(1)
    assert content.count(b"/" + cut_cs + b" CS 1 SCN") == len(mailer.cut_paths)
    assert content.count(b"] 0 d") == len(mailer.crease_paths), "every crease is dashed"
    assert content.count(b"/GSop gs") == len(mailer.cut_paths) + len(mailer.crease_paths), "technical inks overprint"
    assert b"FEFCO 0427" in b"".join(literal_strings(content))


def test_dieline_pdf_is_byte_identical_across_runs(mailer):
    again = make_dieline("0427", "300x200x80", "E")
    first, second = dieline_pdf(mailer), dieline_pdf(again)
    assert first == second
    assert b"CreationDate" not in first and b"ModDate" not in first
    assert dieline_pdf(make_dieline("0427", "300x200x81", "E")) != first


def test_text_is_escaped_and_never_injects_operators():
    nasty = ["a) Tj (b", "</text><script>alert(1)</script>", "back\\slash ((", "naïve 日本 €\n"]
    doc = pdf.PdfDocument(title="t ) /Title (x")
    page = doc.add_page(100, 50)
    ink = pdf.Spot("Black", (0, 0, 0, 1))
    for i, text in enumerate(nasty):
        page.text(5, 5 + 10 * i, text, 9, ink)
    parsed = PdfFile(doc.to_bytes())
    (content,) = parsed.page_contents()
    strings, operators = split_strings(content)
    assert operators.split().count(b"Tj") == len(nasty), "no string closed early into extra operators"
    assert operators.split().count(b"<string>") == len(nasty)
    assert strings == [
        b"a) Tj (b",
        b"</text><script>alert(1)</script>",
        b"back\\slash ((",
        "naïve ?? €?".encode("cp1252"),
    ]
    assert b"\\) Tj \\(b" in content
    (info,) = parsed.find(rb"/Producer")
    assert parsed.objects[info].count(b"/Title") == 1


def test_font_widths_measure_text(mailer):
    from fontTools.ttLib import TTFont

    font = pdf.load_font()
    full = TTFont(font.path)
    upm, advance = full["head"].unitsPerEm, full["hmtx"].metrics
    cmap = full.getBestCmap()
    text = "Box 0427 – €"
    expected_units = sum(advance[cmap[ord(c)]][0] * 1000 / upm for c in text)
    assert pdf.text_width_mm(text, 10) == pytest.approx(expected_units * 10 / 1000 / MM, rel=2e-3)
    assert pdf.text_width_mm("WW", 20) == pytest.approx(2 * pdf.text_width_mm("W", 20))
    doc = pdf.PdfDocument()
    width = doc.add_page(100, 50).text(5, 5, text, 10, pdf.Spot("K", (0, 0, 0, 1)))
    assert width == pytest.approx(pdf.text_width_mm(text, 10))
    parsed = PdfFile(doc.to_bytes())
    (font_dict,) = parsed.find(rb"/Subtype /TrueType")
    body = parsed.objects[font_dict]
    assert b"/Encoding /WinAnsiEncoding" in body
    first = int(re.search(rb"/FirstChar (\d+)", body).group(1))
    widths = [int(w) for w in re.search(rb"/Widths \[([\d ]+)\]", body).group(1).split()]
    for char in "Bx0€–":
        code = char.encode("cp1252")[0]
        assert widths[code - first] == round(advance[cmap[ord(char)]][0] * 1000 / upm), char


def test_patterns_images_and_clipping():
    doc = pdf.PdfDocument()
    ink, navy = pdf.Spot("PANTONE 185 C", (0, 0.9, 0.8, 0)), pdf.Spot("Navy", (1, 0.8, 0, 0.4))
    mask = np.zeros((4, 10), dtype=bool)
    mask[1, :3] = True
    stencil = doc.stencil_mask(mask)
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 3] = 128
    photo, opaque = doc.rgb_image(rgba), doc.rgb_image(np.zeros((2, 3, 3), dtype=np.uint8))
    pattern = doc.tiling_pattern(
        [pdf.PatternLayer(stencil, ink), pdf.PatternLayer(stencil, navy, 0.5), pdf.PatternLayer(photo)],
        (20, 10),
        offset_mm=(5, 7),
        rotation_deg=90,
    )
    page = doc.add_page(100, 80)
    with page.clip([(10, 10), (90, 10), (50, 70)]):
        page.fill([(0, 0), (100, 0), (100, 80), (0, 80)], pattern)
    page.image(opaque, 0, 0, 10, 10)
    page.image(stencil, 10, 0, 10, 4, colour=ink, tint=0.3)
    parsed = PdfFile(doc.to_bytes())
    assert parsed.find(rb"^\[/Separation /PANTONE#20185#20C /DeviceCMYK")
    (pat,) = parsed.find(rb"/PatternType 1 /PaintType 1 /TilingType 1")
    body = parsed.objects[pat]
    assert re.search(rb"/BBox \[0 0 56.6929 28.3465\] /XStep 56.6929 /YStep 28.3465", body)
    assert re.search(rb"/Matrix \[0 1 -1 0 14.1732 19.8425\]", body), "rotation and offset in page points"
    cell = parsed.streams[pat]
    assert re.search(rb"/CS\d+ cs 1 scn\nq 56.6929 0 0 28.3465 0 0 cm /Im0 Do Q", cell)
    assert re.search(rb"/CS\d+ cs 0.5 scn", cell) and b"/Im1 Do" in cell
    (mask_obj,) = parsed.find(rb"/ImageMask true")
    assert parsed.streams[mask_obj] == np.packbits(~mask, axis=1).tobytes()  # 0 bits are painted
    (smask,) = parsed.find(rb"/ColorSpace /DeviceGray")
    assert parsed.streams[smask] == bytes([128] * 6)
    rgb_objects = parsed.find(rb"/ColorSpace /DeviceRGB")
    assert len(rgb_objects) == 2 and sum(b"/SMask" in parsed.objects[n] for n in rgb_objects) == 1
    (content,) = parsed.page_contents()
    assert re.search(rb"^q .* h W n\nq /Pattern cs /P0 scn .* f Q\nQ", content, re.M)
    assert re.search(rb"/CS\d+ cs 0.3 scn 28.3465 0 0 11.3386 28.3465 0 cm /Im0 Do", content)


def test_writer_rejects_misuse():
    doc = pdf.PdfDocument()
    page = doc.add_page(50, 50)
    stencil = doc.stencil_mask(np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="needs the spot colour"):
        page.image(stencil, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="already defined"):
        page.fill([(0, 0), (1, 0), (1, 1)], pdf.Spot("Crease", (1, 0, 0, 0)))
        page.fill([(0, 0), (1, 0), (1, 1)], pdf.Spot("Crease", (0, 1, 0, 0)))
    with pytest.raises(ValueError, match="non-finite"):
        page.stroke([(0, 0), (math.nan, 1)], pdf.Spot("K", (0, 0, 0, 1)), 0.1)
    with pytest.raises(ValueError, match="uint8"):
        doc.rgb_image(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="at least one page"):
        pdf.PdfDocument().to_bytes()


# -- SVG and the CLI -------------------------------------------------------------------------------
def test_svg_has_the_same_layers_in_mm(mailer):
    root = ET.fromstring(dieline_svg(mailer, margin_mm=5))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.get("width") == "645mm" and root.get("height") == "659mm"
    assert root.get("viewBox") == "0 0 645 659"
    cut = root.find("svg:g[@id='CutContour']", ns)
    crease = root.find("svg:g[@id='Crease']", ns)
    assert len(cut) == len(mailer.cut_paths) and len(crease) == len(mailer.crease_paths)
    assert crease.get("stroke-dasharray")
    drawn = [float(v) for pair in re.findall(r"[-\d.]+,[-\d.]+", cut[0].get("d")) for v in pair.split(",")]
    assert drawn == pytest.approx([v for x, y in mailer.outline for v in (x + 5, 659 - (y + 5))], abs=1e-3)


def test_a_blank_larger_than_a_pdf_page_asks_for_svg(tmp_path):
    huge = make_dieline("0201", "2000x1500x1000", "BC")
    assert huge.blank_width_mm > pdf.MAX_PAGE_MM
    with pytest.raises(InputError, match=r"larger than a PDF page can be \(5080 mm\); write it as \.svg"):
        write_dieline(huge, tmp_path / "huge.pdf")
    assert write_dieline(huge, tmp_path / "huge.svg").stat().st_size > 0


def test_write_dieline_checks_the_target(tmp_path, mailer):
    with pytest.raises(InputError, match=r"must end in \.pdf or \.svg"):
        write_dieline(mailer, tmp_path / "box.png")
    with pytest.raises(InputError, match="does not exist"):
        write_dieline(mailer, tmp_path / "missing" / "box.pdf")
    with pytest.raises(InputError, match="margin"):
        write_dieline(mailer, tmp_path / "box.pdf", margin_mm=-1)
    assert list(tmp_path.iterdir()) == []


def test_cli_dieline_writes_pdf_and_svg(tmp_path, capsys):
    out = tmp_path / "box.pdf"
    args = ["dieline", "--style", "0427", "--inner", "300x200x80", "--board", "E", "--out", str(out)]
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["style"] == "0427" and result["inner_mm"] == [300, 200, 80] and result["out"] == str(out)
    assert (result["blank_width_mm"], result["blank_height_mm"]) == (635, 649)
    assert result["blank_area_m2"] == pytest.approx(0.3262765, abs=1e-6)
    assert result["bounding_area_m2"] == pytest.approx(0.635 * 0.649) and result["caliper_mm"] == 1.5
    first = out.read_bytes()
    assert cli.main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blank_width_mm"] == 635
    assert out.read_bytes() == first, "reruns write the same bytes"
    svg = tmp_path / "box.svg"
    assert cli.main(["dieline", "--style", "0201", "--inner", "300x200x150", "--out", str(svg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["board"] == "E"
    assert '<g id="CutContour"' in svg.read_text() and '<g id="Crease"' in svg.read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style", "0427", "--inner", "300x200x250"], "use style 0201"),
        (["--style", "0203", "--inner", "300x200x80"], "known FEFCO styles"),
        (["--style", "0427", "--inner", "300x200x80", "--board", "X"], "known: E, B, C, BC"),
        (["--style", "0427", "--inner", "300by200"], "is not LxWxH"),
    ],
)
def test_cli_dieline_bad_input_exits_2(tmp_path, capsys, extra, message):
    assert cli.main(["dieline", *extra, "--out", str(tmp_path / "box.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("packaging-pipeline dieline: error: ") and message in err
    assert not (tmp_path / "box.pdf").exists()
