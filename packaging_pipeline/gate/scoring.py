"""Scoring one (design, box) pair, pure: board, mass, CO2e, inks, empty space and a recyclability grade.

Per pair, from the design's ``spec.json``, the orders shipping in the box and the materials
library: board grade, blank area, board mass (blank area x combined grammage), CO2e with its
factor's id, value, unit, scope and source (board only: the library has no sourced ink factor),
inks (the pattern's, plus the message's ink when it is not one of them) with coverage, type and
mass, the empty space ratio (ESR) of the orders shipping in it, the mono-material check and a
recyclability grade A-E with the reasons that lowered it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from packaging_pipeline.design.compose import logo_alpha
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.materials import BoardGrade, MaterialsLibrary
from packaging_pipeline.design.pdf import DEFAULT_FONT
from packaging_pipeline.gate.policy import BOX_RULES, GatePolicy

log = logging.getLogger(__name__)

TEXT_RENDER_PX_PER_MM = 10.0


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
