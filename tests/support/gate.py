"""Builders for the gated night: the shipped gate policy with lines swapped, copies of a staged night,
staged designs repainted to a known ink coverage, and what to compare before and after the gate."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from importlib import resources

import numpy as np

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import PlannedDesign, compose_design_files
from packaging_pipeline.gate.policy import POLICY_FILE
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.support.nights import DS
from tests.support.pdf import PdfFile

SHIPPED_POLICY = resources.files("packaging_pipeline").joinpath("data", POLICY_FILE).read_text(encoding="utf-8")
STAGING = f"designs/staging/ds={DS}/"
TILE_PX = 256
COVERAGE_060 = {"  max_total_ink_coverage: 1.20": "  max_total_ink_coverage: 0.60"}


def policy_text(**replacements: str) -> str:
    """The shipped policy with whole lines swapped, e.g. ``{"  max_inks: 3": "  max_inks: 1"}``."""
    text = SHIPPED_POLICY
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def copy_night(staged, path) -> tuple[LocalLake, Settings]:
    shutil.copytree(staged, path)
    lake = LocalLake(path)
    return lake, Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY)


def spec_of(lake: LocalLake, design_id: str, ds: str = DS) -> dict:
    (key,) = [o.key for o in lake.list(f"designs/staging/ds={ds}/") if o.key.endswith(f"/{design_id}/spec.json")]
    return json.loads(lake.read_bytes(key))


def restage(lake: LocalLake, design_id: str, shares: tuple[int, int]) -> None:
    """Repaint a staged design with stripes of known coverage: ``shares`` columns of 256 per ink slot."""
    spec = spec_of(lake, design_id)
    tile = np.zeros((TILE_PX, TILE_PX), np.uint8)
    tile[:, : shares[0]] = 1
    tile[:, shares[0] : shares[0] + shares[1]] = 2
    plan = PlannedDesign(
        design_id, spec["segment_id"], spec["segment_label"], spec["motif"], spec["variant"],
        tuple(i["hex"] for i in spec["inks"]), tuple(i["name"] for i in spec["inks"]), spec["message"],
        tuple((p["box_code"], p["style"], tuple(p["inner_mm"]), p["board"]) for p in spec["print_files"]),
        spec["orders"],
    )  # fmt: skip
    lake.upload_many(compose_design_files(plan, tile, DS, spec["artwork_source"], spec["tile_mm"]))


def ink_separations(pdf: bytes) -> set[str]:
    doc = PdfFile(pdf)
    names = {re.match(rb"^\[/Separation /(\S+) ", b).group(1).decode() for b in doc.objects.values()
             if b.startswith(b"[/Separation ")}  # fmt: skip
    return {n.replace("#20", " ") for n in names if n.startswith("Ink")}


def hashes(lake: LocalLake, prefix: str = "designs/") -> dict[str, str]:
    return {o.key: hashlib.sha256(lake.read_bytes(o.key)).hexdigest() for o in lake.list(prefix)}
