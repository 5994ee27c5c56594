"""Parametric dielines: the flat blank of a box, as panels, cut lines and crease lines in mm.

Why: the print file, the board mass (blank area x grammage) and where artwork may go all follow from
one geometry, so it is computed once here from the inner size and the board caliper ``t``.

Coordinates are mm on the printed (outside) face of the blank, y up, origin at the bottom-left of
the blank's bounding rectangle. Every panel carries a ``role`` and an ``up`` vector: the blank
direction that points up on the artwork when the erected box is seen from outside (for walls:
towards the top of the box; for the top and base: towards the back; hidden flaps take the up of
their wall). Cut and crease lines never overlap: a crease stops where a cut begins.

Allowance rule: a fold costs half a caliper on each side of it, so a panel that spans an inner
dimension between two folds is cut at that dimension + t; board layers trapped inside a wall add
one caliper each. Per style (L along x, W along y in the blank):

FEFCO 0201, regular slotted container (glue joint, then front, side, back, side, left to right)::

    panels      L + t, W + t, L + t, W + t      body height  Hb = H + 2t (two flap layers at each end)
    flaps       F = (W + t) / 2, top and bottom (half the width panel, so the major flaps meet)
    slots       s = 2t wide, F deep, centred on each of the 3 inner panel creases, top and bottom
    glue joint  35 mm wide, tapered by e = 5 mm at each end (a trapezoid)
    blank       width 35 + 2L + 2W + 4t, height W + H + 3t
    area        (2L + 2W + 4t) x (W + H + 3t) - 6 x s x F + 35 x (Hb - e)

FEFCO 0427, e-commerce mailer (base in the middle; front wall below, back wall, lid and tuck above;
rolled double side walls left and right; dust flaps on the front and back walls and on the lid)::

    base             Lb = L + 4t (dust flap and inner wall inside each side wall) by Wb = W + 2t
    front, back      Lb x (H + t)
    lid              Lb x Wl, Wl = W + 3t (reaches over the front wall)
    tuck flap        (L - 2t) wide, centred, T = H - t deep, top corners chamfered by
                     c = min(10, T / 2, (L - 2t) / 4)
    outer side wall  (H + t) x Wb;   inner side wall H x W (t short of each end), rolled inside
    lock tabs        2 per inner wall, W/4 long, 2t deep, centred at its quarter points; each meets
                     a 2t x W/4 slot in the base, 1t to 3t in from the side crease (tabs and slots
                     cancel in the area)
    wall dust flaps  W/2 x H on both ends of the front and back walls, t clear of the base side
    lid dust flaps   (H - t) x W on both sides of the lid, starting t above the lid crease
    blank            width Lb + 2 x max(2H + 3t, W/2), height 3H + 2W + 6t
    area             Lb x (Wb + 2(H + t) + Wl) + T(L - 2t) - c^2 + 2(H + t)Wb + 4HW + 2(H - t)W
    limit            H <= W: a folder-type mailer is a flat box; taller goods go in an 0201

Every inner dimension must lie between max(20 mm, 4t) and 2000 mm.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.materials import BoardGrade, MaterialsLibrary, load_materials
from packaging_pipeline.design.pdf import MAX_PAGE_MM, PdfDocument, Spot, text_width_mm

Point = tuple[float, float]
Polyline = tuple[Point, ...]

STYLES: dict[str, str] = {
    "0201": "regular slotted container (RSC)",
    "0427": "e-commerce mailer with tuck-in lid, rolled side walls and dust flaps",
}
ROLES = ("top", "base", "front", "back", "side", "inner", "flap", "glue")
GLUE_JOINT_MM = 35.0
GLUE_TAPER_MM = 5.0
MIN_INNER_MM = 20.0
MAX_INNER_MM = 2000.0
DEFAULT_MARGIN_MM = 10.0

CUT_SPOT = ("CutContour", (0.0, 1.0, 0.0, 0.0))
CREASE_SPOT = ("Crease", (1.0, 0.0, 1.0, 0.0))
INFO_SPOT = ("DielineInfo", (0.0, 0.0, 0.0, 1.0))
CUT_WIDTH_PT = 0.5
MM_PER_PT = 25.4 / 72.0
CAP_HEIGHT_EM = 0.73  # DejaVu Sans Bold capitals, as a share of the font size
CREASE_DASH_MM = (3.0, 1.5)


@dataclasses.dataclass(frozen=True)
class Panel:
    """One face or flap of the blank: a counter-clockwise polygon (first point not repeated)."""

    name: str
    role: str
    polygon: Polyline
    up: Point

    @property
    def area_mm2(self) -> float:
        return polygon_area(self.polygon)


@dataclasses.dataclass(frozen=True)
class Dieline:
    """A box blank. ``cut_paths[0]`` is the closed outer contour; later cut paths are closed holes."""

    style: str
    inner_mm: tuple[float, float, float]
    board: str
    caliper_mm: float
    panels: tuple[Panel, ...]
    cut_paths: tuple[Polyline, ...]
    crease_paths: tuple[Polyline, ...]
    blank_width_mm: float
    blank_height_mm: float
    blank_area_m2: float
    bounding_area_m2: float

    @property
    def outline(self) -> Polyline:
        return self.cut_paths[0]

    def panel(self, name: str) -> Panel:
        for panel in self.panels:
            if panel.name == name:
                return panel
        raise KeyError(f"dieline {self.style} has no panel {name!r}; panels: {[p.name for p in self.panels]}")

    def panels_with_role(self, role: str) -> tuple[Panel, ...]:
        return tuple(p for p in self.panels if p.role == role)

    def summary(self) -> dict[str, Any]:
        """The facts a caller prints or stores; sizes rounded to 0.001 mm, areas to 1 mm2 (1e-6 m2)."""
        return {
            "style": self.style,
            "style_name": STYLES[self.style],
            "inner_mm": list(self.inner_mm),
            "board": self.board,
            "caliper_mm": self.caliper_mm,
            "blank_width_mm": round(self.blank_width_mm, 3),
            "blank_height_mm": round(self.blank_height_mm, 3),
            "blank_area_m2": round(self.blank_area_m2, 6),
            "bounding_area_m2": round(self.bounding_area_m2, 6),
        }


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned shoelace area; a repeated closing point adds nothing."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


def parse_inner(text: str) -> tuple[float, float, float]:
    """``"300x200x80"`` -> (300.0, 200.0, 80.0): inner length x width x height in mm."""
    parts = re.split(r"\s*[x×X*]\s*", str(text).strip())
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"inner size {text!r} is not LxWxH in mm; write it like 300x200x80")
    return _check_sizes(values, str(text))


def _check_sizes(values: Sequence[float], label: str) -> tuple[float, float, float]:
    for name, value in zip("LWH", values, strict=True):
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"inner size {label!r}: {name}={value:g} must be a finite number of mm above zero")
        if value > MAX_INNER_MM:
            raise InputError(
                f"inner size {label!r}: {name}={value:g} mm is above the {MAX_INNER_MM:g} mm this generator makes; "
                "check the unit (mm, not 0.1 mm)"
            )
    length, width, height = (float(v) for v in values)
    return length, width, height


def normalise_style(style: str) -> str:
    """``"0427"``, ``"FEFCO 0427"`` or ``"fefco-0427"`` -> ``"0427"``; unknown styles list the known ones."""
    code = re.sub(r"^fefco[\s_-]*", "", str(style).strip(), flags=re.IGNORECASE)
    if code not in STYLES:
        known = "; ".join(f"{k} ({v})" for k, v in STYLES.items())
        raise InputError(f"unknown box style {style!r}: known FEFCO styles are {known}")
    return code


def make_dieline(
    style: str, inner_mm: Sequence[float] | str, board: str, library: MaterialsLibrary | None = None
) -> Dieline:
    """The dieline of ``style`` for inner L x W x H mm on board grade ``board`` (caliper from the library).

    Raises:
        InputError: unknown style or board, sizes that are not finite, too small or too large, or a
            height the style cannot take; the message names the value and the limit.
    """
    code = normalise_style(style)
    if isinstance(inner_mm, str):
        inner = parse_inner(inner_mm)
    else:
        values = tuple(inner_mm)
        if len(values) != 3:
            raise InputError(f"inner size {values!r} must be three numbers L, W, H in mm")
        try:
            inner = _check_sizes(tuple(float(v) for v in values), "x".join(f"{v:g}" for v in values))
        except (TypeError, ValueError):
            raise InputError(f"inner size {values!r} must be three numbers L, W, H in mm") from None
    grade = (library or load_materials()).board(board)
    t = grade.caliper_mm
    minimum = max(MIN_INNER_MM, 4 * t)
    label = "x".join(f"{v:g}" for v in inner)
    for name, value in zip("LWH", inner, strict=True):
        if value < minimum:
            raise InputError(
                f"inner size {label}: {name}={value:g} mm is below the {minimum:g} mm minimum for board "
                f"{grade.code} (the larger of {MIN_INNER_MM:g} mm and four calipers)"
            )
    return _BUILDERS[code](inner, grade)


class _Builder:
    """Collects geometry in local coordinates, then moves it so the blank starts at the origin."""

    def __init__(self) -> None:
        self.panels: list[tuple[str, str, list[Point], Point]] = []
        self.creases: list[tuple[Point, Point]] = []
        self.holes: list[list[Point]] = []

    def panel(self, name: str, role: str, polygon: list[Point], up: Point) -> None:
        self.panels.append((name, role, polygon, up))

    def rect(self, name: str, role: str, x0: float, y0: float, x1: float, y1: float, up: Point) -> None:
        self.panel(name, role, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], up)

    def rect_x(self, name: str, role: str, xa: float, xb: float, y0: float, y1: float, up: Point) -> None:
        """A rectangle between two x values given in either order (panels left or right of a crease)."""
        self.rect(name, role, min(xa, xb), y0, max(xa, xb), y1, up)

    def crease(self, a: Point, b: Point) -> None:
        self.creases.append((a, b))

    def hole(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.holes.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def finish(self, style: str, inner: tuple[float, float, float], grade: BoardGrade, outline: list[Point]) -> Dieline:
        dx = -min(x for x, _ in outline)
        dy = -min(y for _, y in outline)

        def move(points: Sequence[Point]) -> Polyline:
            return tuple((round(x + dx, 6) + 0.0, round(y + dy, 6) + 0.0) for x, y in points)

        def closed(points: Sequence[Point]) -> Polyline:
            moved = move(points)
            return (*moved, moved[0])

        contour = closed(outline)
        holes = tuple(closed(h) for h in self.holes)
        width = max(x for x, _ in contour)
        height = max(y for _, y in contour)
        area_mm2 = polygon_area(contour) - sum(polygon_area(h) for h in holes)
        return Dieline(
            style=style,
            inner_mm=inner,
            board=grade.code,
            caliper_mm=grade.caliper_mm,
            panels=tuple(Panel(n, r, move(p), up) for n, r, p, up in self.panels),
            cut_paths=(contour, *holes),
            crease_paths=tuple(move(seg) for seg in self.creases),
            blank_width_mm=width,
            blank_height_mm=height,
            blank_area_m2=area_mm2 / 1e6,
            bounding_area_m2=width * height / 1e6,
        )


def _rsc_0201(inner: tuple[float, float, float], grade: BoardGrade) -> Dieline:
    length, width, height = inner
    t = grade.caliper_mm
    g = GLUE_JOINT_MM
    hb = height + 2 * t
    f = (width + t) / 2
    h = t  # half a slot
    e = GLUE_TAPER_MM
    xs = [g]
    for panel in (length, width, length, width):
        xs.append(xs[-1] + panel + t)
    yb, yt, ytop = f, f + hb, 2 * f + hb
    b = _Builder()
    b.panel("glue", "glue", [(0.0, yb + e), (g, yb), (g, yt), (0.0, yt - e)], (0.0, 1.0))
    walls = [("front", "front"), ("side_right", "side"), ("back", "back"), ("side_left", "side")]
    for i, (name, role) in enumerate(walls):
        b.rect(name, role, xs[i], yb, xs[i + 1], yt, (0.0, 1.0))
    for i, (name, _) in enumerate(walls):
        left = xs[i] + (h if i > 0 else 0.0)
        right = xs[i + 1] - (h if i < 3 else 0.0)
        major = name in ("front", "back")
        toward_back = 1.0 if name == "front" else -1.0
        top_up = (0.0, toward_back) if major else (0.0, 1.0)
        base_up = (0.0, -toward_back) if major else (0.0, 1.0)
        b.rect(f"top_{name}", "top" if major else "flap", left, yt, right, ytop, top_up)
        b.rect(f"bottom_{name}", "base" if major else "flap", left, 0.0, right, yb, base_up)
        b.crease((left, yt), (right, yt))
        b.crease((left, yb), (right, yb))
    for x in xs[:4]:
        b.crease((x, yb), (x, yt))
    outline: list[Point] = [(g, 0.0)]
    for x in xs[1:4]:
        outline += [(x - h, 0.0), (x - h, yb), (x + h, yb), (x + h, 0.0)]
    outline += [(xs[4], 0.0), (xs[4], ytop)]
    for x in reversed(xs[1:4]):
        outline += [(x + h, ytop), (x + h, yt), (x - h, yt), (x - h, ytop)]
    outline += [(g, ytop), (g, yt), (0.0, yt - e), (0.0, yb + e), (g, yb)]
    return b.finish("0201", inner, grade, outline)


def _mailer_0427(inner: tuple[float, float, float], grade: BoardGrade) -> Dieline:
    length, width, height = inner
    t = grade.caliper_mm
    if height > width:
        raise InputError(
            f"inner size {length:g}x{width:g}x{height:g}: FEFCO 0427 takes H up to W ({width:g} mm), a flat "
            "mailer whose rolled side walls and tuck stay closed; use style 0201 for taller goods"
        )
    lb, wb, hw = length + 4 * t, width + 2 * t, height + t
    hs, hi, k = height + t, height, 2 * t
    wl, tuck = width + 3 * t, height - t
    e, d = width / 2, height - t
    c = min(10.0, tuck / 2, (length - 2 * t) / 4)
    lid0 = wb + hw
    lid1 = lid0 + wl
    tx0, tx1 = 3 * t, length + t
    tabs = [(t + width / 8, t + 3 * width / 8), (t + 5 * width / 8, t + 7 * width / 8)]
    b = _Builder()
    b.rect("base", "base", 0.0, 0.0, lb, wb, (0.0, 1.0))
    b.rect("front", "front", 0.0, -hw, lb, 0.0, (0.0, -1.0))
    b.rect("back", "back", 0.0, wb, lb, lid0, (0.0, 1.0))
    b.rect("lid", "top", 0.0, lid0, lb, lid1, (0.0, -1.0))
    tuck_polygon = [(tx0, lid1), (tx1, lid1), (tx1, lid1 + tuck - c), (tx1 - c, lid1 + tuck), (tx0 + c, lid1 + tuck)]
    b.panel("tuck", "flap", [*tuck_polygon, (tx0, lid1 + tuck - c)], (0.0, -1.0))
    for y in (0.0, wb, lid0):
        b.crease((0.0, y), (lb, y))
    b.crease((tx0, lid1), (tx1, lid1))
    for side, sign, x_base in (("left", -1.0, 0.0), ("right", 1.0, lb)):

        def x(offset: float, sign: float = sign, x_base: float = x_base) -> float:
            return x_base + sign * offset

        b.rect_x(f"side_{side}", "side", x(0), x(hs), 0.0, wb, (sign, 0.0))
        inner_wall = [(x(hs), t), (x(hs + hi), t)]
        for y0, y1 in tabs:
            inner_wall += [(x(hs + hi), y0), (x(hs + hi + k), y0), (x(hs + hi + k), y1), (x(hs + hi), y1)]
        inner_wall += [(x(hs + hi), wb - t), (x(hs), wb - t)]
        b.panel(f"side_{side}_inner", "inner", _ccw(inner_wall), (-sign, 0.0))
        for y0, y1 in tabs:
            b.hole(min(x(-t), x(-3 * t)), y0, max(x(-t), x(-3 * t)), y1)
        b.rect_x(f"front_flap_{side}", "flap", x(0), x(e), -hw, -t, (0.0, -1.0))
        b.rect_x(f"back_flap_{side}", "flap", x(0), x(e), wb + t, lid0, (0.0, 1.0))
        b.rect_x(f"lid_flap_{side}", "flap", x(0), x(d), lid0 + t, lid0 + t + width, (-sign, 0.0))
        b.crease((x(0), 0.0), (x(0), wb))
        b.crease((x(hs), t), (x(hs), wb - t))
        b.crease((x(0), -hw), (x(0), -t))
        b.crease((x(0), wb + t), (x(0), lid0))
        b.crease((x(0), lid0 + t), (x(0), lid0 + t + width))

    def side_contour(sign: float, x_base: float) -> list[Point]:
        """The contour on one side, from the front wall's corner up to the lid's top corner."""

        def x(offset: float) -> float:
            return x_base + sign * offset

        points = [(x(0), -t), (x(0), 0.0), (x(hs), 0.0), (x(hs), t), (x(hs + hi), t)]
        for y0, y1 in tabs:
            points += [(x(hs + hi), y0), (x(hs + hi + k), y0), (x(hs + hi + k), y1), (x(hs + hi), y1)]
        points += [(x(hs + hi), wb - t), (x(hs), wb - t), (x(hs), wb), (x(0), wb), (x(0), wb + t)]
        points += [(x(e), wb + t), (x(e), lid0), (x(0), lid0), (x(0), lid0 + t), (x(d), lid0 + t)]
        points += [(x(d), lid0 + t + width), (x(0), lid0 + t + width), (x(0), lid1)]
        return points

    outline: list[Point] = [(-e, -hw), (lb + e, -hw), (lb + e, -t)]
    outline += side_contour(1.0, lb)
    outline += tuck_polygon[1:] + [(tx0, lid1 + tuck - c), (tx0, lid1)]
    outline += list(reversed(side_contour(-1.0, 0.0)))
    outline += [(-e, -t)]
    return b.finish("0427", inner, grade, outline)


def _ccw(points: list[Point]) -> list[Point]:
    signed = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True))
    return points if signed > 0 else list(reversed(points))


_BUILDERS: dict[str, Callable[[tuple[float, float, float], BoardGrade], Dieline]] = {
    "0201": _rsc_0201,
    "0427": _mailer_0427,
}


def draw_cut_and_crease(page: Any, dieline: Dieline, offset_mm: Point) -> None:
    """Stroke the cuts in the CutContour spot and the creases dashed in Crease, both overprinting."""
    def shifted(points: Polyline) -> list[Point]:
        return [(x + offset_mm[0], y + offset_mm[1]) for x, y in points]

    cut, crease = Spot(*CUT_SPOT), Spot(*CREASE_SPOT)
    width_mm = CUT_WIDTH_PT * MM_PER_PT
    for path in dieline.cut_paths:
        page.stroke(shifted(path), cut, width_mm, overprint=True)
    for path in dieline.crease_paths:
        page.stroke(shifted(path), crease, width_mm, dash_mm=CREASE_DASH_MM, overprint=True)


def svg_cut_and_crease(dieline: Dieline, margin_mm: float, height_mm: float) -> list[str]:
    """The ``CutContour`` and ``Crease`` SVG layers of a page ``height_mm`` tall with the blank at ``margin_mm``."""

    def d(points: Polyline) -> str:
        coords = [f"{svg_num(x + margin_mm)},{svg_num(height_mm - (y + margin_mm))}" for x, y in points]
        return "M" + " L".join(coords)

    stroke = svg_num(CUT_WIDTH_PT * MM_PER_PT)
    dash = " ".join(svg_num(v) for v in CREASE_DASH_MM)
    return [
        f'<g id="CutContour" fill="none" stroke="#ec008c" stroke-width="{stroke}">',
        *(f'<path d="{d(path)}"/>' for path in dieline.cut_paths),
        "</g>",
        f'<g id="Crease" fill="none" stroke="#00a651" stroke-width="{stroke}" stroke-dasharray="{dash}">',
        *(f'<path d="{d(path)}"/>' for path in dieline.crease_paths),
        "</g>",
    ]


def dieline_pdf(dieline: Dieline, margin_mm: float = DEFAULT_MARGIN_MM, info: bool = True) -> bytes:
    """A true-scale PDF: cuts stroked in the CutContour spot, creases dashed in Crease, both overprinting.

    The page is the blank plus ``margin_mm`` on every side; the TrimBox is the blank. With ``info`` a
    one-line slug (style, inner size, board, blank size) is set in the bottom margin in its own spot,
    so a RIP can drop it with the technical inks.
    """
    margin = _check_margin(margin_mm)
    if max(dieline.blank_width_mm, dieline.blank_height_mm) + 2 * margin > MAX_PAGE_MM:
        raise InputError(
            f"blank {dieline.blank_width_mm:g} x {dieline.blank_height_mm:g} mm plus margins is larger than a PDF "
            f"page can be ({MAX_PAGE_MM:.0f} mm); write it as .svg instead"
        )
    doc = PdfDocument(title=_title(dieline))
    page = doc.add_page(
        dieline.blank_width_mm + 2 * margin,
        dieline.blank_height_mm + 2 * margin,
        trim_box_mm=(margin, margin, dieline.blank_width_mm, dieline.blank_height_mm),
    )

    draw_cut_and_crease(page, dieline, (margin, margin))
    if info and margin >= 4.0:
        slug = _title(dieline)
        # 6 pt, smaller if the line would not fit the page width or its capitals the margin.
        room_mm = page.width_mm - 4.0
        size = min(6.0, 6.0 * room_mm / text_width_mm(slug, 6.0), (margin - 2.0) / CAP_HEIGHT_EM / MM_PER_PT)
        page.text(2.0, (margin - size * MM_PER_PT * CAP_HEIGHT_EM) / 2, slug, size, Spot(*INFO_SPOT))
    return doc.to_bytes()


def dieline_svg(dieline: Dieline, margin_mm: float = DEFAULT_MARGIN_MM) -> str:
    """The same drawing as SVG in mm: ``<g id="CutContour">`` and ``<g id="Crease">`` layers."""
    margin = _check_margin(margin_mm)
    width = dieline.blank_width_mm + 2 * margin
    height = dieline.blank_height_mm + 2 * margin

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg_num(width)}mm" height="{svg_num(height)}mm" '
        f'viewBox="0 0 {svg_num(width)} {svg_num(height)}">',
        f"<title>{escape(_title(dieline))}</title>",
        *svg_cut_and_crease(dieline, margin, height),
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def write_dieline(dieline: Dieline, path: str | os.PathLike[str], margin_mm: float = DEFAULT_MARGIN_MM) -> Path:
    """Write ``dieline`` as PDF or SVG, chosen by the file suffix; the file appears whole or not at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        data = dieline_pdf(dieline, margin_mm)
    elif suffix == ".svg":
        data = dieline_svg(dieline, margin_mm).encode("utf-8")
    else:
        raise InputError(f"output {str(path)!r} must end in .pdf or .svg")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _check_margin(margin_mm: float) -> float:
    if not (math.isfinite(margin_mm) and 0 <= margin_mm <= 500):
        raise InputError(f"margin {margin_mm!r} mm must lie between 0 and 500")
    return float(margin_mm)


def _title(dieline: Dieline) -> str:
    inner = "×".join(f"{v:g}" for v in dieline.inner_mm)
    return (
        f"FEFCO {dieline.style} · inner {inner} mm · board {dieline.board} ({dieline.caliper_mm:g} mm) · "
        f"blank {dieline.blank_width_mm:g}×{dieline.blank_height_mm:g} mm, {dieline.blank_area_m2:.4f} m²"
    )


def svg_num(value: float) -> str:
    """A coordinate for SVG: at most 3 decimals, no trailing zeros, never ``-0``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
