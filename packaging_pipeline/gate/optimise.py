"""The gate's one automatic pass on a design that fails an ink rule: merge one ink into the paper, recompose.

The design is published if it then passes every design rule; otherwise it is rejected.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from packaging_pipeline.core.colour import PAPER_HEX, hex_rgb, relative_luminance
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import spec_bytes
from packaging_pipeline.design.batch import PlannedDesign, compose_design_files
from packaging_pipeline.design.compose import DEFAULT_TILE_MM
from packaging_pipeline.gate.policy import INK_GRADE_RULES, INK_RULES, GatePolicy
from packaging_pipeline.gate.scoring import design_failures

log = logging.getLogger(__name__)


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
    staged_spec, spec_key = files[-1]
    new_spec = {**json.loads(staged_spec), **notes}
    return files[:-1] + [(spec_bytes(new_spec), spec_key)], new_spec
