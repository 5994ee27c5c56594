"""A small PDF 1.6 writer with what print files need: spot colours, tiling patterns, images, text.

Why our own: print files name their inks as Separation colour spaces (``CutContour``, ``Crease``,
one per flexo ink) and repeat artwork tiles at a physical scale, which general plotting libraries do
not do; and a nightly batch must be reproducible, so the output is byte-identical for the same
calls: no timestamps, object order fixed by call order, the file ID a hash of the content.

Units: positions and sizes in mm (page origin bottom-left, y up), font sizes in points. Streams are
compressed with zlib. Text uses an embedded TrueType subset (DejaVu Sans Bold by default) as a simple
font with WinAnsiEncoding; characters outside WinAnsi are replaced by ``?`` and every string is
escaped, so no text can end a string operand and inject operators.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import math
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

MM = 72.0 / 25.4  # points per mm
MAX_PAGE_MM = 14400 / MM  # 200 inches: the largest page PDF viewers accept without /UserUnit
DEFAULT_FONT = "DejaVuSans-Bold.ttf"
PRODUCER = "packaging-pipeline"
REPLACEMENT = "?"

Point = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Spot:
    """A named spot ink: a Separation colour space whose CMYK alternate is used for proofs."""

    name: str
    cmyk: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 127:
            raise ValueError(f"spot colour name {self.name!r} must have 1 to 127 characters")
        if len(self.cmyk) != 4 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in self.cmyk):
            raise ValueError(f"spot colour {self.name!r}: CMYK {self.cmyk!r} must be four values in [0, 1]")


@dataclasses.dataclass(frozen=True)
class Image:
    """An image XObject in a document: RGB(A) pixels, or a 1-bit stencil painted in a fill colour."""

    resource: str
    width: int
    height: int
    stencil: bool


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A coloured tiling pattern registered in a document; fill a shape with it via ``Page.fill``."""

    resource: str
    tile_mm: tuple[float, float]


class PatternLayer(NamedTuple):
    """One image in a pattern cell; a stencil needs the spot ink (and tint) it is painted in."""

    image: Image
    colour: Spot | None = None
    tint: float = 1.0


def _num(value: float) -> str:
    """A PDF number: at most 4 decimals, no exponent, no negative zero."""
    if not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r} into a PDF")
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pt(value_mm: float) -> str:
    return _num(value_mm * MM)


def _name(name: str) -> str:
    """A PDF name object: bytes outside ``!``..``~`` and delimiters written as ``#xx``."""
    out = []
    for byte in name.encode("utf-8"):
        if byte < 0x21 or byte > 0x7E or chr(byte) in "()<>[]{}/%#":
            out.append(f"#{byte:02X}")
        else:
            out.append(chr(byte))
    return "/" + "".join(out)


def pdf_literal(data: bytes) -> str:
    """``data`` as a PDF literal string: backslash and parentheses escaped, other bytes as octal.

    Escaping every parenthesis (not only unbalanced ones) keeps the rule simple enough to audit: no
    byte sequence can close the string early, so text never becomes content-stream operators.
    """
    out = ["("]
    for byte in data:
        char = chr(byte)
        if char in "\\()":
            out.append("\\" + char)
        elif 0x20 <= byte <= 0x7E:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    out.append(")")
    return "".join(out)


def _text_string(text: str) -> str:
    """A PDF text string (Info entries) as UTF-16BE hex, which any Unicode survives intact."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


class TrueTypeFont:
    """Metrics and subsetting of one TrueType font, used as a simple font with WinAnsiEncoding."""

    def __init__(self, path: str | os.PathLike[str]):
        from fontTools.pens.boundsPen import BoundsPen
        from fontTools.ttLib import TTFont

        self.path = Path(path)
        self.data = self.path.read_bytes()
        self._subsets: dict[frozenset[int], bytes] = {}
        font = TTFont(io.BytesIO(self.data), recalcTimestamp=False)
        self.cmap: dict[int, str] = font.getBestCmap()
        upm = font["head"].unitsPerEm
        self._scale = 1000.0 / upm
        self.postscript_name = (font["name"].getDebugName(6) or self.path.stem).replace(" ", "")
        head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
        self.bbox = tuple(round(v * self._scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax))
        self.ascent = round(hhea.ascent * self._scale)
        self.descent = round(hhea.descent * self._scale)
        self.weight = int(os2.usWeightClass)
        self.italic_angle = float(font["post"].italicAngle)
        glyph_set = font.getGlyphSet()
        cap_height = getattr(os2, "sCapHeight", 0)
        if not cap_height and "H" in glyph_set:
            pen = BoundsPen(glyph_set)
            glyph_set["H"].draw(pen)
            cap_height = pen.bounds[3] if pen.bounds else hhea.ascent
        self.cap_height = round((cap_height or hhea.ascent) * self._scale)
        advances = font["hmtx"].metrics
        # Width in 1/1000 em of every WinAnsi code the font has a glyph for (others are never emitted).
        self.widths: dict[int, int] = {}
        for code in range(32, 256):
            char = _winansi_char(code)
            if char is not None and ord(char) in self.cmap:
                self.widths[code] = round(advances[self.cmap[ord(char)]][0] * self._scale)

    def encode(self, text: str) -> bytes:
        """WinAnsi bytes of ``text``; characters WinAnsi or the font lacks (and controls) become ``?``."""
        out = bytearray()
        fallback = REPLACEMENT.encode("cp1252")
        for char in text.replace("\u00a0", " ").replace("\u00ad", "-"):
            try:
                byte = char.encode("cp1252")
            except UnicodeEncodeError:
                byte = fallback
            out += byte if byte[0] in self.widths else fallback
        return bytes(out)

    def width_units(self, encoded: bytes) -> int:
        """Advance width of encoded text in 1/1000 of the font size (no kerning, as it is drawn)."""
        return sum(self.widths[b] for b in encoded)

    def subset(self, codes: set[int]) -> bytes:
        """A TrueType subset with the glyphs of ``codes`` (and .notdef); deterministic bytes.

        Cached per set of codes: a night prints the same few messages on hundreds of PDFs, and
        subsetting is most of a PDF's cost (140 ms against under 20 ms for the rest).
        """
        key = frozenset(codes)
        if key not in self._subsets:
            self._subsets[key] = self._subset(key)
        return self._subsets[key]

    def _subset(self, codes: frozenset[int]) -> bytes:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        options = subset.Options()
        options.notdef_outline = True
        options.recalc_timestamp = False
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
        options.drop_tables += ["FFTM"]  # FontForge's timestamps: not needed, and unsubsettable
        font = TTFont(io.BytesIO(self.data), recalcTimestamp=False)
        # Text is drawn glyph by glyph without kerning or ligatures, so the layout tables are dead
        # weight; dropping them first also spares the subsetter decompiling them (140 -> 42 ms).
        for table in ("GSUB", "GPOS", "GDEF"):
            if table in font:
                del font[table]
        subsetter = subset.Subsetter(options)
        unicodes = sorted({ord(c) for c in (_winansi_char(code) for code in codes) if c is not None})
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        buf = io.BytesIO()
        font.save(buf)
        return buf.getvalue()


def _winansi_char(code: int) -> str | None:
    try:
        return bytes([code]).decode("cp1252")
    except UnicodeDecodeError:
        return None


@functools.lru_cache(maxsize=4)
def load_font(path: str | None = None) -> TrueTypeFont:
    """The font at ``path``, or the shipped DejaVu Sans Bold; cached, as parsing costs ~50 ms."""
    if path is None:
        with resources.as_file(resources.files("packaging_pipeline").joinpath("data", "fonts", DEFAULT_FONT)) as p:
            return TrueTypeFont(p)
    return TrueTypeFont(path)


def text_width_mm(text: str, size_pt: float, font: TrueTypeFont | None = None) -> float:
    """How wide ``text`` is drawn at ``size_pt`` in mm, exactly as :meth:`Page.text` places it."""
    font = font or load_font()
    return font.width_units(font.encode(text)) * size_pt / 1000.0 / MM


class PdfDocument:
    """Collects pages and resources; :meth:`to_bytes` writes the file (the same calls, the same bytes)."""

    def __init__(self, title: str | None = None, font: TrueTypeFont | None = None):
        self.title = title
        self.font = font or load_font()
        self._objects: dict[int, bytes] = {}
        self._next = 1
        self._pages: list[Page] = []
        self._colour_spaces: dict[str, tuple[str, Spot, int]] = {}  # spot name -> (resource, spot, object)
        self._xobjects: dict[str, int] = {}
        self._patterns: dict[str, int] = {}
        self._used_codes: set[int] = set()

    # -- objects -------------------------------------------------------------------------------
    def _add(self, body: bytes) -> int:
        number = self._next
        self._next += 1
        self._objects[number] = body
        return number

    @staticmethod
    def _stream(entries: str, data: bytes) -> bytes:
        packed = zlib.compress(data, 9)
        head = f"<< {entries} /Filter /FlateDecode /Length {len(packed)} >>\nstream\n".encode("ascii")
        return head + packed + b"\nendstream"

    # -- resources -----------------------------------------------------------------------------
    def colour_space(self, spot: Spot) -> str:
        """The resource name of ``spot``'s Separation colour space, registering it on first use."""
        known = self._colour_spaces.get(spot.name)
        if known is not None:
            if known[1] != spot:
                raise ValueError(
                    f"spot colour {spot.name!r} is already defined with CMYK {known[1].cmyk}, not {spot.cmyk}"
                )
            return known[0]
        c1 = " ".join(_num(v) for v in spot.cmyk)
        body = f"[/Separation {_name(spot.name)} /DeviceCMYK << /FunctionType 2 /Domain [0 1] /C0 [0 0 0 0] "
        body += f"/C1 [{c1}] /N 1 >>]"
        resource = f"CS{len(self._colour_spaces)}"
        self._colour_spaces[spot.name] = (resource, spot, self._add(body.encode("ascii")))
        return resource

    def rgb_image(self, pixels: np.ndarray) -> Image:
        """An 8-bit RGB image from an (h, w, 3) or (h, w, 4) uint8 array; alpha becomes an SMask."""
        arr = np.asarray(pixels)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or 0 in arr.shape[:2]:
            raise ValueError(f"an RGB image needs an (h, w, 3|4) uint8 array, got {arr.dtype} {arr.shape}")
        height, width = arr.shape[:2]
        smask = ""
        if arr.shape[2] == 4 and not (arr[..., 3] == 255).all():
            alpha = np.ascontiguousarray(arr[..., 3]).tobytes()
            entries = f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
            entries += "/BitsPerComponent 8"
            smask = f" /SMask {self._add(self._stream(entries, alpha))} 0 R"
        entries = f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
        entries += f"/BitsPerComponent 8{smask}"
        number = self._add(self._stream(entries, np.ascontiguousarray(arr[..., :3]).tobytes()))
        return self._register_image(number, width, height, stencil=False)

    def stencil_mask(self, mask: np.ndarray) -> Image:
        """A 1-bit stencil from an (h, w) boolean array, True where ink goes; painted in the fill colour."""
        arr = np.asarray(mask)
        if arr.ndim != 2 or 0 in arr.shape:
            raise ValueError(f"a stencil mask needs an (h, w) boolean array, got shape {arr.shape}")
        height, width = arr.shape
        # With the default /Decode [0 1] a 0 bit is painted; rows are padded to whole bytes.
        data = np.packbits(~arr.astype(bool), axis=1).tobytes()
        entries = f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ImageMask true /BitsPerComponent 1"
        return self._register_image(self._add(self._stream(entries, data)), width, height, stencil=True)

    def _register_image(self, number: int, width: int, height: int, stencil: bool) -> Image:
        resource = f"Im{len(self._xobjects)}"
        self._xobjects[resource] = number
        return Image(resource, width, height, stencil)

    def tiling_pattern(
        self,
        layers: Sequence[PatternLayer],
        tile_mm: tuple[float, float],
        *,
        offset_mm: Point = (0.0, 0.0),
        rotation_deg: float = 0.0,
    ) -> Pattern:
        """A coloured tiling pattern repeating one ``tile_mm`` cell of stacked images.

        The cell's bottom-left corner sits at ``offset_mm`` on the page and the grid is turned by
        ``rotation_deg`` counter-clockwise about it, so a tile keeps its physical size wherever it
        is filled in (pattern space is tied to the page, not to the shape being filled).
        """
        tw, th = (float(v) for v in tile_mm)
        if not (math.isfinite(tw) and math.isfinite(th) and tw > 0 and th > 0):
            raise ValueError(f"pattern tile {tile_mm!r} mm must be two positive sizes")
        if not layers:
            raise ValueError("a pattern needs at least one layer")
        ops, spaces, xobjects = [], {}, {}
        for layer in layers:
            image, colour, tint = PatternLayer(*layer)
            if image.resource not in self._xobjects:
                raise ValueError(f"image {image.resource} does not belong to this document")
            xobjects[image.resource] = self._xobjects[image.resource]
            if image.stencil:
                if colour is None:
                    raise ValueError(f"stencil {image.resource} in a pattern needs the spot colour it is painted in")
                cs = self.colour_space(colour)
                spaces[cs] = self._colour_spaces[colour.name][2]
                ops.append(f"/{cs} cs {_num(_tint(tint))} scn")
            elif colour is not None:
                raise ValueError(f"RGB image {image.resource} carries its own colours; give it no spot colour")
            ops.append(f"q {_pt(tw)} 0 0 {_pt(th)} 0 0 cm /{image.resource} Do Q")
        angle = math.radians(rotation_deg)
        cos, sin = math.cos(angle), math.sin(angle)
        matrix = " ".join(_num(v) for v in (cos, sin, -sin, cos, offset_mm[0] * MM, offset_mm[1] * MM))
        res = " ".join(f"/{k} {v} 0 R" for k, v in spaces.items())
        xo = " ".join(f"/{k} {v} 0 R" for k, v in xobjects.items())
        entries = (
            f"/Type /Pattern /PatternType 1 /PaintType 1 /TilingType 1 /BBox [0 0 {_pt(tw)} {_pt(th)}] "
            f"/XStep {_pt(tw)} /YStep {_pt(th)} /Matrix [{matrix}] "
            f"/Resources << /ColorSpace << {res} >> /XObject << {xo} >> >>"
        )
        resource = f"P{len(self._patterns)}"
        self._patterns[resource] = self._add(self._stream(entries, "\n".join(ops).encode("ascii")))
        return Pattern(resource, (tw, th))

    # -- pages ---------------------------------------------------------------------------------
    def add_page(
        self,
        width_mm: float,
        height_mm: float,
        *,
        trim_box_mm: tuple[float, float, float, float] | None = None,
        bleed_box_mm: tuple[float, float, float, float] | None = None,
    ) -> Page:
        """A new page ``width_mm`` x ``height_mm``; trim and bleed boxes are (x, y, width, height) in mm."""
        if not (math.isfinite(width_mm) and math.isfinite(height_mm) and width_mm > 0 and height_mm > 0):
            raise ValueError(f"page size {width_mm!r} x {height_mm!r} mm must be positive")
        if max(width_mm, height_mm) > MAX_PAGE_MM:
            raise ValueError(f"page size {width_mm:g} x {height_mm:g} mm exceeds the {MAX_PAGE_MM:g} mm PDF limit")
        page = Page(self, width_mm, height_mm, {"TrimBox": trim_box_mm, "BleedBox": bleed_box_mm})
        self._pages.append(page)
        return page

    def to_bytes(self) -> bytes:
        """The whole file. Fonts are subset here, to the characters every page used."""
        if not self._pages:
            raise ValueError("a PDF needs at least one page")
        objects = dict(self._objects)
        number = self._next

        def add(body: bytes) -> int:
            nonlocal number
            objects[number] = body
            number += 1
            return number - 1

        font_ref = ""
        if self._used_codes:
            font_ref = f"/Font << /F1 {self._font_objects(add)} 0 R >> "
        gstate = "/ExtGState << /GSop << /Type /ExtGState /OP true /op true /OPM 1 >> >> "
        spaces = " ".join(f"/{res} {num} 0 R" for res, _, num in self._colour_spaces.values())
        xobjects = " ".join(f"/{k} {v} 0 R" for k, v in self._xobjects.items())
        patterns = " ".join(f"/{k} {v} 0 R" for k, v in self._patterns.items())
        resources_ref = add(
            f"<< /ProcSet [/PDF /Text /ImageB /ImageC] {font_ref}{gstate}/ColorSpace << {spaces} >> "
            f"/XObject << {xobjects} >> /Pattern << {patterns} >> >>".encode("ascii")
        )
        pages_ref = add(b"")  # filled in once the kids are known
        kids = []
        for page in self._pages:
            content = add(self._stream("", "\n".join(page._ops).encode("ascii")))
            boxes = "".join(
                f" /{key} [{_pt(x)} {_pt(y)} {_pt(x + w)} {_pt(y + h)}]"
                for key, box in page.boxes.items()
                if box is not None
                for x, y, w, h in [box]
            )
            kids.append(
                add(
                    f"<< /Type /Page /Parent {pages_ref} 0 R /MediaBox [0 0 {_pt(page.width_mm)} "
                    f"{_pt(page.height_mm)}]{boxes} /Resources {resources_ref} 0 R /Contents {content} 0 R >>".encode(
                        "ascii"
                    )
                )
            )
        kid_refs = " ".join(f"{k} 0 R" for k in kids)
        objects[pages_ref] = f"<< /Type /Pages /Kids [{kid_refs}] /Count {len(kids)} >>".encode("ascii")
        catalog = add(f"<< /Type /Catalog /Pages {pages_ref} 0 R >>".encode("ascii"))
        info_entries = f"/Producer {_text_string(PRODUCER)}"
        if self.title:
            info_entries += f" /Title {_text_string(self.title)}"
        info = add(f"<< {info_entries} >>".encode("ascii"))
        return _serialise(objects, catalog, info)

    def _font_objects(self, add: Callable[[bytes], int]) -> int:
        font = self.font
        subset = font.subset(self._used_codes)
        tag = "".join(
            chr(ord("A") + b % 26)
            for b in hashlib.sha256(bytes(sorted(self._used_codes)) + font.postscript_name.encode()).digest()[:6]
        )
        base_font = _name(f"{tag}+{font.postscript_name}")
        file_ref = add(self._stream(f"/Length1 {len(subset)}", subset))
        stem_v = 50 + round((font.weight / 65) ** 2)
        descriptor = add(
            (
                f"<< /Type /FontDescriptor /FontName {base_font} /Flags 32 "
                f"/FontBBox [{' '.join(str(v) for v in font.bbox)}] /ItalicAngle {_num(font.italic_angle)} "
                f"/Ascent {font.ascent} /Descent {font.descent} /CapHeight {font.cap_height} /StemV {stem_v} "
                f"/FontWeight {font.weight} /MissingWidth 0 /FontFile2 {file_ref} 0 R >>"
            ).encode("ascii")
        )
        first, last = min(self._used_codes), max(self._used_codes)
        widths = " ".join(str(font.widths.get(code, 0)) for code in range(first, last + 1))
        return add(
            (
                f"<< /Type /Font /Subtype /TrueType /BaseFont {base_font} /FirstChar {first} /LastChar {last} "
                f"/Widths [{widths}] /Encoding /WinAnsiEncoding /FontDescriptor {descriptor} 0 R >>"
            ).encode("ascii")
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the file next to ``path`` first and rename it, so readers never see half a PDF."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_bytes(self.to_bytes())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


def _serialise(objects: dict[int, bytes], root: int, info: int) -> bytes:
    out = bytearray(b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode("ascii") + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode("ascii")
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode("ascii")
    file_id = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().upper()
    out += (
        f"trailer\n<< /Size {size} /Root {root} 0 R /Info {info} 0 R /ID [<{file_id}> <{file_id}>] >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode("ascii")
    return bytes(out)


def _tint(value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"tint {value!r} must lie in [0, 1]")
    return value


def _path(points: Sequence[Point], closed: bool) -> str:
    if len(points) < 2:
        raise ValueError(f"a path needs at least two points, got {len(points)}")
    ops = [f"{_pt(points[0][0])} {_pt(points[0][1])} m"]
    ops += [f"{_pt(x)} {_pt(y)} l" for x, y in points[1:]]
    if closed:
        ops.append("h")
    return " ".join(ops)


class Page:
    """Drawing operations on one page, in mm; each operation saves and restores the graphics state."""

    def __init__(self, doc: PdfDocument, width_mm: float, height_mm: float, boxes: dict[str, tuple | None]):
        self.doc = doc
        self.width_mm = float(width_mm)
        self.height_mm = float(height_mm)
        self.boxes = boxes
        self._ops: list[str] = []

    def _paint(self, colour: Spot | Pattern, tint: float, stroke: bool) -> str:
        if isinstance(colour, Pattern):
            if colour.resource not in self.doc._patterns:
                raise ValueError(f"pattern {colour.resource} does not belong to this document")
            return f"/Pattern CS /{colour.resource} SCN" if stroke else f"/Pattern cs /{colour.resource} scn"
        cs = self.doc.colour_space(colour)
        return f"/{cs} CS {_num(_tint(tint))} SCN" if stroke else f"/{cs} cs {_num(_tint(tint))} scn"

    def stroke(
        self,
        points: Sequence[Point],
        colour: Spot | Pattern,
        width_mm: float,
        *,
        tint: float = 1.0,
        dash_mm: tuple[float, float] | None = None,
        closed: bool = False,
        overprint: bool = False,
    ) -> None:
        """Stroke a polyline (closed: back to its first point) in a spot colour or pattern, optionally dashed."""
        ops = ["q", self._paint(colour, tint, stroke=True), f"{_pt(width_mm)} w", "1 j"]
        if dash_mm is not None:
            ops.append(f"[{_pt(dash_mm[0])} {_pt(dash_mm[1])}] 0 d")
        if overprint:
            ops.append("/GSop gs")
        ops += [_path(points, closed), "S", "Q"]
        self._ops.append(" ".join(ops))

    def fill(
        self, points: Sequence[Point], paint: Spot | Pattern, *, tint: float = 1.0, overprint: bool = False
    ) -> None:
        """Fill a polygon with a spot colour, or with a tiling pattern (which carries its own inks)."""
        ops = [
            "q",
            self._paint(paint, tint, stroke=False),
            *(["/GSop gs"] if overprint else []),
            _path(points, closed=True),
            "f",
            "Q",
        ]
        self._ops.append(" ".join(ops))

    @contextlib.contextmanager
    def clip(self, polygon: Sequence[Point]) -> Iterator[Page]:
        """Everything drawn inside the ``with`` block is clipped to ``polygon``."""
        self._ops.append(f"q {_path(polygon, closed=True)} W n")
        try:
            yield self
        finally:
            self._ops.append("Q")

    @contextlib.contextmanager
    def frame(self, origin_mm: Point, rotation_deg: float = 0.0) -> Iterator[Page]:
        """Draw in a local frame: (0, 0) at ``origin_mm``, axes turned ``rotation_deg`` counter-clockwise.

        Artwork on a panel is laid out upright in the panel's own frame, whichever way the panel
        lies on the blank.
        """
        angle = math.radians(rotation_deg)
        cos, sin = math.cos(angle), math.sin(angle)
        self._ops.append(
            f"q {_num(cos)} {_num(sin)} {_num(-sin)} {_num(cos)} {_pt(origin_mm[0])} {_pt(origin_mm[1])} cm"
        )
        try:
            yield self
        finally:
            self._ops.append("Q")

    def image(
        self,
        image: Image,
        x_mm: float,
        y_mm: float,
        width_mm: float,
        height_mm: float,
        *,
        colour: Spot | None = None,
        tint: float = 1.0,
    ) -> None:
        """Place an image in a rectangle; a stencil is painted in ``colour``."""
        if self.doc._xobjects.get(image.resource) is None:
            raise ValueError(f"image {image.resource} does not belong to this document")
        ops = ["q"]
        if image.stencil:
            if colour is None:
                raise ValueError(f"stencil {image.resource} needs the spot colour it is painted in")
            ops.append(self._paint(colour, tint, stroke=False))
        ops += [f"{_pt(width_mm)} 0 0 {_pt(height_mm)} {_pt(x_mm)} {_pt(y_mm)} cm", f"/{image.resource} Do", "Q"]
        self._ops.append(" ".join(ops))

    def text(
        self,
        x_mm: float,
        y_mm: float,
        text: str,
        size_pt: float,
        colour: Spot,
        *,
        tint: float = 1.0,
        align: str = "left",
        rotation_deg: float = 0.0,
    ) -> float:
        """Draw one line of text with its baseline through (x, y); returns its width in mm.

        ``align`` is left, center or right about (x, y) along the baseline, which is turned by
        ``rotation_deg`` counter-clockwise (so text can follow a panel's up vector).
        """
        if not (math.isfinite(size_pt) and size_pt > 0):
            raise ValueError(f"font size {size_pt!r} pt must be positive")
        if align not in ("left", "center", "right"):
            raise ValueError(f"align {align!r} must be left, center or right")
        encoded = self.doc.font.encode(text)
        if not encoded:
            return 0.0
        self.doc._used_codes.update(encoded)
        width_mm = self.doc.font.width_units(encoded) * size_pt / 1000.0 / MM
        shift = {"left": 0.0, "center": width_mm / 2, "right": width_mm}[align]
        angle = math.radians(rotation_deg)
        cos, sin = math.cos(angle), math.sin(angle)
        x0, y0 = x_mm - shift * cos, y_mm - shift * sin
        matrix = f"{_num(cos)} {_num(sin)} {_num(-sin)} {_num(cos)} {_pt(x0)} {_pt(y0)}"
        self._ops.append(
            f"q {self._paint(colour, tint, stroke=False)} BT /F1 {_num(size_pt)} Tf {matrix} Tm "
            f"{pdf_literal(encoded)} Tj ET Q"
        )
        return width_mm
