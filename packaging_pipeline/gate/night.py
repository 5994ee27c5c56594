"""Sustainability: score every (design, box) pair of a night and gate what gets published.

Why a gate: a design reaches warehouses only if the box it prints meets limits that live in a
versioned policy file (``data/gate_policy.yaml``), not in code, and every decision records the
measured value, the limit and the policy version, so an analyst can see why a design passed or not.

Per (design, box) pair, from the staged ``spec.json``, ``order_designs.parquet`` and the materials
library: board grade, blank area, board mass (blank area x combined grammage), CO2e with its
factor's id, value, unit, scope and source (board only: the library has no sourced ink factor),
inks (the pattern's, plus the message's ink when it is not one of them) with coverage, type and
mass, the empty space ratio (ESR) of the orders shipping in it, the mono-material check and a
recyclability grade A-E with the reasons that lowered it.

What the gate does with a failing design:

* ESR follows from the box, not the artwork. A pair over the ESR limit fails and says so, but the
  design is not rejected for it: any other design would ship in the same right-sized box.
* A design failing an ink rule (ink count, coverage, or a grade lowered by its inks) gets one
  automatic pass: one ink is merged into the paper and the artwork is recomposed. It is published
  if it then passes every design rule.
* A design still failing moves to ``designs/rejected/ds=<ds>/<design_id>/`` with ``reasons.json``;
  its orders move to a passing design of the same segment. A segment without one reuses its last
  published design, else gets a plain unprinted box with the logo and message, so a warehouse is
  never left without a design.

Outputs under ``designs/staging/ds=<ds>/``: ``sustainability.parquet`` (one row per design x box),
``order_designs_gated.parquet`` (every order's final design and print file) and ``gate.json``
(written last). A rerun puts rejected designs back and drops the fallbacks it made before, so it
decides afresh; an optimised design keeps its optimised artwork (rerun ``designs`` to start over).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from packaging_pipeline.contract import PLAIN_SUFFIX, last_published_design
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError, PipelineError
from packaging_pipeline.core.formats import dumps, read_json, read_parquet, write_json, write_parquet
from packaging_pipeline.core.keys import design_prefix, rejected_prefix, staging_prefix
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.design.artwork import PRINT_TILE_PX, relative_luminance
from packaging_pipeline.design.batch import PlannedDesign, compose_design_files, order_choice
from packaging_pipeline.design.compose import DEFAULT_TILE_MM, PAPER_HEX, hex_rgb, logo_alpha
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.materials import BoardGrade, MaterialsLibrary, YamlReader, load_materials

log = logging.getLogger(__name__)

POLICY_FILE = "gate_policy.yaml"
SUSTAINABILITY_EXPERIMENT = "sustainability"
GRADE_RULES = ("crosslinked_ink", "metallic_ink", "more_inks", "high_coverage", "not_mono_material")
INK_GRADE_RULES = frozenset(GRADE_RULES[:4])
"""Grade rules an ink change can fix; ``not_mono_material`` is about the box's parts."""
INK_RULES = frozenset({"max_inks", "max_total_ink_coverage"})
BOX_RULES = frozenset({"max_esr"})
"""Rules the artwork cannot change: they mark the pair failed but never reject the design."""
TEXT_RENDER_PX_PER_MM = 10.0
"""Design ids of plain fallback boxes end in this."""


# --------------------------------------------------------------------------------------------------
# The policy


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


# --------------------------------------------------------------------------------------------------
# Evaluation of one (design, box) pair: pure, no I/O


@dataclasses.dataclass(frozen=True)
class InkUse:
    """One ink as printed on one box: area, coverage of the blank and dry mass."""

    name: str
    hex: str
    role: str  # pattern, text, or pattern+text
    ink_type: str
    crosslinked: bool
    metallic: bool
    pattern_coverage: float  # share of the pattern tile (spec.json)
    area_m2: float
    coverage: float  # area / blank area
    laydown_gsm: float
    mass_g: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "hex": self.hex, "role": self.role, "type": self.ink_type,
            "crosslinked": self.crosslinked, "metallic": self.metallic,
            "pattern_coverage": round(self.pattern_coverage, 4), "coverage": round(self.coverage, 4),
            "area_m2": round(self.area_m2, 6), "laydown_gsm": self.laydown_gsm, "mass_g": round(self.mass_g, 4),
        }  # fmt: skip


@functools.lru_cache(maxsize=512)
def message_ink_mm2(message: str, font_pt: float, logo_w_mm: float, logo_h_mm: float) -> float:
    """Ink area of the logo and the message line in mm2, as drawn: stencil logo plus bold text.

    The logo is the share of its mask that prints, stretched over its box; the text is rendered in
    the print font at 10 px/mm and its coverage summed, so a long message weighs more than a short one.
    """
    from PIL import Image, ImageDraw, ImageFont

    from packaging_pipeline.design.pdf import DEFAULT_FONT

    area = logo_w_mm * logo_h_mm * float((logo_alpha() >= 128).mean())
    if not message:
        return area
    size_px = max(1, round(font_pt * 25.4 / 72.0 * TEXT_RENDER_PX_PER_MM))
    with resources.as_file(resources.files("packaging_pipeline").joinpath("data", "fonts", DEFAULT_FONT)) as path:
        font = ImageFont.truetype(str(path), size_px)
    left, top, right, bottom = font.getbbox(message)
    canvas = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(canvas).text((-left, -top), message, font=font, fill=255)
    return area + float(np.asarray(canvas, dtype=np.float64).sum()) / 255.0 / TEXT_RENDER_PX_PER_MM**2


def ink_uses(
    spec: Mapping[str, Any], print_file: Mapping[str, Any], blank_area_m2: float, policy: GatePolicy,
    library: MaterialsLibrary,
) -> list[InkUse]:  # fmt: skip
    """The inks one box prints: pattern inks with any coverage, plus the message's ink.

    The pattern covers the blank minus the knock-out behind the message (inks removed there); the
    message's ink covers the logo and text. Slots sharing an ink name are one ink (one plate).
    """
    layout = print_file.get("layout") or {}
    knockout = layout.get("knockout")
    knockout_m2 = knockout[2] * knockout[3] / 1e6 if knockout else 0.0
    pattern_m2 = max(blank_area_m2 - knockout_m2, 0.0)
    found: dict[str, dict[str, Any]] = {}
    for ink in spec.get("inks", []):
        coverage = float(ink["coverage"])
        if coverage <= 0:
            continue  # a slot the tile never uses prints nothing
        entry = found.setdefault(str(ink["name"]).casefold(), {"name": ink["name"], "hex": ink["hex"],
                                                               "role": "pattern", "cov": 0.0, "area": 0.0})  # fmt: skip
        entry["cov"] += coverage
        entry["area"] += coverage * pattern_m2
    text_name = layout.get("text_colour_name")
    if text_name:
        logo = layout.get("logo_box") or (0.0, 0.0, 0.0, 0.0)
        text_m2 = message_ink_mm2(str(spec.get("message", "")), float(layout.get("font_pt", 0.0)),
                                  float(logo[2]), float(logo[3])) / 1e6  # fmt: skip
        entry = found.get(str(text_name).casefold())
        if entry is None:
            found[str(text_name).casefold()] = {"name": text_name, "hex": layout.get("text_colour", ""),
                                                "role": "text", "cov": 0.0, "area": text_m2}  # fmt: skip
        else:
            entry["role"], entry["area"] = "pattern+text", entry["area"] + text_m2
    uses = []
    for entry in found.values():
        code = policy.ink_type(str(entry["name"]))
        ink = library.ink(code)
        uses.append(InkUse(
            name=str(entry["name"]), hex=str(entry["hex"]), role=entry["role"], ink_type=code,
            crosslinked=ink.crosslinked, metallic=ink.metallic, pattern_coverage=entry["cov"], area_m2=entry["area"],
            coverage=entry["area"] / blank_area_m2 if blank_area_m2 else 0.0, laydown_gsm=ink.laydown_gsm,
            mass_g=entry["area"] * ink.laydown_gsm,
        ))  # fmt: skip
    return uses


def recyclability_grade(
    inks: Sequence[InkUse], total_coverage: float, mono_material: bool, policy: GatePolicy
) -> tuple[str, list[str], list[str]]:
    """(grade, reasons, rule codes) for one box: the best grade lowered by every rule that applies."""
    rules, steps, reasons, applied = policy.rules, 0, [], []

    def lower(code: str, times: int, detail: str) -> None:
        nonlocal steps
        rule = rules[code]
        if rule.step and times > 0:
            steps += rule.step * times
            reasons.append(f"-{rule.step * times} {rule.reason} ({detail})")
            applied.append(code)

    crosslinked = [i.name for i in inks if i.crosslinked]
    metallic = [i.name for i in inks if i.metallic]
    lower("crosslinked_ink", 1 if crosslinked else 0, "inks: " + ", ".join(crosslinked))
    lower("metallic_ink", 1 if metallic else 0, "inks: " + ", ".join(metallic))
    above = rules["more_inks"].above or 0.0
    lower("more_inks", max(0, math.ceil(len(inks) - above)), f"{len(inks)} inks, more than {above:g}")
    cap = rules["high_coverage"].above or 0.0
    lower("high_coverage", 1 if total_coverage > cap else 0, f"coverage {total_coverage:.0%} above {cap:.0%}")
    lower("not_mono_material", 0 if mono_material else 1, "parts that are not fibre")
    grade = policy.grades[min(steps, len(policy.grades) - 1)]
    return grade, reasons, applied


def failed_rule(rule: str, measured: Any, limit: Any) -> dict[str, Any]:
    """The record every failed rule leaves: what was measured against which limit."""
    return {"rule": rule, "measured": measured, "limit": limit}


def evaluate_pair(
    spec: Mapping[str, Any], print_file: Mapping[str, Any], esr: Sequence[float], policy: GatePolicy,
    library: MaterialsLibrary,
) -> dict[str, Any]:  # fmt: skip
    """Every measure, the grade and the verdict of one design on one box size.

    Args:
        spec: the design's ``spec.json``.
        print_file: its entry in ``spec["print_files"]`` for this box.
        esr: the empty space ratios of the orders assigned to this (design, box).
        policy, library: the gate policy and the materials library.

    Returns:
        One ``sustainability.parquet`` row; ``failed_rules`` and ``inks`` still as Python lists.
    """
    board: BoardGrade = library.board(print_file["board"])
    factor = library.emission_factor(board.emission_factor)
    inner = [float(v) for v in print_file["inner_mm"]]
    area = print_file.get("blank_area_m2")
    if area is None:
        area = make_dieline(print_file["style"], inner, board.code, library).blank_area_m2
    area = float(area)
    mass = area * board.kg_per_m2
    inks = ink_uses(spec, print_file, area, policy, library)
    total_coverage = sum(i.area_m2 for i in inks) / area
    # Parts besides the board (a window film, a laminate) are listed in the spec as {name, material,
    # emission_factor}; the design stage prints plain paper boxes, so today the board is the only part.
    materials = [{"part": f"board {board.code}", "material": factor.material, "emission_factor": factor.code}]
    for part in spec.get("components") or []:
        materials.append({"part": str(part.get("name", "component")), "material": str(part.get("material", "")),
                          "emission_factor": str(part.get("emission_factor", ""))})  # fmt: skip
    mono = all(m["emission_factor"] in policy.fibre_factors for m in materials)
    grade, grade_reasons, lowered_by = recyclability_grade(inks, total_coverage, mono, policy)
    values = [float(v) for v in esr if v is not None and not math.isnan(float(v))]
    esr_max = max(values) if values else None
    over = sum(v > policy.max_esr for v in values)

    failed, reasons = [], []
    if len(inks) > policy.max_inks:
        failed.append(failed_rule("max_inks", len(inks), policy.max_inks))
        reasons.append(f"{len(inks)} inks ({', '.join(i.name for i in inks)}) exceed the limit of {policy.max_inks}")
    if total_coverage > policy.max_total_ink_coverage:
        failed.append(failed_rule("max_total_ink_coverage", round(total_coverage, 4), policy.max_total_ink_coverage))
        reasons.append(f"total ink coverage {total_coverage:.1%} exceeds the limit of "
                       f"{policy.max_total_ink_coverage:.0%}")  # fmt: skip
    if policy.grade_rank(grade) > policy.grade_rank(policy.min_grade):
        failed.append(failed_rule("min_recyclability_grade", grade, policy.min_grade))
        reasons.append(f"recyclability grade {grade} is below the minimum {policy.min_grade}")
    if esr_max is not None and esr_max > policy.max_esr:
        failed.append(failed_rule("max_esr", round(esr_max, 4), policy.max_esr))
        reasons.append(_esr_reason(print_file["box_code"], over, len(values), esr_max, policy.max_esr))
    return {
        "design_id": spec["design_id"], "segment_id": int(spec["segment_id"]), "box_code": print_file["box_code"],
        "style": print_file["style"], "inner_length_mm": inner[0], "inner_width_mm": inner[1],
        "inner_height_mm": inner[2], "board_grade": board.code, "board_combined_gsm": board.combined_gsm,
        "blank_area_m2": round(area, 6), "board_mass_kg": round(mass, 6), "co2e_kg": round(mass * factor.value, 6),
        "co2e_factor_id": factor.code, "co2e_factor_value": factor.value, "co2e_factor_unit": factor.unit,
        "co2e_factor_scope": factor.scope, "co2e_factor_source": factor.source, "co2e_factor_year": factor.year,
        "n_inks": len(inks), "inks": [i.as_dict() for i in inks],
        "ink_coverage_total": round(total_coverage, 4), "ink_mass_g": round(sum(i.mass_g for i in inks), 4),
        "orders": len(values), "esr_mean": round(sum(values) / len(values), 4) if values else None,
        "esr_max": round(esr_max, 4) if esr_max is not None else None, "orders_over_esr_limit": over,
        "mono_material": mono, "materials": materials, "recyclability_grade": grade,
        "grade_reasons": grade_reasons, "grade_lowered_by": lowered_by, "passed": not failed,
        "design_rules_passed": not any(f["rule"] not in BOX_RULES for f in failed),
        "failed_rules": failed, "reasons": reasons,
    }  # fmt: skip


def _esr_reason(box_code: str, over: int, orders: int, worst: float, limit: float) -> str:
    what = (
        "a custom size cut to the packing still leaves it"
        if "CUSTOM" in box_code
        else "no better box existed in the catalog: right-sizing already chose the box with the least board "
        "that takes these goods"
    )
    return (
        f"{over} of {orders} orders in box {box_code} exceed the {limit:.0%} empty space limit (EU PPWR Art. 24; "
        f"worst {worst:.0%}); {what}. A box finding, not a design fault: widen the box range"
    )


def evaluate_design(
    spec: Mapping[str, Any], orders: pd.DataFrame, policy: GatePolicy, library: MaterialsLibrary
) -> list[dict[str, Any]]:
    """One row per box size of the design; ESR from the orders assigned to that design and box."""
    mine = orders[orders["design_id"] == spec["design_id"]] if len(orders) else orders
    rows = []
    for print_file in spec["print_files"]:
        esr = mine.loc[mine["box_code"] == print_file["box_code"], "esr"].tolist() if len(mine) else []
        rows.append(evaluate_pair(spec, print_file, esr, policy, library))
    return rows


def design_failures(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The failed rules that are the artwork's doing (all but ESR), each with its box."""
    return [{"box_code": r["box_code"], **f} for r in rows for f in r["failed_rules"] if f["rule"] not in BOX_RULES]


# --------------------------------------------------------------------------------------------------
# The one-pass optimisation


def plan_optimisation(spec: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], policy: GatePolicy) -> dict[str, Any]:
    """Which ink to merge into the paper to fix an ink failure, or why no change can.

    Order: an ink whose type lowered the grade (crosslinked, then metallic) when others remain; if
    coverage is too high, the ink with the least coverage (the pattern thins, its look stays); if
    there are too many inks, the lightest. The last pattern ink is never merged: that is the plain
    fallback, not an optimisation.
    """
    failures = design_failures(rows)
    failed = {f["rule"] for f in failures}
    lowered = {c for r in rows for c in r["grade_lowered_by"]} if "min_recyclability_grade" in failed else set()
    if not (failed & INK_RULES or lowered & INK_GRADE_RULES):
        return {"skipped": f"no ink rule failed ({', '.join(sorted(failed | lowered))}): an ink change cannot help"}
    slots = [(k, ink) for k, ink in enumerate(spec["inks"], start=1) if float(ink["coverage"]) > 0]
    if len({str(ink["name"]).casefold() for _, ink in slots}) < 2:
        return {"skipped": "the pattern prints one ink only; merging it into the paper would leave no pattern"}
    rules = sorted(failed & INK_RULES | lowered & INK_GRADE_RULES)

    printed = {str(i["name"]).casefold(): i for r in rows for i in r["inks"]}
    for code, flag in (("crosslinked_ink", "crosslinked"), ("metallic_ink", "metallic")):
        special = [s for s in slots if printed.get(str(s[1]["name"]).casefold(), {}).get(flag)]
        if code in lowered and special and len(special) < len(slots):
            slot, ink = min(special, key=lambda s: (float(s[1]["coverage"]), s[0]))
            return _action(slot, ink, rules, f"merge the {flag} ink {ink['name']} into the paper")
    if "max_total_ink_coverage" in failed or "high_coverage" in lowered:
        slot, ink = min(slots, key=lambda s: (float(s[1]["coverage"]), s[0]))
        return _action(slot, ink, rules, f"thin the pattern: merge {ink['name']}, the ink with the least coverage, "
                                         "into the paper")  # fmt: skip
    slot, ink = max(slots, key=lambda s: (relative_luminance(str(s[1]["hex"])), -s[0]))
    return _action(slot, ink, rules, f"drop the lightest ink, {ink['name']}: its slot prints as paper")


def _action(slot: int, ink: Mapping[str, Any], rules: Sequence[str], why: str) -> dict[str, Any]:
    return {"action": "merge_ink_into_paper", "slot": slot, "rules": list(rules), "why": why,
            "ink": {"name": ink["name"], "hex": ink["hex"], "coverage": ink["coverage"]}}  # fmt: skip


def merge_slot(tile: np.ndarray, slot: int) -> np.ndarray:
    """The tile with ``slot`` printed as paper and the slots above it moved down one."""
    out = tile.copy()
    out[tile == slot] = 0
    out[tile > slot] -= 1
    return out


def design_tile(png: bytes, inks: Sequence[Mapping[str, Any]], source: str) -> np.ndarray:
    """Slot indices back from a design's ``artwork.png`` (paper, then each ink's colour).

    The PNG is lossless and painted from exactly these colours, so the mapping is exact; slots that
    share a colour print the same ink, and the first of them is kept.
    """
    from PIL import Image

    try:
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int32)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the artwork {source}: {exc}") from None
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    tile = np.full(codes.shape, 255, dtype=np.uint8)
    palette = [PAPER_HEX] + [str(i["hex"]) for i in inks]
    for slot in range(len(palette) - 1, -1, -1):
        r, g, b = hex_rgb(palette[slot])
        tile[codes == (r << 16) | (g << 8) | b] = slot
    if (tile == 255).any():
        raise InputError(f"the artwork {source} has colours that are not its spec's inks; rerun the design stage")
    return tile


Box = tuple[str, str, Sequence[float], str]
"""(box_code, style, inner_mm, board), as the design stage plans print files."""


def compose_variant(
    spec: Mapping[str, Any], tile: np.ndarray, ds: str, boxes: Sequence[Box] | None = None, **notes: Any
) -> tuple[list[tuple[bytes, str]], dict[str, Any]]:
    """Recompose a design from its spec and a (changed) tile: every file of the design stage, spec last.

    Uses the design stage's own composer, so an optimised or fallback design is laid out, named and
    written exactly like the night's other designs. ``notes`` (``optimised``, ``fallback``) go into
    spec.json. ``spec["inks"]`` are the tile's slots 1..K-1, unused ones included: they stay
    candidates for the message colour.
    """
    inks = list(spec["inks"])
    if boxes is None:
        boxes = [(p["box_code"], p["style"], p["inner_mm"], p["board"]) for p in spec["print_files"]]
    plan = PlannedDesign(
        str(spec["design_id"]), int(spec["segment_id"]), str(spec.get("segment_label", spec["segment_id"])),
        str(spec.get("motif", "plain")), int(spec.get("variant", 0)), tuple(str(i["hex"]) for i in inks),
        tuple(str(i["name"]) for i in inks), str(spec.get("message", "")),
        tuple((str(c), str(s), tuple(float(v) for v in inner), str(b)) for c, s, inner, b in boxes),
        int(spec.get("orders", 0)), dict(spec.get("allocation") or {}),  # the feedback choice stays recorded
    )  # fmt: skip
    source = dict(spec.get("artwork_source") or {})
    files = compose_design_files(plan, tile, ds, source, float(spec.get("tile_mm", DEFAULT_TILE_MM)))
    spec_bytes, spec_key = files[-1]
    new_spec = {**json.loads(spec_bytes), **notes}
    return files[:-1] + [(_spec_bytes(new_spec), spec_key)], new_spec


def _spec_bytes(spec: Mapping[str, Any]) -> bytes:
    return dumps(spec, indent=2, sort_keys=True).encode("utf-8")


def _worst(rows: Sequence[Mapping[str, Any]], policy: GatePolicy) -> dict[str, Any]:
    """The design's worst box, for an optimisation note: most inks, highest coverage, lowest grade."""
    return {
        "inks": max(r["n_inks"] for r in rows),
        "ink_coverage_total": max(r["ink_coverage_total"] for r in rows),
        "recyclability_grade": max((r["recyclability_grade"] for r in rows), key=policy.grade_rank),
    }


# --------------------------------------------------------------------------------------------------
# The night's gate (lake I/O)


@dataclasses.dataclass
class _Decision:
    """What the gate did with one design, and the rows that record it."""

    spec: dict[str, Any]
    status: str  # passed, optimised, rejected, fallback
    rows: list[dict[str, Any]]
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    optimisation: dict[str, Any] | None = None


def _staged_specs(lake: Lake, ds: str) -> dict[str, dict[str, Any]]:
    prefix = staging_prefix(ds)
    return {
        (spec := read_json(lake, o.key))["design_id"]: spec
        for o in lake.list(prefix + "segment=")
        if o.key.endswith("/spec.json")
    }


def _reset(lake: Lake, ds: str, planned: Iterable[str]) -> None:
    """Undo an earlier gate run of this night: rejected designs back to staging, its fallbacks gone."""
    planned = set(planned)
    staged = _staged_specs(lake, ds)
    for design_id, spec in staged.items():
        if "fallback" in spec and design_id not in planned:
            lake.delete_prefix(design_prefix(ds, int(spec["segment_id"]), design_id))
    prefix = rejected_prefix(ds)
    for obj in lake.list(prefix):
        design_id, _, name = obj.key[len(prefix) :].partition("/")
        if name != keys.SPEC_NAME or design_id not in planned or design_id in staged:
            continue  # a design stage rerun since then has restaged it, or it is not tonight's any more
        target = design_prefix(ds, int(read_json(lake, obj.key)["segment_id"]), design_id)
        for f in lake.list(f"{prefix}{design_id}/"):
            if not f.key.endswith("/reasons.json"):
                lake.copy(f.key, target + f.key.rsplit("/", 1)[-1])
    lake.delete_prefix(prefix)


def _decide(
    lake: Lake, ds: str, spec: dict[str, Any], orders: pd.DataFrame, policy: GatePolicy, library: MaterialsLibrary
) -> _Decision:
    """Pass, optimise once, or reject one staged design."""
    rows = evaluate_design(spec, orders, policy, library)
    failures = design_failures(rows)
    if not failures:
        note = spec.get("optimised")  # optimised by an earlier run of this night's gate
        return _Decision(spec, "optimised" if note else "passed", rows, optimisation=note)
    if not policy.optimise:
        attempt: dict[str, Any] = {"skipped": "optimisation is disabled in the policy"}
    elif spec.get("optimised"):
        attempt = {"skipped": "already optimised once (a design gets one pass)"}
    else:
        attempt = plan_optimisation(spec, rows, policy)
    if "action" in attempt:
        prefix = design_prefix(ds, int(spec["segment_id"]), spec["design_id"])
        tile = merge_slot(design_tile(lake.read_bytes(prefix + "artwork.png"), spec["inks"], prefix + "artwork.png"),
                          attempt["slot"])  # fmt: skip
        inks = [i for k, i in enumerate(spec["inks"], start=1) if k != attempt["slot"]]
        files, new_spec = compose_variant({**spec, "inks": inks}, tile, ds)
        new_rows = evaluate_design(new_spec, orders, policy, library)
        still = design_failures(new_rows)
        note = {**attempt, "before": _worst(rows, policy), "after": _worst(new_rows, policy),
                "policy_version": policy.version}  # fmt: skip
        if not still:
            new_spec["optimised"] = note
            files[-1] = (_spec_bytes(new_spec), files[-1][1])
            lake.upload_many(files)
            return _Decision(new_spec, "optimised", new_rows, optimisation=note)
        attempt = {**note, "still_failing": still}
    _reject(lake, ds, spec, rows, failures, attempt, policy)
    return _Decision(spec, "rejected", rows, failures, attempt)


def _reject(
    lake: Lake, ds: str, spec: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]], attempt: Mapping[str, Any], policy: GatePolicy,
) -> None:  # fmt: skip
    """Move the design's files to ``designs/rejected/ds=<ds>/<design_id>/`` with ``reasons.json``."""
    source = design_prefix(ds, int(spec["segment_id"]), spec["design_id"])
    target = f"{rejected_prefix(ds)}{keys.safe_part(spec['design_id'])}/"
    for obj in lake.list(source):
        lake.copy(obj.key, target + obj.key[len(source) :])
    reasons = {
        "design_id": spec["design_id"], "segment_id": spec["segment_id"], "ds": ds,
        "policy": {"name": policy.name, "version": policy.version},
        "failed_rules": list(failures), "reasons": sorted({t for r in rows for t in r["reasons"]}),
        "grade_reasons": sorted({t for r in rows for t in r["grade_reasons"]}), "optimisation": dict(attempt),
    }  # fmt: skip
    write_json(lake, target + "reasons.json", reasons)
    lake.delete_prefix(source)


def _segment_boxes(specs: Iterable[Mapping[str, Any]], orders: pd.DataFrame) -> list[Box]:
    """Every box size a segment's designs were printed on or its orders ship in, in a stable order."""
    boxes: dict[str, Box] = {}
    for spec in specs:
        for p in spec["print_files"]:
            boxes.setdefault(p["box_code"], (p["box_code"], p["style"], list(p["inner_mm"]), p["board"]))
    for r in orders.itertuples(index=False):
        inner = [float(r.inner_length_mm), float(r.inner_width_mm), float(r.inner_height_mm)]
        boxes.setdefault(r.box_code, (r.box_code, r.style, inner, r.board_grade))
    return [boxes[c] for c in sorted(boxes)]


def _fallback(
    lake: Lake, ds: str, segment_id: int, specs: Sequence[Mapping[str, Any]], orders: pd.DataFrame,
    policy: GatePolicy, library: MaterialsLibrary,
) -> tuple[_Decision, dict[str, Any]]:  # fmt: skip
    """A design for a segment none of whose designs passed: its last published one, else plain."""
    boxes = _segment_boxes(specs, orders)
    base = {
        "segment_id": segment_id, "segment_label": specs[0].get("segment_label", str(segment_id)), "ds": ds,
        "orders": len(orders), "message": specs[0].get("message", ""),
    }  # fmt: skip
    why = f"no design of segment {segment_id} passed the gate"
    skipped, previous = None, None
    if policy.fallback_lookback_days:
        previous = last_published_design(lake, segment_id, ds, policy.fallback_lookback_days)
    if previous is not None:
        try:
            old = read_json(lake, previous["spec_key"])
            tile = design_tile(lake.read_bytes(previous["artwork_key"]), old["inks"], previous["artwork_key"])
            note = {"kind": "previous", "from_ds": previous["ds"], "design_id": previous["design_id"], "why": why}
            spec = {**old, **base, "design_id": previous["design_id"], "message": old.get("message", base["message"])}
            files, new_spec = compose_variant(spec, tile, ds, boxes, fallback=note)
            rows = evaluate_design(new_spec, orders.assign(design_id=new_spec["design_id"]), policy, library)
            if not design_failures(rows):
                lake.upload_many(files)
                return _Decision(new_spec, "fallback", rows), note
            failed = ", ".join(sorted({f["rule"] for f in design_failures(rows)}))
            skipped = f"previous design {previous['design_id']} ({previous['ds']}) fails tonight's policy: {failed}"
        except (InputError, KeyError, OSError) as exc:
            skipped = f"previous design {previous['design_id']} ({previous['ds']}) cannot be reused: {exc}"
    elif policy.fallback_lookback_days:
        skipped = f"no published design of segment {segment_id} in the {policy.fallback_lookback_days} nights before"
    note = {"kind": "plain", "why": why, **({"previous_skipped": skipped} if skipped else {})}
    stamp = ds.replace("-", "")
    design_id = f"d{stamp}-s{segment_id if segment_id >= 0 else 'x'}{PLAIN_SUFFIX}"
    spec = {**base, "design_id": design_id, "motif": "plain", "variant": 0, "inks": [],
            "artwork_source": {"kind": "plain"}, "tile_mm": DEFAULT_TILE_MM}  # fmt: skip
    files, new_spec = compose_variant(spec, np.zeros((PRINT_TILE_PX, PRINT_TILE_PX), np.uint8), ds, boxes,
                                      fallback=note)  # fmt: skip
    lake.upload_many(files)
    rows = evaluate_design(new_spec, orders.assign(design_id=design_id), policy, library)
    return _Decision(new_spec, "fallback", rows), {**note, "design_id": design_id}


def _reassign(orders: pa.Table, decisions: Mapping[str, _Decision], fallbacks: Mapping[int, str]) -> pa.Table:
    """Orders of rejected designs to a passing design of their segment (stable per order), else the fallback."""
    ok = {d: x for d, x in decisions.items() if x.status != "rejected"}
    passing: dict[int, list[str]] = {}
    for design_id, decision in sorted(ok.items()):
        if decision.status in ("passed", "optimised"):
            passing.setdefault(int(decision.spec["segment_id"]), []).append(design_id)
    pdf = {(d, p["box_code"]): p["pdf"] for d, x in ok.items() for p in x.spec["print_files"]}
    design_ids, print_files, moved_from, moved_to = [], [], [], []
    for order_id, segment_id, original, box_code in zip(
        *(orders.column(c).to_pylist() for c in ("order_id", "segment_id", "design_id", "box_code")), strict=True
    ):
        design_id, kind = original, None
        if original not in ok:
            choices = passing.get(int(segment_id))
            if choices:
                design_id, kind = choices[order_choice(order_id, len(choices))], "sibling"
            else:
                design_id, kind = fallbacks[int(segment_id)], "fallback"
        key = pdf.get((design_id, box_code))
        if key is None:  # every design of a segment is printed on all its boxes: a broken staging
            raise PipelineError(f"order {order_id} ships in box {box_code}, which design {design_id} has no print "
                                "file for; rerun the design stage")  # fmt: skip
        design_ids.append(design_id)
        print_files.append(key)
        moved_from.append(original if kind else None)
        moved_to.append(kind)
    out = orders.set_column(orders.schema.get_field_index("design_id"), "design_id", pa.array(design_ids, pa.string()))
    out = out.set_column(out.schema.get_field_index("print_file"), "print_file", pa.array(print_files, pa.string()))
    out = out.append_column("reassigned_from", pa.array(moved_from, pa.string()))
    return out.append_column("reassigned_to", pa.array(moved_to, pa.string()))


SUSTAINABILITY_SCHEMA = pa.schema([
    ("ds", pa.string()), ("design_id", pa.string()), ("segment_id", pa.int32()), ("gate_status", pa.string()),
    ("box_code", pa.string()), ("style", pa.string()), ("inner_length_mm", pa.float64()),
    ("inner_width_mm", pa.float64()), ("inner_height_mm", pa.float64()), ("board_grade", pa.string()),
    ("board_combined_gsm", pa.float64()), ("blank_area_m2", pa.float64()), ("board_mass_kg", pa.float64()),
    ("co2e_kg", pa.float64()), ("co2e_factor_id", pa.string()), ("co2e_factor_value", pa.float64()),
    ("co2e_factor_unit", pa.string()), ("co2e_factor_scope", pa.string()), ("co2e_factor_source", pa.string()),
    ("co2e_factor_year", pa.int32()), ("n_inks", pa.int32()), ("inks", pa.string()),
    ("ink_coverage_total", pa.float64()), ("ink_mass_g", pa.float64()), ("orders", pa.int32()),
    ("esr_mean", pa.float64()), ("esr_max", pa.float64()), ("orders_over_esr_limit", pa.int32()),
    ("mono_material", pa.bool_()), ("materials", pa.string()), ("recyclability_grade", pa.string()),
    ("grade_reasons", pa.list_(pa.string())), ("passed", pa.bool_()), ("design_rules_passed", pa.bool_()),
    ("failed_rules", pa.string()), ("reasons", pa.list_(pa.string())), ("optimised", pa.string()),
    ("policy_version", pa.int32()), ("materials_version", pa.int32()),
])  # fmt: skip
"""One row per (design, box). ``inks``, ``materials``, ``failed_rules`` ({rule, measured, limit}) and
``optimised`` are JSON text; ``passed`` covers every rule, ``design_rules_passed`` all but ESR.
Rows of rejected designs carry their original orders' ESR; the others the gated assignment's."""


def _table(decisions: Iterable[_Decision], ds: str, policy: GatePolicy, library: MaterialsLibrary) -> pa.Table:
    rows = []
    for d in decisions:
        note = d.spec.get("optimised")
        for r in d.rows:
            rows.append({
                **{k: v for k, v in r.items() if k in SUSTAINABILITY_SCHEMA.names}, "ds": ds, "gate_status": d.status,
                "inks": dumps(r["inks"]), "materials": dumps(r["materials"]), "failed_rules": dumps(r["failed_rules"]),
                "optimised": dumps(note, sort_keys=True) if note else None, "policy_version": policy.version,
                "materials_version": library.version,
            })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SUSTAINABILITY_SCHEMA)


def _segment_summary(
    segment_id: int, decisions: Sequence[_Decision], fallback: Mapping[str, Any] | None, gated: pd.DataFrame
) -> dict[str, Any]:
    """A segment's outcome and its figures: pass rate, mean board and CO2e per box, what its orders ship in."""
    mine = [d for d in decisions if d.status != "fallback"]
    live = [r for d in decisions if d.status != "rejected" for r in d.rows]
    by_pair = {(r["design_id"], r["box_code"]): r for r in live}
    orders = gated[gated["segment_id"] == segment_id]
    shipped = [by_pair[(d, b)] for d, b in zip(orders["design_id"], orders["box_code"], strict=True)]
    ids = {s: sorted(d.spec["design_id"] for d in mine if d.status == s) for s in ("passed", "optimised", "rejected")}
    return {
        "segment_id": segment_id, "designs": len(mine), **ids,
        "pass_rate": round((len(ids["passed"]) + len(ids["optimised"])) / len(mine), 4) if mine else None,
        "fallback": dict(fallback) if fallback else None,
        "orders": len(orders), "orders_reassigned": int(orders["reassigned_from"].notna().sum()),
        "orders_over_esr_limit": int(sum(r["orders_over_esr_limit"] for r in live)),
        "mean_co2e_kg": round(float(np.mean([r["co2e_kg"] for r in live])), 6) if live else None,
        "mean_board_kg": round(float(np.mean([r["board_mass_kg"] for r in live])), 6) if live else None,
        "shipped_co2e_kg": round(sum(r["co2e_kg"] for r in shipped), 6),
        "shipped_board_kg": round(sum(r["board_mass_kg"] for r in shipped), 6),
    }  # fmt: skip


def gate_night(
    settings: Settings, ds: str, policy_path: str | os.PathLike[str] | None = None, *, log_to_mlflow: bool = True
) -> dict[str, Any]:
    """The nightly sustainability gate (CLI ``gate``, the DAG's ``evaluate_sustainability``).

    Reads the design stage's staging for ``ds``, decides every design (see the module docstring),
    writes ``sustainability.parquet``, ``order_designs_gated.parquet`` and, last, ``gate.json``,
    and logs one MLflow run in the ``sustainability`` experiment unless ``log_to_mlflow`` is False.

    Returns:
        The content of gate.json (with the MLflow run id).

    Raises:
        InputError: no staged designs for ``ds``, or a bad policy file.
    """
    lake = open_lake(settings)
    library = load_materials()
    policy = load_policy(policy_path, library)
    prefix = staging_prefix(ds)
    plan_key, orders_key = prefix + keys.PLAN_NAME, prefix + keys.ORDER_DESIGNS_NAME
    if not (lake.exists(plan_key) and lake.exists(orders_key)):
        raise InputError(f"no staged designs for ds={ds} ({lake.uri_of(plan_key)} or order_designs.parquet is "
                         f"missing): run `packaging-pipeline designs --ds {ds}` first")  # fmt: skip
    planned = sorted(read_json(lake, plan_key)["design_ids"])
    # gate.json marks a finished gate (publication reads it): gone until this run finishes.
    lake.delete(prefix + keys.GATE_NAME)
    _reset(lake, ds, planned)
    specs = _staged_specs(lake, ds)
    missing = [d for d in planned if d not in specs]
    if missing:
        raise InputError(f"staging for ds={ds} lacks the designs {missing} its plan.json lists: rerun "
                         f"`packaging-pipeline designs --ds {ds}`")  # fmt: skip
    order_table = read_parquet(lake, orders_key)
    orders = order_table.to_pandas()
    decisions = {d: _decide(lake, ds, specs[d], orders, policy, library) for d in planned}

    segments = sorted({int(specs[d]["segment_id"]) for d in planned})
    fallbacks: dict[int, tuple[_Decision, dict[str, Any]]] = {}
    for sid in segments:
        mine = [decisions[d] for d in planned if int(specs[d]["segment_id"]) == sid]
        if not any(d.status in ("passed", "optimised") for d in mine):
            seg_orders = orders[orders["segment_id"] == sid]
            fallbacks[sid] = _fallback(lake, ds, sid, [d.spec for d in mine], seg_orders, policy, library)
    gated_table = _reassign(order_table, {**decisions, **{f.spec["design_id"]: f for f, _ in fallbacks.values()}},
                            {sid: f.spec["design_id"] for sid, (f, _) in fallbacks.items()})  # fmt: skip
    gated = gated_table.to_pandas()

    final = list(decisions.values()) + [f for f, _ in fallbacks.values()]
    for d in final:
        if d.status == "rejected":
            continue
        d.rows = evaluate_design(d.spec, gated, policy, library)  # ESR of the orders it now ships
        count = int((gated["design_id"] == d.spec["design_id"]).sum())
        if d.spec.get("orders") != count:  # keep spec.json's order count true after reassignment
            d.spec["orders"] = count
            spec_key = design_prefix(ds, int(d.spec["segment_id"]), d.spec["design_id"]) + keys.SPEC_NAME
            lake.write_bytes(spec_key, _spec_bytes(d.spec))
    table = _table(final, ds, policy, library)
    write_parquet(lake, prefix + keys.SUSTAINABILITY_NAME, table)
    write_parquet(lake, prefix + keys.ORDER_DESIGNS_GATED_NAME, gated_table)

    counts = {s: sum(d.status == s for d in decisions.values()) for s in ("passed", "optimised", "rejected")}
    gate: dict[str, Any] = {
        "ds": ds, "lake": settings.lake_uri, "policy": policy.summary(),
        "materials": {"version": library.version, "source": library.source},
        "counts": {"designs": len(planned), **counts, "fallbacks": len(fallbacks),
                   "fallback_previous": sum(n["kind"] == "previous" for _, n in fallbacks.values()),
                   "fallback_plain": sum(n["kind"] == "plain" for _, n in fallbacks.values()),
                   "pairs": table.num_rows, "pairs_failed": sum(not p for p in table.column("passed").to_pylist()),
                   "orders": len(gated), "orders_reassigned": int(gated["reassigned_from"].notna().sum()),
                   "orders_over_esr_limit": int(sum(r["orders_over_esr_limit"] for d in final
                                                    if d.status != "rejected" for r in d.rows))},
        "segments": [
            _segment_summary(sid, [decisions[d] for d in planned if int(specs[d]["segment_id"]) == sid]
                             + ([fallbacks[sid][0]] if sid in fallbacks else []),
                             fallbacks[sid][1] if sid in fallbacks else None, gated)
            for sid in segments
        ],
        "designs": [
            {"design_id": d, "segment_id": int(specs[d]["segment_id"]), "status": x.status,
             "failed_rules": x.failures, "optimisation": x.optimisation,
             **({"rejected": f"{rejected_prefix(ds)}{d}/"} if x.status == "rejected" else {})}
            for d, x in decisions.items()
        ] + [{"design_id": f.spec["design_id"], "segment_id": sid, "status": "fallback", "fallback": n}
             for sid, (f, n) in fallbacks.items()],
        "outputs": {"sustainability": prefix + keys.SUSTAINABILITY_NAME,
                    "order_designs_gated": prefix + keys.ORDER_DESIGNS_GATED_NAME,
                    "rejected": rejected_prefix(ds), "gate": prefix + keys.GATE_NAME},
        "mlflow_run_id": None,
    }  # fmt: skip
    if log_to_mlflow:
        gate["mlflow_run_id"] = log_gate(gate, table)
    write_json(lake, prefix + keys.GATE_NAME, gate)
    log.info("ds=%s gate: %s", ds, gate["counts"])
    return gate


# --------------------------------------------------------------------------------------------------
# MLflow


def log_gate(gate: Mapping[str, Any], pairs: pa.Table | pd.DataFrame) -> str:
    """Log one night's gate as one run of the ``sustainability`` experiment; returns the run id.

    Params: the policy (name, version, limits) and the materials version; metrics: the counts and,
    per segment, pass rate, mean CO2e and board mass per box and what the night's orders ship in;
    the per-pair table as an MLflow table, gate.json as a dict.
    """
    import mlflow

    ds, policy = gate["ds"], gate["policy"]
    frame = pairs.to_pandas() if isinstance(pairs, pa.Table) else pairs.copy()
    for column in frame.columns:  # MLflow tables want flat cells
        if frame[column].map(lambda v: isinstance(v, list | np.ndarray)).any():
            frame[column] = frame[column].map(lambda v: "; ".join(map(str, v)) if v is not None else None)
    tags = {"policy_version": str(policy["version"])}
    with night_run(SUSTAINABILITY_EXPERIMENT, ds, f"gate ds={ds}", tags) as run:
        mlflow.log_params({
            "ds": ds, "policy_name": policy["name"], "policy_version": policy["version"],
            "policy_updated": policy["updated"], "materials_version": gate["materials"]["version"],
            "default_ink_type": policy["default_ink_type"], **policy["limits"],
        })  # fmt: skip
        metrics = {k: float(v) for k, v in gate["counts"].items()}
        for seg in gate["segments"]:
            for name in ("pass_rate", "mean_co2e_kg", "mean_board_kg", "shipped_co2e_kg", "shipped_board_kg",
                         "orders_over_esr_limit"):  # fmt: skip
                if seg[name] is not None:
                    metrics[f"segment_{seg['segment_id']}_{name}"] = float(seg[name])
        mlflow.log_metrics(metrics)
        mlflow.log_table(frame, artifact_file="sustainability_pairs.json")
        mlflow.log_dict(dict(gate), "gate.json")
        return run.info.run_id
