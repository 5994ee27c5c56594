"""The sustainability gate's policy: limits and recyclability grade rules, read from a versioned YAML file.

Limits live in ``data/gate_policy.yaml`` (or a copy passed with ``--policy``), not in code, so every
decision can record the limit and the policy version it was held to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from packaging_pipeline.core.config_files import (
    ConfigModel,
    Flag,
    Number,
    Text,
    TextList,
    Whole,
    got,
    load_config,
    packaged_source,
    problem,
    problems,
)
from packaging_pipeline.design.materials import MaterialsLibrary, load_materials

log = logging.getLogger(__name__)

POLICY_FILE = "gate_policy.yaml"

GRADE_RULES = ("crosslinked_ink", "metallic_ink", "more_inks", "high_coverage", "not_mono_material")

INK_GRADE_RULES = frozenset(GRADE_RULES[:4])
"""Grade rules an ink change can fix; ``not_mono_material`` is about the box's parts."""

INK_RULES = frozenset({"max_inks", "max_total_ink_coverage"})

BOX_RULES = frozenset({"max_esr"})
"""Rules the artwork cannot change: they mark the pair failed but never reject the design."""


@dataclasses.dataclass(frozen=True)
class GradeRule:
    """One way a box loses recyclability grades: ``step`` grades, once or per unit above ``above``."""

    code: str
    step: int
    reason: str
    above: float | None = None


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """The limits and grading rules of one policy file version."""

    version: int
    name: str
    updated: str
    max_esr: float
    max_inks: int
    max_total_ink_coverage: float
    min_grade: str
    grades: tuple[str, ...]
    rules: Mapping[str, GradeRule]
    default_ink_type: str
    ink_types_by_name: Mapping[str, str]
    fibre_factors: frozenset[str]
    optimise: bool
    fallback_lookback_days: int
    source: str = POLICY_FILE

    def ink_type(self, name: str) -> str:
        """The materials-library ink code an ink of this name is printed with."""
        return self.ink_types_by_name.get(name.casefold(), self.default_ink_type)

    def grade_rank(self, grade: str) -> int:
        return self.grades.index(grade)

    def summary(self) -> dict[str, Any]:
        """What gate.json and MLflow record about the policy."""
        return {
            "name": self.name, "version": self.version, "updated": self.updated, "source": self.source,
            "limits": {"max_esr": self.max_esr, "max_inks": self.max_inks,
                       "max_total_ink_coverage": self.max_total_ink_coverage,
                       "min_recyclability_grade": self.min_grade},
            "default_ink_type": self.default_ink_type,
        }  # fmt: skip


def load_policy(path: str | os.PathLike[str] | None = None, materials: MaterialsLibrary | None = None) -> GatePolicy:
    """Load and check a gate policy; without ``path`` the shipped ``data/gate_policy.yaml``.

    Raises:
        InputError: unreadable file, invalid YAML, or a missing, unknown or invalid key; the message
            names the file, each dotted key and what it should be.
    """
    library = materials or load_materials()
    source = packaged_source(POLICY_FILE) if path is None else str(path)
    doc = load_config(GatePolicyFile, POLICY_FILE, path, source=source, context={"materials": library})
    return _policy(doc, source)


def parse_policy(text: str, source: str = "gate policy", materials: MaterialsLibrary | None = None) -> GatePolicy:
    """Parse policy YAML; ink types are checked against ``materials`` (default: the shipped library)."""
    library = materials or load_materials()
    doc = load_config(GatePolicyFile, POLICY_FILE, text=text, source=source, context={"materials": library})
    return _policy(doc, source)


# -- the file, as pydantic models --------------------------------------------------------------------
def _iso_date(value: Any) -> str:
    """A YAML date, or a quoted ISO date, as ``YYYY-MM-DD`` (a YAML timestamp keeps its time)."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            pass
    if not isinstance(value, dt.date):
        raise problem(f"expected a date YYYY-MM-DD, got {got(value)}")
    return value.isoformat()


def _said(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise problem("expected a sentence saying why the grade drops, got an empty reason")
    return reason


class _Limits(ConfigModel):
    max_esr: Number = Field(ge=0, le=1)
    max_inks: Whole = Field(ge=1)
    max_total_ink_coverage: Number = Field(gt=0)
    min_recyclability_grade: Text


class _Rule(ConfigModel):
    step: Whole = Field(ge=0)
    reason: Annotated[Text, AfterValidator(_said)]


class _RuleAbove(_Rule):
    above: Number = Field(ge=0)


class _Rules(ConfigModel):
    """One entry per code of :data:`GRADE_RULES`; the two counting rules also say ``above`` what."""

    crosslinked_ink: _Rule
    metallic_ink: _Rule
    more_inks: _RuleAbove
    high_coverage: _RuleAbove
    not_mono_material: _Rule


class _Grading(ConfigModel):
    grades: TextList
    rules: _Rules

    @field_validator("grades")
    @classmethod
    def _distinct(cls, grades: list[str]) -> list[str]:
        if len(grades) < 2 or len(set(grades)) != len(grades):
            raise problem(f"expected at least two distinct grades, best first, got {grades}")
        return grades


class _Inks(ConfigModel):
    default_type: Text
    # An empty or null by_name (even `[]`) means no ink is named.
    by_name: Annotated[dict[Any, Text], BeforeValidator(lambda v: v or {}), Strict()] = {}


class _MonoMaterial(ConfigModel):
    fibre_factors: TextList


class _Optimisation(ConfigModel):
    enabled: Flag


class _Fallback(ConfigModel):
    lookback_days: Whole = Field(ge=0, le=3650)  # nights walked back, each a lake lookup: ten years at most


class GatePolicyFile(ConfigModel):
    """``data/gate_policy.yaml``; ink types and fibre factors must be codes of the materials library.

    Validate with ``context={"materials": MaterialsLibrary}``.
    """

    model_config = ConfigDict(title="gate policy")

    version: Whole = Field(ge=1)
    name: Text
    updated: Annotated[str, PlainValidator(_iso_date)]
    limits: _Limits
    grading: _Grading
    inks: _Inks
    mono_material: _MonoMaterial
    optimisation: _Optimisation
    fallback: _Fallback

    @model_validator(mode="after")
    def _names_exist(self, info: ValidationInfo) -> GatePolicyFile:
        library: MaterialsLibrary = (info.context or {})["materials"]
        found: list[tuple[tuple[Any, ...], str, Any]] = []
        grades = self.grading.grades
        if self.limits.min_recyclability_grade not in grades:
            found.append((("limits", "min_recyclability_grade"), f"expected one of {grades} (grading.grades), got "
                          f"{self.limits.min_recyclability_grade!r}", self.limits.min_recyclability_grade))  # fmt: skip
        inks = [i.code for i in library.inks]
        named = [(("inks", "default_type"), self.inks.default_type)]
        named += [(("inks", "by_name", n), t) for n, t in self.inks.by_name.items()]
        use = f"which is not an ink of {library.source}; use one of {', '.join(inks)}"
        found += [(loc, f"names ink type {code!r}, {use}", code) for loc, code in named if code not in inks]
        factors = [f.code for f in library.emission_factors]
        found += [
            (("mono_material", "fibre_factors", i), f"names {code!r}, not an emission factor of {library.source}; "
             f"use one of {', '.join(factors)}", code)
            for i, code in enumerate(self.mono_material.fibre_factors) if code not in factors
        ]  # fmt: skip
        if found:
            raise problems(found)
        return self


def _policy(doc: GatePolicyFile, source: str) -> GatePolicy:
    rules = {code: getattr(doc.grading.rules, code) for code in GRADE_RULES}
    return GatePolicy(
        version=doc.version, name=doc.name, updated=doc.updated, max_esr=doc.limits.max_esr,
        max_inks=doc.limits.max_inks, max_total_ink_coverage=doc.limits.max_total_ink_coverage,
        min_grade=doc.limits.min_recyclability_grade, grades=tuple(doc.grading.grades),
        rules={code: GradeRule(code, r.step, r.reason, getattr(r, "above", None)) for code, r in rules.items()},
        default_ink_type=doc.inks.default_type,
        ink_types_by_name={str(n).casefold(): t for n, t in doc.inks.by_name.items()},
        fibre_factors=frozenset(doc.mono_material.fibre_factors), optimise=doc.optimisation.enabled,
        fallback_lookback_days=doc.fallback.lookback_days, source=source,
    )  # fmt: skip
