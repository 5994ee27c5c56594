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
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.materials import MaterialsLibrary, YamlReader, load_materials

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
            names the file and the dotted key.
    """
    if path is None:
        text = resources.files("packaging_pipeline").joinpath("data", POLICY_FILE).read_text(encoding="utf-8")
        return parse_policy(text, f"packaging_pipeline/data/{POLICY_FILE}", materials)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read gate policy {path}: {exc.strerror or exc}. Check the path.") from None
    return parse_policy(text, str(path), materials)


def parse_policy(text: str, source: str = "gate policy", materials: MaterialsLibrary | None = None) -> GatePolicy:
    """Parse policy YAML; ink types are checked against ``materials`` (default: the shipped library)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML: {exc}") from None
    library = materials or load_materials()
    r = YamlReader(source)
    doc = r.mapping(doc, "the document")
    _only(r, doc, {"version", "name", "updated", "limits", "grading", "inks", "mono_material", "optimisation",
                   "fallback"}, "")  # fmt: skip
    version = r.field(doc, "version", "", int)
    if version < 1:
        raise r.error("version", f"must be a positive whole number, got {version}")
    updated = doc.get("updated")
    if isinstance(updated, str):
        try:
            updated = dt.date.fromisoformat(updated)
        except ValueError:
            pass
    if not isinstance(updated, dt.date):
        raise r.error("updated", f"must be a date YYYY-MM-DD, got {updated!r}")

    limits = r.mapping(doc.get("limits"), "limits")
    _only(r, limits, {"max_esr", "max_inks", "max_total_ink_coverage", "min_recyclability_grade"}, "limits")
    grading = r.mapping(doc.get("grading"), "grading")
    _only(r, grading, {"grades", "rules"}, "grading")
    grades = tuple(r.strings(grading, "grades", "grading"))
    if len(grades) < 2 or len(set(grades)) != len(grades):
        raise r.error("grading.grades", f"must list at least two distinct grades, best first, got {list(grades)}")
    min_grade = r.field(limits, "min_recyclability_grade", "limits", str)
    if min_grade not in grades:
        raise r.error("limits.min_recyclability_grade", f"must be one of {list(grades)}, got {min_grade!r}")
    rules_doc = r.mapping(grading.get("rules"), "grading.rules")
    _only(r, rules_doc, set(GRADE_RULES), "grading.rules")
    rules = {code: _grade_rule(r, code, rules_doc.get(code)) for code in GRADE_RULES}

    inks = r.mapping(doc.get("inks"), "inks")
    _only(r, inks, {"default_type", "by_name"}, "inks")
    default_type = _ink_code(r, library, r.field(inks, "default_type", "inks", str), "inks.default_type")
    by_name = r.mapping(inks.get("by_name") or {}, "inks.by_name")
    ink_types = {str(n).casefold(): _ink_code(r, library, t, f"inks.by_name.{n}") for n, t in by_name.items()}

    mono = r.mapping(doc.get("mono_material"), "mono_material")
    _only(r, mono, {"fibre_factors"}, "mono_material")
    fibre = r.strings(mono, "fibre_factors", "mono_material")
    known = {f.code for f in library.emission_factors}
    for code in fibre:
        if code not in known:
            raise r.error("mono_material.fibre_factors", f"names {code!r}, not an emission factor of {library.source}")
    optimisation = r.mapping(doc.get("optimisation"), "optimisation")
    _only(r, optimisation, {"enabled"}, "optimisation")
    fallback = r.mapping(doc.get("fallback"), "fallback")
    _only(r, fallback, {"lookback_days"}, "fallback")
    lookback = r.field(fallback, "lookback_days", "fallback", int)
    if lookback < 0:
        raise r.error("fallback.lookback_days", f"must be 0 or more, got {lookback}")
    max_inks = r.field(limits, "max_inks", "limits", int)
    if max_inks < 1:
        raise r.error("limits.max_inks", f"must be at least 1 (the message needs an ink), got {max_inks}")
    return GatePolicy(
        version=version, name=r.field(doc, "name", "", str), updated=updated.isoformat(),
        max_esr=r.number(limits, "max_esr", "limits", minimum=0.0, maximum=1.0), max_inks=max_inks,
        max_total_ink_coverage=r.positive(limits, "max_total_ink_coverage", "limits"), min_grade=min_grade,
        grades=grades, rules=rules, default_ink_type=default_type, ink_types_by_name=ink_types,
        fibre_factors=frozenset(fibre), optimise=r.field(optimisation, "enabled", "optimisation", bool),
        fallback_lookback_days=lookback, source=source,
    )  # fmt: skip


def _only(r: YamlReader, entry: Mapping[str, Any], known: set[str], where: str) -> None:
    """Unknown keys are errors: a misspelt limit must not silently fall back to nothing."""
    unknown = sorted(set(entry) - known)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else str(unknown[0])
        raise r.error(key, f"is not a known key; known: {sorted(known)}")


def _grade_rule(r: YamlReader, code: str, entry: Any) -> GradeRule:
    where = f"grading.rules.{code}"
    entry = r.mapping(entry, where)
    needs_above = code in ("more_inks", "high_coverage")
    _only(r, entry, {"step", "reason", "above"} if needs_above else {"step", "reason"}, where)
    step = r.field(entry, "step", where, int)
    if step < 0:
        raise r.error(f"{where}.step", f"must be 0 (off) or more, got {step}")
    reason = r.field(entry, "reason", where, str).strip()
    if not reason:
        raise r.error(f"{where}.reason", "must say why the grade drops")
    above = r.number(entry, "above", where, minimum=0.0) if needs_above else None
    return GradeRule(code, step, reason, above)


def _ink_code(r: YamlReader, library: MaterialsLibrary, code: Any, where: str) -> str:
    codes = [i.code for i in library.inks]
    if not isinstance(code, str) or code not in codes:
        raise r.error(where, f"names ink type {code!r}, which is not an ink of {library.source} ({', '.join(codes)})")
    return code
