"""The materials library: board grades, inks and emission factors, kept as data in ``data/materials.yaml``.

Figures live in a versioned YAML file rather than in code so an analyst can see (and change) what a
CO2e or mass number rests on; this module only loads and checks it. Every emission factor carries
value, unit, scope, year and source, because factors of different scopes must never be compared.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from packaging_pipeline.core.errors import InputError

SHIPPED_FILE = "materials.yaml"
BOUNDARIES = ("cradle-to-grave", "cradle-to-gate")
# A combined grammage may differ this much (relative) from liners + media x take-up + starch.
GRAMMAGE_TOLERANCE = 0.01


@dataclasses.dataclass(frozen=True)
class BoardGrade:
    """One corrugated board grade; ``combined_gsm`` x blank area is the material mass of a box."""

    code: str
    name: str
    wall: str
    flutes: tuple[str, ...]
    caliper_mm: float
    liners_gsm: tuple[float, ...]
    mediums_gsm: tuple[float, ...]
    take_up: tuple[float, ...]
    starch_gsm: float
    combined_gsm: float
    recycled_fibre_share: float
    emission_factor: str
    assumptions: tuple[str, ...] = ()

    @property
    def kg_per_m2(self) -> float:
        return self.combined_gsm / 1000.0

    def computed_gsm(self) -> float:
        """Liners + each medium x its take-up factor + starch: what ``combined_gsm`` must agree with."""
        fluting = sum(m * f for m, f in zip(self.mediums_gsm, self.take_up, strict=True))
        return sum(self.liners_gsm) + fluting + self.starch_gsm


@dataclasses.dataclass(frozen=True)
class Ink:
    """An ink type: laydown (dry g/m2 at 100% coverage) and the flags that lower recyclability."""

    code: str
    name: str
    process: str
    laydown_gsm: float
    crosslinked: bool
    metallic: bool
    assumption: str = ""


@dataclasses.dataclass(frozen=True)
class EmissionFactor:
    """kg CO2e per kg of material, with the scope and source that say what the number means."""

    code: str
    material: str
    value: float
    unit: str
    scope: str
    year: int
    source: str
    note: str = ""

    @property
    def boundary(self) -> str:
        """``cradle-to-grave`` or ``cradle-to-gate``: two factors compare only when these match."""
        return next(b for b in BOUNDARIES if b in self.scope)


@dataclasses.dataclass(frozen=True)
class MaterialsLibrary:
    """Everything in one materials file; look entries up by code."""

    version: int
    boards: tuple[BoardGrade, ...]
    inks: tuple[Ink, ...]
    emission_factors: tuple[EmissionFactor, ...]
    source: str = SHIPPED_FILE

    @property
    def board_codes(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.boards)

    def board(self, code: str) -> BoardGrade:
        """The board grade ``code`` (case-insensitive), or an InputError listing the known codes."""
        return _lookup("board grade", code, {b.code: b for b in self.boards}, self.source)

    def ink(self, code: str) -> Ink:
        return _lookup("ink", code, {i.code: i for i in self.inks}, self.source)

    def emission_factor(self, code: str) -> EmissionFactor:
        return _lookup("emission factor", code, {f.code: f for f in self.emission_factors}, self.source)


def _lookup(kind: str, code: str, entries: Mapping[str, Any], source: str) -> Any:
    wanted = str(code).strip().casefold()
    for key, value in entries.items():
        if key.casefold() == wanted:
            return value
    raise InputError(f"unknown {kind} {code!r} in {source}; known: {', '.join(entries)}")


def load_materials(path: str | os.PathLike[str] | None = None) -> MaterialsLibrary:
    """Load and check a materials file; without ``path`` the shipped library (read once, then cached)."""
    if path is None:
        return _shipped_library()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read materials file {path}: {exc.strerror or exc}. Check the path.") from None
    return parse_materials(text, source=str(path))


@functools.lru_cache(maxsize=1)
def _shipped_library() -> MaterialsLibrary:
    text = resources.files("packaging_pipeline").joinpath("data", SHIPPED_FILE).read_text(encoding="utf-8")
    return parse_materials(text, source=f"packaging_pipeline/data/{SHIPPED_FILE}")


def parse_materials(text: str, source: str = "materials file") -> MaterialsLibrary:
    """Parse YAML text into a checked library; errors name the file, the entry and the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML: {exc}") from None
    r = YamlReader(source)
    doc = r.mapping(doc, "the document")
    version = r.field(doc, "version", "", int)
    if version < 1:
        raise r.error("version", f"must be a positive whole number, got {version}")
    factors = tuple(_factor(r, code, entry) for code, entry in r.section(doc, "emission_factors").items())
    boards = tuple(_board(r, code, entry) for code, entry in r.section(doc, "board_grades").items())
    inks = tuple(_ink(r, code, entry) for code, entry in r.section(doc, "inks").items())
    factor_codes = {f.code for f in factors}
    for board in boards:
        if board.emission_factor not in factor_codes:
            raise r.error(
                f"board_grades.{board.code}.emission_factor",
                f"names {board.emission_factor!r}, which is not among emission_factors ({', '.join(factor_codes)})",
            )
    return MaterialsLibrary(version=version, boards=boards, inks=inks, emission_factors=factors, source=source)


def _board(r: YamlReader, code: str, entry: Any) -> BoardGrade:
    where = f"board_grades.{code}"
    entry = r.mapping(entry, where)
    board = BoardGrade(
        code=str(code),
        name=r.field(entry, "name", where, str),
        wall=r.field(entry, "wall", where, str),
        flutes=tuple(r.strings(entry, "flutes", where)),
        caliper_mm=r.positive(entry, "caliper_mm", where),
        liners_gsm=tuple(r.positives(entry, "liners_gsm", where)),
        mediums_gsm=tuple(r.positives(entry, "mediums_gsm", where)),
        take_up=tuple(r.positives(entry, "take_up", where)),
        starch_gsm=r.number(entry, "starch_gsm", where, minimum=0.0),
        combined_gsm=r.positive(entry, "combined_gsm", where),
        recycled_fibre_share=r.number(entry, "recycled_fibre_share", where, minimum=0.0, maximum=1.0),
        emission_factor=r.field(entry, "emission_factor", where, str),
        assumptions=tuple(r.strings(entry, "assumptions", where, required=False)),
    )
    if board.wall not in ("single", "double", "triple"):
        raise r.error(f"{where}.wall", f"must be single, double or triple, got {board.wall!r}")
    if len(board.mediums_gsm) != len(board.take_up) or len(board.mediums_gsm) != len(board.flutes):
        raise r.error(f"{where}", "needs one take_up factor and one flute per medium in mediums_gsm")
    if len(board.liners_gsm) != len(board.mediums_gsm) + 1:
        raise r.error(f"{where}.liners_gsm", "needs one liner more than there are mediums")
    computed = board.computed_gsm()
    if abs(board.combined_gsm - computed) > GRAMMAGE_TOLERANCE * computed:
        raise r.error(
            f"{where}.combined_gsm",
            f"is {board.combined_gsm:g} but liners + mediums x take-up + starch give {computed:g}; fix either",
        )
    return board


def _ink(r: YamlReader, code: str, entry: Any) -> Ink:
    where = f"inks.{code}"
    entry = r.mapping(entry, where)
    return Ink(
        code=str(code),
        name=r.field(entry, "name", where, str),
        process=r.field(entry, "process", where, str),
        laydown_gsm=r.positive(entry, "laydown_gsm", where),
        crosslinked=r.field(entry, "crosslinked", where, bool),
        metallic=r.field(entry, "metallic", where, bool),
        assumption=r.field(entry, "assumption", where, str, required=False) or "",
    )


def _factor(r: YamlReader, code: str, entry: Any) -> EmissionFactor:
    where = f"emission_factors.{code}"
    entry = r.mapping(entry, where)
    factor = EmissionFactor(
        code=str(code),
        material=r.field(entry, "material", where, str),
        value=r.positive(entry, "value", where),
        unit=r.field(entry, "unit", where, str),
        scope=r.field(entry, "scope", where, str),
        year=r.field(entry, "year", where, int),
        source=r.field(entry, "source", where, str),
        note=r.field(entry, "note", where, str, required=False) or "",
    )
    if sum(b in factor.scope for b in BOUNDARIES) != 1:
        raise r.error(f"{where}.scope", f"must name exactly one of {', '.join(BOUNDARIES)}, got {factor.scope!r}")
    if factor.unit != "kg CO2e/kg":
        raise r.error(f"{where}.unit", f"must be 'kg CO2e/kg', got {factor.unit!r}")
    return factor


class YamlReader:
    """Typed field access whose errors name the file and the dotted field path."""

    def __init__(self, source: str):
        self.source = source

    def error(self, where: str, problem: str) -> InputError:
        return InputError(f"{self.source}: {where} {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def section(self, doc: dict[str, Any], name: str) -> dict[str, Any]:
        section = self.mapping(doc.get(name), name)
        if not section:
            raise self.error(name, "must list at least one entry")
        return section

    def field(self, entry: dict[str, Any], name: str, where: str, kind: type, required: bool = True) -> Any:
        path = f"{where}.{name}" if where else name
        if name not in entry or entry[name] is None:
            if required:
                raise self.error(path, "is missing")
            return None
        value = entry[name]
        # bool is an int subclass: a YAML `true` must not pass as a number, nor 1 as a flag.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(path, f"must be {kind.__name__}, got {value!r}")
        return value

    def number(
        self, entry: dict[str, Any], name: str, where: str, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        path = f"{where}.{name}"
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(path, f"must be a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(path, f"must be at least {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(path, f"must be at most {maximum:g}, got {value!r}")
        return float(value)

    def positive(self, entry: dict[str, Any], name: str, where: str) -> float:
        value = self.number(entry, name, where)
        if value <= 0:
            raise self.error(f"{where}.{name}", f"must be greater than zero, got {value:g}")
        return value

    def positives(self, entry: dict[str, Any], name: str, where: str) -> list[float]:
        values = entry.get(name)
        if not isinstance(values, list) or not values:
            raise self.error(f"{where}.{name}", f"must be a non-empty list of numbers, got {values!r}")
        return [self.positive({name: v}, name, where) for v in values]

    def strings(self, entry: dict[str, Any], name: str, where: str, required: bool = True) -> list[str]:
        values = entry.get(name)
        if values is None and not required:
            return []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error(f"{where}.{name}", f"must be a list of strings, got {values!r}")
        return values
