"""The box catalog: the sizes a warehouse stocks, its box-on-demand machines, and how parcels are measured.

Read from ``data/box_catalog.yaml`` or a user's file. Each box's board area is the flat blank area
of its dieline (:mod:`packaging_pipeline.design.dielines`), so boxes can be tried from the least
board up. A warehouse with a box-on-demand machine (Packsize, CMC CartonWrap, Sparck CVP) also cuts a
box to each order's packing, within the machine's sizes and step; ``what_if`` is the machine a planner
assumes everywhere with ``right-size --on-demand``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    Strict,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from packaging_pipeline.core.config_files import (
    ConfigModel,
    Flag,
    Number,
    Text,
    got,
    kind_of,
    load_config,
    packaged_source,
    problem,
    problems,
    read_text,
    validate_config,
)
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.materials import load_materials

CATALOG_FILE = "box_catalog.yaml"
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
class OnDemandMachine:
    """A box-on-demand machine: it cuts a box of one of its styles to the packing, rounded up to its step."""

    styles: tuple[str, ...] = ("0427", "0201")
    board: str = "B"
    step_mm: float = 5.0
    min_inner_mm: Dims = (150.0, 100.0, 20.0)
    max_inner_mm: Dims = (1200.0, 800.0, 700.0)

    def cut_mm(self, floor_mm: Sequence[float]) -> Dims | None:
        """The inner size it cuts for goods needing ``floor_mm`` (padding included), or None when too large.

        Each side is rounded up to the cutting step and is at least the machine's minimum (which keeps
        room for the shipping label on the smallest boxes).
        """
        out = []
        for need, low, high in zip(floor_mm, self.min_inner_mm, self.max_inner_mm, strict=True):
            size = max(math.ceil(need / self.step_mm - 1e-9) * self.step_mm, low)
            if size > high + 1e-9:
                return None
            out.append(float(size))
        return (out[0], out[1], out[2])


@dataclasses.dataclass(frozen=True)
class ParcelSplit:
    """When an order one box takes still ships as several parcels: only when that saves material.

    The units of an order whose one box would be over 50% empty are split by shape (a folded shirt apart
    from a jar) when the parcels together take at least ``min_board_saving`` (a fraction) less board, and
    no more volumetric weight, than the one box.
    Every extra parcel is an extra label and carrier charge, so ``max_parcels`` caps it.
    """

    enabled: bool = False
    max_parcels: int = 2
    min_board_saving: float = 0.15


VOLUMETRIC_DIVISOR = 5000.0
"""Carriers bill the larger of the real and the volumetric weight: L x W x H in cm / 5000 = kg."""


@dataclasses.dataclass(frozen=True)
class BoxCatalog:
    """The boxes a warehouse stocks, kept ordered by board area so the first box that fits is the leanest."""

    boxes: tuple[Box, ...]
    padding_mm: float = 5.0
    custom: CustomSizes = CustomSizes()
    source: str = "<inline>"
    machines: Mapping[str, OnDemandMachine] = dataclasses.field(default_factory=dict)
    what_if: OnDemandMachine = OnDemandMachine()
    volumetric_divisor: float = VOLUMETRIC_DIVISOR
    parcel_split: ParcelSplit = ParcelSplit()

    def __post_init__(self) -> None:
        if not self.boxes:
            raise InputError(f"box catalog {self.source}: it lists no boxes; add at least one under 'boxes'")
        ordered = sorted(self.boxes, key=lambda b: (b.blank_area_m2, b.inner_volume_mm3, b.code))
        object.__setattr__(self, "boxes", tuple(ordered))

    @property
    def largest(self) -> Box:
        return max(self.boxes, key=lambda b: (b.inner_volume_mm3, b.code))

    def machine_for(self, warehouse_id: str | None, every_warehouse: bool = False) -> OnDemandMachine | None:
        """The warehouse's box-on-demand machine; with ``every_warehouse``, the what-if one where it has none."""
        machine = self.machines.get(str(warehouse_id))
        return machine if machine is not None or not every_warehouse else self.what_if

    def stock_only(self, split: bool = True) -> BoxCatalog:
        """The same catalog without its box-on-demand machines (and, with ``split=False``, without splitting
        orders to save board): what the warehouses' stock sizes alone would do."""
        parcel_split = self.parcel_split if split else ParcelSplit(enabled=False)
        return dataclasses.replace(self, machines={}, parcel_split=parcel_split)

    def usable_mm(self, box: Box) -> Dims:
        """Inner dimensions minus the padding on both sides: the space the goods may occupy."""
        return tuple(d - 2 * self.padding_mm for d in box.inner_mm)  # type: ignore[return-value]


def format_dims(dims: Sequence[float]) -> str:
    """``LxWxH`` in mm, as in box names and messages."""
    return "x".join(f"{d:g}" for d in dims)


def default_box_catalog_text() -> str:
    """The packaged standard range (``packaging_pipeline/data/box_catalog.yaml``)."""
    return read_text(kind_of(BoxCatalogFile), CATALOG_FILE, None)


def load_box_catalog(path: str | os.PathLike[str] | None = None) -> BoxCatalog:
    """Load and validate a box catalog: the packaged one, or a user's YAML file at ``path``.

    Board grades are those of the materials library (``packaging_pipeline/data/materials.yaml``).

    Raises:
        InputError: the file is missing, not YAML, or an entry is invalid; the message names the
            file, each entry and field, and what it should be.
    """
    source = packaged_source(CATALOG_FILE) if path is None else str(Path(path))
    return _catalog(load_config(BoxCatalogFile, CATALOG_FILE, path, source=source), source)


def parse_box_catalog(doc: Any, source: str = "<inline>") -> BoxCatalog:
    """Validate a parsed catalog document and compute each box's blank area from its dieline."""
    return _catalog(validate_config(BoxCatalogFile, doc, source), source)


@functools.lru_cache(maxsize=65536)
def box_blank_area(style: str, inner_mm: Dims, board: str) -> float:
    """Board area of a box: the flat blank area of its dieline (the one seam to box geometry); cached,
    since right-sizing asks for the same few thousand sizes again and again."""
    return make_dieline(style, tuple(float(d) for d in inner_mm), board).blank_area_m2


# -- the file, as pydantic models --------------------------------------------------------------------
def _style(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise problem(f'expected a quoted FEFCO code such as "0427", got the number {value!r}: '
                      "YAML reads an unquoted code with a leading 0 as a number (0427 as 279)")  # fmt: skip
    if value not in STYLES:
        raise problem(f"expected one of {', '.join(repr(s) for s in STYLES)} (FEFCO styles with a dieline), "
                      f"got {got(value)}")  # fmt: skip
    return str(value)


def _board_code(value: str) -> str:
    """The materials library's code of board grade ``value`` (case-insensitive)."""
    try:
        return load_materials().board(value).code
    except InputError as exc:
        raise problem(str(exc)) from None


def _three(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise problem(f"expected three sizes in mm [length, width, height], got {got(value)}")
    return value


Style = Annotated[str, PlainValidator(_style)]
BoardCode = Annotated[Text, AfterValidator(_board_code)]
Size = Annotated[Number, Field(gt=0)]
Sizes = Annotated[tuple[Size, Size, Size], BeforeValidator(_three)]


def _named(code: str) -> str:
    if not code.strip():
        raise problem('expected a non-empty box code such as "0427-M3"')
    return code


class _BoxEntry(ConfigModel):
    code: Annotated[Text, AfterValidator(_named)]
    style: Style
    inner_mm: Sizes
    board: BoardCode
    _blank_area_m2: float = PrivateAttr(0.0)

    @model_validator(mode="after")
    def _has_a_dieline(self) -> _BoxEntry:
        try:
            self._blank_area_m2 = box_blank_area(self.style, self.inner_mm, self.board)
        except InputError as exc:
            raise problem(str(exc)) from None
        return self


_DEFAULT_CUSTOM = CustomSizes()


class _CustomSizesEntry(ConfigModel):
    enabled: Flag = _DEFAULT_CUSTOM.enabled
    style: Style = _DEFAULT_CUSTOM.style
    board: BoardCode = _DEFAULT_CUSTOM.board
    step_mm: Number = Field(_DEFAULT_CUSTOM.step_mm, gt=0)
    max_inner_mm: Sizes = _DEFAULT_CUSTOM.max_inner_mm


_DEFAULT_MACHINE = OnDemandMachine()


class _MachineEntry(ConfigModel):
    styles: Annotated[list[Style], Strict(), Field(min_length=1)] = list(_DEFAULT_MACHINE.styles)
    board: BoardCode = _DEFAULT_MACHINE.board
    step_mm: Number = Field(_DEFAULT_MACHINE.step_mm, gt=0)
    min_inner_mm: Sizes = _DEFAULT_MACHINE.min_inner_mm
    max_inner_mm: Sizes = _DEFAULT_MACHINE.max_inner_mm

    @model_validator(mode="after")
    def _min_below_max(self) -> _MachineEntry:
        if any(lo > hi for lo, hi in zip(self.min_inner_mm, self.max_inner_mm, strict=True)):
            raise problems([(("min_inner_mm",), f"expected every minimum at or below max_inner_mm "
                             f"{format_dims(self.max_inner_mm)}, got {format_dims(self.min_inner_mm)}",
                             list(self.min_inner_mm))])  # fmt: skip
        return self

    def machine(self) -> OnDemandMachine:
        return OnDemandMachine(tuple(self.styles), self.board, self.step_mm, self.min_inner_mm, self.max_inner_mm)


_DEFAULT_SPLIT = ParcelSplit()


class _ParcelSplitEntry(ConfigModel):
    enabled: Flag = _DEFAULT_SPLIT.enabled
    max_parcels: Annotated[int, Strict(), Field(ge=2)] = _DEFAULT_SPLIT.max_parcels
    min_board_saving: Number = Field(_DEFAULT_SPLIT.min_board_saving, ge=0, lt=1)


class _OnDemandEntry(ConfigModel):
    machines: Annotated[dict[Text, _MachineEntry], BeforeValidator(lambda v: v or {})] = {}
    what_if: _MachineEntry = _MachineEntry()


class BoxCatalogFile(ConfigModel):
    """``data/box_catalog.yaml``: unique box codes, every box and the custom maximum roomier than the padding."""

    model_config = ConfigDict(title="box catalog")

    version: Any = None
    padding_mm: Number = Field(5.0, ge=0)
    # An empty or null custom_sizes means the defaults (custom sizes off).
    custom_sizes: Annotated[_CustomSizesEntry, BeforeValidator(lambda v: v or {})] = _CustomSizesEntry()
    boxes: Annotated[list[_BoxEntry], Strict(), Field(min_length=1)]
    on_demand: Annotated[_OnDemandEntry, BeforeValidator(lambda v: v or {})] = _OnDemandEntry()
    volumetric_divisor: Number = Field(VOLUMETRIC_DIVISOR, gt=0)
    parcel_split: Annotated[_ParcelSplitEntry, BeforeValidator(lambda v: v or {})] = _ParcelSplitEntry()

    @field_validator("boxes", mode="wrap")
    @classmethod
    def _listed(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[_BoxEntry]:
        if not isinstance(value, list) or not value:
            raise problem(f"expected a non-empty list of {{code, style, inner_mm, board}}, got {got(value)}")
        return handler(value)

    @model_validator(mode="after")
    def _roomy_and_unique(self) -> BoxCatalogFile:
        found: list[tuple[tuple[Any, ...], str, Any]] = []
        seen: set[str] = set()
        room = f"expected every size above {2 * self.padding_mm:g} mm (twice the {self.padding_mm:g} mm padding_mm)"
        for i, box in enumerate(self.boxes):
            if box.code in seen:
                found.append((("boxes", i, "code"), f"code {box.code!r} appears twice; box codes must be unique",
                              box.code))  # fmt: skip
            seen.add(box.code)
            if min(box.inner_mm) <= 2 * self.padding_mm:
                found.append((("boxes", i, "inner_mm"), f"{room}, got {format_dims(box.inner_mm)}: no room is left "
                              "inside the padding", list(box.inner_mm)))  # fmt: skip
        limit = self.custom_sizes.max_inner_mm
        if min(limit) <= 2 * self.padding_mm:
            found.append((("custom_sizes", "max_inner_mm"), f"{room}, got {format_dims(limit)}: no room is left "
                          "inside the padding", list(limit)))  # fmt: skip
        if found:
            raise problems(found)
        return self


def _catalog(doc: BoxCatalogFile, source: str) -> BoxCatalog:
    boxes = tuple(Box(b.code, b.style, b.inner_mm, b.board, b._blank_area_m2) for b in doc.boxes)
    c = doc.custom_sizes
    custom = CustomSizes(c.enabled, c.style, c.board, c.step_mm, c.max_inner_mm)
    machines = {warehouse: m.machine() for warehouse, m in doc.on_demand.machines.items()}
    split = ParcelSplit(doc.parcel_split.enabled, doc.parcel_split.max_parcels, doc.parcel_split.min_board_saving)
    return BoxCatalog(boxes, doc.padding_mm, custom, source, machines, doc.on_demand.what_if.machine(),
                      doc.volumetric_divisor, split)  # fmt: skip
