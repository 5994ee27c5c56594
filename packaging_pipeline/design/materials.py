"""The materials library: board grades, inks and emission factors, kept as data in ``data/materials.yaml``.

Figures live in a versioned YAML file rather than in code so an analyst can see (and change) what a
CO2e or mass number rests on; this module only loads and checks it. Every emission factor carries
value, unit, scope, year and source, because factors of different scopes must never be compared.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, Strict, field_validator, model_validator

from packaging_pipeline.core.config_files import (
    ConfigModel,
    Flag,
    Number,
    Text,
    TextList,
    Whole,
    load_config,
    packaged_source,
    problem,
    problems,
)
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
        return _grammage(self.liners_gsm, self.mediums_gsm, self.take_up, self.starch_gsm)


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
    """Load and check a materials file; without ``path`` the shipped library (read once, then cached).

    Raises:
        InputError: unreadable file, invalid YAML, or a missing, unknown or invalid field; the message
            names the file, each field path and what it should be.
    """
    if path is None:
        return _shipped_library()
    path = Path(path)
    return _library(load_config(MaterialsFile, SHIPPED_FILE, path, source=str(path)), str(path))


@functools.lru_cache(maxsize=1)
def _shipped_library() -> MaterialsLibrary:
    return _library(load_config(MaterialsFile, SHIPPED_FILE), packaged_source(SHIPPED_FILE))


def parse_materials(text: str, source: str = "materials file") -> MaterialsLibrary:
    """Parse YAML text into a checked library; errors name the file, the entry and the field."""
    return _library(load_config(MaterialsFile, SHIPPED_FILE, text=text, source=source), source)


def _grammage(liners: Sequence[float], mediums: Sequence[float], take_up: Sequence[float], starch: float) -> float:
    fluting = sum(m * f for m, f in zip(mediums, take_up, strict=True))
    return sum(liners) + fluting + starch


# -- the file, as pydantic models --------------------------------------------------------------------
Positive = Annotated[Number, Field(gt=0)]
Positives = Annotated[list[Positive], Strict(), Field(min_length=1)]


class _BoardEntry(ConfigModel):
    name: Text
    wall: Literal["single", "double", "triple"]
    flutes: TextList
    caliper_mm: Positive
    liners_gsm: Positives
    mediums_gsm: Positives
    take_up: Positives
    starch_gsm: Number = Field(ge=0)
    combined_gsm: Positive
    recycled_fibre_share: Number = Field(ge=0, le=1)
    emission_factor: Text
    assumptions: TextList | None = None

    @model_validator(mode="after")
    def _layers_add_up(self) -> _BoardEntry:
        found: list[tuple[tuple[str, ...], str, Any]] = []
        mediums = len(self.mediums_gsm)
        if len(self.take_up) != mediums or len(self.flutes) != mediums:
            found.append(((), f"expected one take_up factor and one flute per medium in mediums_gsm ({mediums}), "
                              f"got {len(self.take_up)} take_up and {len(self.flutes)} flutes", None))  # fmt: skip
        if len(self.liners_gsm) != mediums + 1:
            found.append((("liners_gsm",), f"expected one liner more than there are mediums ({mediums + 1} liners), "
                                           f"got {len(self.liners_gsm)}", self.liners_gsm))  # fmt: skip
        if not found:
            computed = _grammage(self.liners_gsm, self.mediums_gsm, self.take_up, self.starch_gsm)
            if abs(self.combined_gsm - computed) > GRAMMAGE_TOLERANCE * computed:
                found.append((("combined_gsm",), f"expected {computed:g} (liners + mediums x take-up + starch, within "
                              f"{GRAMMAGE_TOLERANCE:.0%}), got {self.combined_gsm:g}; fix one or the other",
                              self.combined_gsm))  # fmt: skip
        if found:
            raise problems(found)
        return self


class _InkEntry(ConfigModel):
    name: Text
    process: Text
    laydown_gsm: Positive
    crosslinked: Flag
    metallic: Flag
    assumption: Text | None = None


class _FactorEntry(ConfigModel):
    material: Text
    value: Positive
    unit: Text
    scope: Text
    year: Whole
    source: Text
    note: Text | None = None

    @field_validator("unit")
    @classmethod
    def _per_kg(cls, unit: str) -> str:
        if unit != "kg CO2e/kg":
            raise problem(f"expected 'kg CO2e/kg', got {unit!r}")
        return unit

    @field_validator("scope")
    @classmethod
    def _one_boundary(cls, scope: str) -> str:
        if sum(b in scope for b in BOUNDARIES) != 1:
            raise problem(f"must name exactly one of {', '.join(BOUNDARIES)}, got {scope!r}")
        return scope


class MaterialsFile(ConfigModel):
    """``data/materials.yaml``: entries by code, in file order; every board's emission factor is in the file."""

    model_config = ConfigDict(title="materials file")

    version: Whole = Field(ge=1)
    board_grades: Annotated[dict[Any, _BoardEntry], Strict(), Field(min_length=1)]
    inks: Annotated[dict[Any, _InkEntry], Strict(), Field(min_length=1)]
    emission_factors: Annotated[dict[Any, _FactorEntry], Strict(), Field(min_length=1)]

    @model_validator(mode="after")
    def _factors_exist(self) -> MaterialsFile:
        codes = [str(c) for c in self.emission_factors]
        found = [
            (("board_grades", code, "emission_factor"), f"names {board.emission_factor!r}, which is not among "
             f"emission_factors; use one of {', '.join(codes)}", board.emission_factor)
            for code, board in self.board_grades.items() if board.emission_factor not in codes
        ]  # fmt: skip
        if found:
            raise problems(found)
        return self


def _library(doc: MaterialsFile, source: str) -> MaterialsLibrary:
    boards = tuple(
        BoardGrade(
            code=str(code),
            name=b.name,
            wall=b.wall,
            flutes=tuple(b.flutes),
            caliper_mm=b.caliper_mm,
            liners_gsm=tuple(b.liners_gsm),
            mediums_gsm=tuple(b.mediums_gsm),
            take_up=tuple(b.take_up),
            starch_gsm=b.starch_gsm,
            combined_gsm=b.combined_gsm,
            recycled_fibre_share=b.recycled_fibre_share,
            emission_factor=b.emission_factor,
            assumptions=tuple(b.assumptions or ()),
        )  # fmt: skip
        for code, b in doc.board_grades.items()
    )
    inks = tuple(
        Ink(
            code=str(code),
            name=i.name,
            process=i.process,
            laydown_gsm=i.laydown_gsm,
            crosslinked=i.crosslinked,
            metallic=i.metallic,
            assumption=i.assumption or "",
        )  # fmt: skip
        for code, i in doc.inks.items()
    )
    factors = tuple(
        EmissionFactor(
            code=str(code),
            material=f.material,
            value=f.value,
            unit=f.unit,
            scope=f.scope,
            year=f.year,
            source=f.source,
            note=f.note or "",
        )  # fmt: skip
        for code, f in doc.emission_factors.items()
    )
    return MaterialsLibrary(version=doc.version, boards=boards, inks=inks, emission_factors=factors, source=source)
