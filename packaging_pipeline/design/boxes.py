"""The box catalog: the sizes a warehouse stocks (FEFCO style, inner size, board) and on-demand custom sizes.

Read from ``data/box_catalog.yaml`` or a user's file. Each box's board area is the flat blank area
of its dieline (:mod:`packaging_pipeline.design.dielines`), so boxes can be tried from the least
board up.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.materials import load_materials

STYLES = ("0427", "0201")
"""FEFCO styles the right-sizer can choose from: e-commerce mailer and regular slotted container."""

Dims = tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Box:
    """One box size: FEFCO style, inner dimensions in mm, board grade and the board its blank takes."""

    code: str
    style: str
    inner_mm: Dims
    board: str
    blank_area_m2: float
    custom: bool = False

    @property
    def inner_volume_mm3(self) -> float:
        return math.prod(self.inner_mm)


@dataclasses.dataclass(frozen=True)
class CustomSizes:
    """On-demand boxes cut to size for orders that no standard box takes (off unless enabled)."""

    enabled: bool = False
    style: str = "0201"
    board: str = "C"
    step_mm: float = 10.0
    max_inner_mm: Dims = (800.0, 600.0, 600.0)


@dataclasses.dataclass(frozen=True)
class BoxCatalog:
    """The boxes a warehouse stocks, kept ordered by board area so the first box that fits is the leanest."""

    boxes: tuple[Box, ...]
    padding_mm: float = 5.0
    custom: CustomSizes = CustomSizes()
    source: str = "<inline>"

    def __post_init__(self) -> None:
        if not self.boxes:
            raise InputError(f"box catalog {self.source}: it lists no boxes; add at least one under 'boxes'")
        ordered = sorted(self.boxes, key=lambda b: (b.blank_area_m2, b.inner_volume_mm3, b.code))
        object.__setattr__(self, "boxes", tuple(ordered))

    @property
    def largest(self) -> Box:
        return max(self.boxes, key=lambda b: (b.inner_volume_mm3, b.code))

    def usable_mm(self, box: Box) -> Dims:
        """Inner dimensions minus the padding on both sides: the space the goods may occupy."""
        return tuple(d - 2 * self.padding_mm for d in box.inner_mm)  # type: ignore[return-value]


_CATALOG_KEYS = {"version", "padding_mm", "custom_sizes", "boxes"}

_BOX_KEYS = {"code", "style", "inner_mm", "board"}

_CUSTOM_KEYS = {"enabled", "style", "board", "step_mm", "max_inner_mm"}


def format_dims(dims: Sequence[float]) -> str:
    """``LxWxH`` in mm, as in box names and messages."""
    return "x".join(f"{d:g}" for d in dims)


def default_box_catalog_text() -> str:
    """The packaged standard range (``packaging_pipeline/data/box_catalog.yaml``)."""
    return (resources.files("packaging_pipeline") / "data" / "box_catalog.yaml").read_text(encoding="utf-8")


def load_box_catalog(path: str | os.PathLike[str] | None = None) -> BoxCatalog:
    """Load and validate a box catalog: the packaged one, or a user's YAML file at ``path``.

    Board grades are those of the materials library (``packaging_pipeline/data/materials.yaml``).

    Raises:
        InputError: the file is missing, not YAML, or an entry is invalid; the message names the
            file and the entry.
    """
    if path is None:
        source, text = "packaging_pipeline/data/box_catalog.yaml", default_box_catalog_text()
    else:
        source = str(Path(path))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read box catalog {source}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"box catalog {source} is not valid YAML: {exc}") from None
    return parse_box_catalog(doc, source)


def parse_box_catalog(doc: Any, source: str = "<inline>") -> BoxCatalog:
    """Validate a parsed catalog document and compute each box's blank area from its dieline."""

    def fail(where: str, what: str) -> InputError:
        return InputError(f"box catalog {source}: {where}: {what}")

    if not isinstance(doc, dict):
        raise fail("top level", "expected a mapping with 'padding_mm', 'custom_sizes' and 'boxes'")
    _no_unknown(doc, _CATALOG_KEYS, "top level", fail)
    padding = _number(doc.get("padding_mm", 5.0), "padding_mm", fail, minimum=0.0)

    raw_boxes = doc.get("boxes")
    if not isinstance(raw_boxes, list) or not raw_boxes:
        raise fail("boxes", "expected a non-empty list of {code, style, inner_mm, board}")
    boxes: list[Box] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw_boxes):
        where = f"boxes[{i}]"
        if not isinstance(entry, dict):
            raise fail(where, "expected a mapping {code, style, inner_mm, board}")
        if isinstance(entry.get("code"), str):
            where += f" ({entry['code']!r})"
        _no_unknown(entry, _BOX_KEYS, where, fail)
        code = entry.get("code")
        if not isinstance(code, str) or not code.strip():
            raise fail(where, "'code' must be a non-empty string such as \"0427-M3\"")
        if code in seen:
            raise fail(where, f"code {code!r} appears twice; box codes must be unique")
        seen.add(code)
        style = _style(entry.get("style"), where, fail)
        inner = _dims(entry.get("inner_mm"), where + ".inner_mm", fail)
        if min(inner) <= 2 * padding:
            raise fail(where, f"inner_mm {format_dims(inner)} leaves no room inside {padding:g} mm padding per side")
        board = _board(entry.get("board"), where, fail)
        try:
            area = box_blank_area(style, inner, board)
        except InputError as exc:
            raise fail(where, str(exc)) from None
        boxes.append(Box(code, style, inner, board, area))

    custom_doc = doc.get("custom_sizes", {}) or {}
    if not isinstance(custom_doc, dict):
        raise fail("custom_sizes", "expected a mapping {enabled, style, board, step_mm, max_inner_mm}")
    _no_unknown(custom_doc, _CUSTOM_KEYS, "custom_sizes", fail)
    defaults = CustomSizes()
    enabled = custom_doc.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        raise fail("custom_sizes.enabled", f"expected true or false, got {enabled!r}")
    max_inner = _dims(custom_doc.get("max_inner_mm", list(defaults.max_inner_mm)), "custom_sizes.max_inner_mm", fail)
    if min(max_inner) <= 2 * padding:
        raise fail("custom_sizes.max_inner_mm", f"{format_dims(max_inner)} leaves no room inside the padding")
    custom = CustomSizes(
        enabled=enabled,
        style=_style(custom_doc.get("style", defaults.style), "custom_sizes", fail),
        board=_board(custom_doc.get("board", defaults.board), "custom_sizes", fail),
        step_mm=_number(custom_doc.get("step_mm", defaults.step_mm), "custom_sizes.step_mm", fail, 0.0, True),
        max_inner_mm=max_inner,
    )
    return BoxCatalog(tuple(boxes), padding, custom, source)


def box_blank_area(style: str, inner_mm: Dims, board: str) -> float:
    """Board area of a box: the flat blank area of its dieline (the one seam to box geometry)."""
    return make_dieline(style, inner_mm, board).blank_area_m2


def _no_unknown(doc: Mapping[str, Any], known: set[str], where: str, fail: Callable[[str, str], InputError]) -> None:
    unknown = sorted(str(k) for k in set(doc) - known)
    if unknown:
        raise fail(where, f"unknown keys {unknown}; expected some of {sorted(known)}")


def _number(
    value: Any,
    where: str,
    fail: Callable[[str, str], InputError],
    minimum: float | None = None,
    exclusive: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(where, f"expected a number, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise fail(where, f"{value!r} must be {'greater than' if exclusive else 'at least'} {minimum:g}")
    return float(value)


def _dims(value: Any, where: str, fail: Callable[[str, str], InputError]) -> Dims:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise fail(where, f"expected three sizes in mm [length, width, height], got {value!r}")
    l, w, h = (_number(v, where, fail, minimum=0.0, exclusive=True) for v in value)  # noqa: E741
    return (l, w, h)


def _style(value: Any, where: str, fail: Callable[[str, str], InputError]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise fail(where, f'style {value!r} must be a quoted FEFCO code such as "0427" (YAML reads 0427 as a number)')
    if value not in STYLES:
        raise fail(where, f"style {value!r} is not supported; use one of {', '.join(repr(s) for s in STYLES)}")
    return str(value)


def _board(value: Any, where: str, fail: Callable[[str, str], InputError]) -> str:
    if not isinstance(value, str):
        raise fail(where, f"board {value!r} must be a board grade code such as E, B or C")
    try:
        return load_materials().board(value).code
    except InputError as exc:
        raise fail(where, str(exc)) from None
