"""The sustainability evaluation and gate: hand-computed measures, grading, policy files, and a night
gated end to end on a small lake (optimisation, rejection, order reassignment, fallbacks).

The staged and gated nights are fixtures of tests/conftest.py; the gate's MLflow log is checked in
tests/integration/test_sustainability_mlflow.py."""

from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from packaging_pipeline.contract import last_published_design
from packaging_pipeline.core.colour import PAPER_HEX
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.keys import design_prefix
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.compose import BLACK_HEX, logo_alpha
from packaging_pipeline.gate.night import gate_night
from packaging_pipeline.gate.policy import load_policy, parse_policy
from packaging_pipeline.gate.scoring import evaluate_pair, message_ink_mm2
from tests.support.gate import (
    COVERAGE_060,
    SHIPPED_POLICY,
    STAGING,
    copy_night,
    hashes,
    ink_separations,
    policy_text,
    restage,
    spec_of,
)
from tests.support.nights import DS
from tests.support.published import fake_batch

# --------------------------------------------------------------------------------------------------
# One pair, by hand


def pair_spec(inks, *, message="", text=("Black", BLACK_HEX), knockout=None, components=None, print_file=None):
    """A spec.json with one box: a B-flute 0201 whose blank is 0.5 m2 unless ``print_file`` says otherwise."""
    layout = {"text_colour": text[1], "text_colour_name": text[0], "font_pt": 20.0,
              "logo_box": [-30.0, 0.0, 60.0, 20.0], "knockout": knockout}  # fmt: skip
    pf = print_file or {"box_code": "0201-R5", "style": "0201", "inner_mm": [350, 250, 200], "board": "B",
                        "blank_area_m2": 0.5}  # fmt: skip
    return {
        "design_id": "d-test", "segment_id": 3, "message": message, "components": components or [],
        "inks": [{"name": n, "hex": h, "coverage": c} for n, h, c in inks], "print_files": [{**pf, "layout": layout}],
    }  # fmt: skip


def evaluate(spec, esr=(), policy=None):
    from packaging_pipeline.design.materials import load_materials

    return evaluate_pair(spec, spec["print_files"][0], list(esr), policy or load_policy(), load_materials())


def test_the_shipped_policy_holds_the_documented_defaults():
    policy = load_policy()
    assert (policy.version, policy.max_esr, policy.max_inks, policy.max_total_ink_coverage, policy.min_grade) == (
        1, 0.5, 3, 1.2, "B"
    )  # fmt: skip
    assert policy.default_ink_type == "water_flexo" and policy.ink_type("Gold") == "metallic"
    assert "Article 24" in SHIPPED_POLICY and "TAC" in SHIPPED_POLICY


def test_board_mass_and_co2e_of_a_mailer_by_hand():
    # FEFCO 0427, inner 150x100x50 on E flute (t = 1.5 mm), blank area from the dieline's formula:
    # Lb = 156, Wb = 103, Wl = 104.5, T = 48.5, c = 10:
    # 156 x (103 + 2 x 51.5 + 104.5) + 48.5 x 147 - 100 + 2 x 51.5 x 103 + 4 x 50 x 100 + 2 x 48.5 x 100
    # = 95776.5 mm2. E flute: 385 g/m2 -> 0.0368739525 kg; x 0.491 kg CO2e/kg -> 0.0181051107 kg.
    mailer = {"box_code": "0427-M1", "style": "0427", "inner_mm": [150, 100, 50], "board": "E"}  # no area: dieline
    row = evaluate(pair_spec([("yellow", "#f2c230", 0.25)], print_file=mailer))
    assert row["blank_area_m2"] == pytest.approx(0.0957765, abs=1e-6)  # stored to 1 mm2
    assert row["board_mass_kg"] == pytest.approx(0.0368739525, abs=1e-6)
    assert row["co2e_kg"] == pytest.approx(0.0181051107, abs=1e-6)
    assert (row["co2e_factor_id"], row["co2e_factor_value"], row["co2e_factor_unit"]) == (
        "corrugated_eu_2021", 0.491, "kg CO2e/kg"
    )  # fmt: skip
    assert row["co2e_factor_scope"] == "cradle-to-grave incl. biogenic"
    assert row["co2e_factor_source"] == "FEFCO/CCB European database 2021 data"
    assert row["board_grade"] == "E" and row["board_combined_gsm"] == 385


def test_coverage_per_ink_and_ink_mass_by_hand():
    knockout = [-50.0, -25.0, 100.0, 50.0]  # 5000 mm2 = 0.005 m2 of the pattern removed behind the message
    row = evaluate(pair_spec([("yellow", "#f2c230", 0.25), ("navy", "#1f2a44", 0.10)], message="Hi",
                             knockout=knockout))  # fmt: skip
    inks = {i["name"]: i for i in row["inks"]}
    assert list(inks) == ["yellow", "navy", "Black"] and row["n_inks"] == 3  # Black: the message is not an ink
    # Pattern: coverage x (0.5 - 0.005) m2; water-based flexo lays down 1.5 g/m2 dry.
    assert inks["yellow"]["area_m2"] == pytest.approx(0.25 * 0.495) and inks["yellow"]["mass_g"] == pytest.approx(
        0.25 * 0.495 * 1.5, abs=1e-4
    )  # fmt: skip
    assert inks["navy"]["mass_g"] == pytest.approx(0.10 * 0.495 * 1.5, abs=1e-4)
    assert inks["yellow"]["pattern_coverage"] == 0.25 and inks["yellow"]["coverage"] == pytest.approx(0.2475)
    # The message ink: the logo's printing share of its 60 x 20 mm box plus the rendered text.
    logo_mm2 = 60 * 20 * float((logo_alpha() >= 128).mean())
    text_mm2 = inks["Black"]["area_m2"] * 1e6 - logo_mm2
    assert 0 < text_mm2 < 2 * 7.06 * 5  # "Hi" at 20 pt: under two 7 mm caps' bounding boxes
    assert inks["Black"]["role"] == "text" and inks["Black"]["mass_g"] == pytest.approx(
        inks["Black"]["area_m2"] * 1.5, abs=1e-4
    )  # fmt: skip
    total = (0.25 * 0.495 + 0.10 * 0.495 + inks["Black"]["area_m2"]) / 0.5
    assert row["ink_coverage_total"] == pytest.approx(total, abs=1e-4)
    assert row["ink_mass_g"] == pytest.approx(sum(i["mass_g"] for i in inks.values()), abs=1e-3)
    # A longer message carries more ink.
    assert message_ink_mm2("Hello there, thank you", 20.0, 60.0, 20.0) > message_ink_mm2("Hi", 20.0, 60.0, 20.0)


def test_the_message_in_a_pattern_ink_adds_no_ink():
    row = evaluate(pair_spec([("yellow", "#f2c230", 0.2), ("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44")))
    assert row["n_inks"] == 2 and [i["role"] for i in row["inks"]] == ["pattern", "pattern+text"]
    assert row["recyclability_grade"] == "A" and row["grade_reasons"] == [] and row["passed"]


def test_uv_and_metallic_inks_lower_the_grade_and_say_why():
    uv = parse_policy(policy_text(**{"  default_type: water_flexo": "  default_type: uv_cured"}))
    row = evaluate(pair_spec([("yellow", "#f2c230", 0.2)], text=("yellow", "#f2c230")), policy=uv)
    assert row["recyclability_grade"] == "C" and row["grade_lowered_by"] == ["crosslinked_ink"]
    assert "crosslinked ink (UV-cured)" in row["grade_reasons"][0] and "inks: yellow" in row["grade_reasons"][0]
    assert {"rule": "min_recyclability_grade", "measured": "C", "limit": "B"} in row["failed_rules"]

    # Gold prints metallic (policy inks.by_name): one step, still publishable alone ...
    gold = evaluate(pair_spec([("gold", "#c9a227", 0.2), ("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44")))
    assert gold["recyclability_grade"] == "B" and gold["passed"]
    assert gold["grade_lowered_by"] == ["metallic_ink"] and "inks: gold" in gold["grade_reasons"][0]
    assert {i["name"]: i["type"] for i in gold["inks"]} == {"gold": "metallic", "navy": "water_flexo"}
    # ... but with a third ink (the message in black) it drops to C and fails.
    three = evaluate(pair_spec([("gold", "#c9a227", 0.2), ("navy", "#1f2a44", 0.1)]))
    assert three["recyclability_grade"] == "C" and three["grade_lowered_by"] == ["metallic_ink", "more_inks"]
    assert not three["passed"]


def test_three_and_more_inks_lower_the_grade_one_step_per_ink_above_two():
    inks = [("yellow", "#f2c230", 0.1), ("navy", "#1f2a44", 0.1), ("red", "#c8332c", 0.1)]
    three = evaluate(pair_spec(inks, text=("navy", "#1f2a44")))
    assert three["n_inks"] == 3 and three["recyclability_grade"] == "B" and three["passed"]
    assert three["grade_reasons"] == [
        "-1 more inks than a 1-2 colour flexo print need more ink, plates and wash-up (3 inks, more than 2)"
    ]
    four = evaluate(pair_spec(inks))  # + Black for the message
    assert four["n_inks"] == 4 and four["recyclability_grade"] == "C"
    assert four["failed_rules"] == [
        {"rule": "max_inks", "measured": 4, "limit": 3},
        {"rule": "min_recyclability_grade", "measured": "C", "limit": "B"},
    ]


def test_a_plastic_window_is_not_mono_material():
    window = [{"name": "window", "material": "PET film", "emission_factor": "pet"}]
    row = evaluate(pair_spec([("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44"), components=window))
    assert not row["mono_material"] and row["recyclability_grade"] == "C"
    assert row["grade_lowered_by"] == ["not_mono_material"] and not row["design_rules_passed"]


def test_a_tighter_coverage_limit_fails_the_pair_with_rule_measure_and_limit():
    spec = pair_spec([("yellow", "#f2c230", 0.3), ("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44"))
    assert evaluate(spec)["passed"]
    tight = parse_policy(policy_text(**{"  max_total_ink_coverage: 1.20": "  max_total_ink_coverage: 0.35"}))
    row = evaluate(spec, policy=tight)
    (rule,) = row["failed_rules"]
    assert rule == {"rule": "max_total_ink_coverage", "measured": row["ink_coverage_total"], "limit": 0.35}
    assert 0.4 < rule["measured"] < 0.41 and not row["passed"]  # 0.4 of pattern + the navy logo


def test_esr_over_the_limit_fails_the_pair_as_a_box_finding():
    row = evaluate(pair_spec([("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44")), esr=[0.3, 0.62, 0.7])
    assert (row["orders"], row["esr_mean"], row["esr_max"], row["orders_over_esr_limit"]) == (3, 0.54, 0.7, 2)
    assert row["failed_rules"] == [{"rule": "max_esr", "measured": 0.7, "limit": 0.5}]
    assert not row["passed"] and row["design_rules_passed"]
    assert "no better box existed in the catalog" in row["reasons"][0] and "Art. 24" in row["reasons"][0]
    unused = evaluate(pair_spec([("navy", "#1f2a44", 0.1)], text=("navy", "#1f2a44")))
    assert (unused["orders"], unused["esr_mean"], unused["esr_max"]) == (0, None, None) and unused["passed"]


@pytest.mark.parametrize(
    ("replacements", "message"),
    [
        ({"  max_inks: 3\n": ""}, "limits.max_inks: missing; add it"),
        ({"  max_esr: 0.50": "  max_esr: half"}, "limits.max_esr: expected a number, got 'half'"),
        ({"  max_inks: 3": "  max_ink: 3"}, "limits.max_ink: unknown field 'max_ink'; known fields: max_esr, max_inks"),
        ({"  min_recyclability_grade: B": "  min_recyclability_grade: F"}, "limits.min_recyclability_grade: expected"),
        ({"  default_type: water_flexo": "  default_type: solvent"}, "inks.default_type: names ink type 'solvent'"),
        ({"    gold: metallic": "    gold: glitter"}, "inks.by_name.gold: names ink type 'glitter'"),
        ({"      above: 2\n      step: 1": "      above: 2\n      step: -1"}, "grading.rules.more_inks.step"),
        ({"version: 1": "version: one"}, "version: expected a whole number, got 'one'"),
        ({"updated: 2026-11-01": "updated: soon"}, "updated: expected a date YYYY-MM-DD, got 'soon'"),
        ({"limits:\n": "limits: [\n"}, "is not valid YAML"),
    ],
)
def test_a_bad_policy_file_is_a_clear_error_naming_the_file_and_key(tmp_path, replacements, message):
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(**replacements))
    with pytest.raises(InputError, match=re.escape(message)) as err:
        load_policy(path)
    assert str(path) in str(err.value)


def test_a_missing_policy_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"cannot read gate policy .*nope\.yaml"):
        load_policy(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------------------------------
# A night on a small lake


def artwork_colours(lake: LocalLake, key: str) -> set[str]:
    rgb = np.asarray(Image.open(io.BytesIO(lake.read_bytes(key))).convert("RGB")).reshape(-1, 3)
    return {"#" + bytes(int(v) for v in c).hex() for c in np.unique(rgb, axis=0)}


def test_counts_reconcile_and_gate_json_records_policy_and_materials(gated):
    lake, _, _, gate, _ = gated
    c = gate["counts"]
    assert c["passed"] + c["optimised"] + c["rejected"] == c["designs"] == 5
    assert (c["passed"], c["optimised"], c["rejected"], c["fallbacks"], c["fallback_plain"]) == (2, 1, 2, 1, 1)
    on_lake = json.loads(lake.read_bytes(STAGING + "gate.json"))
    assert on_lake == gate and on_lake["policy"]["version"] == 1 and on_lake["materials"]["version"] == 1
    assert on_lake["policy"]["limits"]["max_total_ink_coverage"] == 0.6
    status = {d["design_id"]: d["status"] for d in gate["designs"]}
    assert status == {
        "d20261102-s0-00": "passed",
        "d20261102-s0-01": "optimised",
        "d20261102-s1-00": "passed",
        "d20261102-s1-01": "rejected",
        "d20261102-sx-00": "rejected",
        "d20261102-sx-plain": "fallback",
    }
    table = pq.read_table(lake.root / STAGING / "sustainability.parquet").to_pandas()
    assert set(table["design_id"]) == set(status) and len(table) == c["pairs"]  # one row per design x box
    per_design = table.groupby("design_id")["box_code"].apply(set).to_dict()
    assert all(per_design[d] == {p["box_code"] for p in spec_of(lake, d)["print_files"]}
               for d in status if status[d] != "rejected")  # fmt: skip


def test_optimisation_merges_one_ink_and_rewrites_the_files(gated):
    lake, _, _, gate, before = gated
    prefix = STAGING + "segment=0/d20261102-s0-01/"
    spec = spec_of(lake, "d20261102-s0-01")
    note = spec["optimised"]
    assert note["action"] == "merge_ink_into_paper" and note["ink"]["name"] == "yellow"
    assert note["rules"] == ["max_total_ink_coverage"] and "thin the pattern" in note["why"]
    assert note["before"]["ink_coverage_total"] > 0.6 >= note["after"]["ink_coverage_total"]
    assert [i["name"] for i in spec["inks"]] == ["navy"] and spec["inks"][0]["coverage"] == pytest.approx(0.375)
    for name in ("artwork.png", "preview.png", "mockup.png", "spec.json"):
        assert hashlib.sha256(lake.read_bytes(prefix + name)).hexdigest() != before["hashes"][prefix + name], name
    assert artwork_colours(lake, prefix + "artwork.png") == {PAPER_HEX, "#1f2a44"}
    assert before["s0-01-inks"] and all(v == {"Ink navy", "Ink yellow"} for v in before["s0-01-inks"].values())
    for pdf_key in before["s0-01-inks"]:  # every print file: the same name, one separation fewer
        assert ink_separations(lake.read_bytes(pdf_key)) == {"Ink navy"}
        assert hashes(lake, pdf_key)[pdf_key] != before["hashes"][pdf_key]
    table = pq.read_table(lake.root / STAGING / "sustainability.parquet").to_pandas()
    rows = table[table["design_id"] == "d20261102-s0-01"]
    assert (rows["gate_status"] == "optimised").all() and rows["design_rules_passed"].all()
    assert (rows["n_inks"] == 1).all() and (rows["ink_coverage_total"] <= 0.6).all()
    assert json.loads(rows["optimised"].iloc[0])["ink"]["name"] == "yellow"


def test_a_design_that_still_fails_is_rejected_and_its_orders_move_to_a_passing_design(gated):
    lake, _, _, gate, before = gated
    rejected = f"designs/rejected/ds={DS}/d20261102-s1-01/"
    staged_files = {k.rsplit("/", 1)[-1] for k in before["hashes"] if "/d20261102-s1-01/" in k}
    assert {o.key.rsplit("/", 1)[-1] for o in lake.list(rejected)} == staged_files | {"reasons.json"}
    assert not lake.list(STAGING + "segment=1/d20261102-s1-01/")
    reasons = json.loads(lake.read_bytes(rejected + "reasons.json"))
    assert reasons["policy"] == {"name": "eu-ecommerce-baseline", "version": 1}
    failed = [f for f in reasons["failed_rules"] if f["rule"] == "max_total_ink_coverage"]
    assert failed and all(f["measured"] > 0.6 and f["limit"] == 0.6 and f["box_code"] for f in failed)
    attempt = reasons["optimisation"]
    assert attempt["ink"]["name"] == "purple" and attempt["still_failing"][0]["rule"] == "max_total_ink_coverage"

    original = before["orders"]
    moved = original[original["design_id"] == "d20261102-s1-01"]
    assert len(moved) > 0  # the sample night gives this design orders
    gated_orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    assert len(gated_orders) == len(original) and list(gated_orders["order_id"]) == list(original["order_id"])
    now = gated_orders.set_index("order_id").loc[moved["order_id"]]
    assert (now["design_id"] == "d20261102-s1-00").all() and (now["reassigned_from"] == "d20261102-s1-01").all()
    assert (now["reassigned_to"] == "sibling").all()
    segment = next(s for s in gate["segments"] if s["segment_id"] == 1)
    assert segment["rejected"] == ["d20261102-s1-01"] and segment["fallback"] is None and segment["pass_rate"] == 0.5


def test_a_segment_without_a_passing_design_gets_a_plain_box(gated):
    lake, _, _, gate, before = gated
    segment = next(s for s in gate["segments"] if s["segment_id"] == -1)
    fallback = segment["fallback"]
    assert fallback["kind"] == "plain" and fallback["design_id"] == "d20261102-sx-plain"
    assert "no published design of segment -1" in fallback["previous_skipped"]
    spec = spec_of(lake, "d20261102-sx-plain")
    assert spec["fallback"]["kind"] == "plain" and spec["inks"] == [] and spec["paper_coverage"] == 1.0
    assert {p["box_code"] for p in spec["print_files"]} == {"0201-R3", "0201-R4", "0201-R5", "0427-M7"}
    for pf in spec["print_files"]:
        assert ink_separations(lake.read_bytes(pf["pdf"])) == {"Ink Black"}  # logo and message only
    assert artwork_colours(lake, design_prefix(DS, -1, "d20261102-sx-plain") + "artwork.png") == {PAPER_HEX}
    orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    mine = orders[orders["segment_id"] == -1]
    assert len(mine) == segment["orders"] > 0 and (mine["design_id"] == "d20261102-sx-plain").all()
    assert (mine["reassigned_to"] == "fallback").all() and spec["orders"] == len(mine)


def test_every_order_keeps_a_design_and_a_print_file_for_its_box(gated):
    lake, *_ = gated
    orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    staged = {o.key for o in lake.list(STAGING)}
    for row in orders.itertuples():
        inner = f"{row.inner_length_mm:g}x{row.inner_width_mm:g}x{row.inner_height_mm:g}"
        assert row.print_file in staged and row.print_file.endswith(
            f"/{row.design_id}/dieline-{row.box_code}-{inner}.pdf"
        )


def test_esr_failures_are_reported_but_never_reject_a_design(gated):
    lake, *_ = gated
    table = pq.read_table(lake.root / STAGING / "sustainability.parquet").to_pandas()
    over = table[table["esr_max"] > 0.5]
    assert len(over) > 0 and not over["passed"].any()
    for row in over.itertuples():
        rules = json.loads(row.failed_rules)
        assert {"rule": "max_esr", "measured": row.esr_max, "limit": 0.5} in rules
        assert any("no better box existed in the catalog" in r for r in row.reasons)
    kept = over[over["gate_status"].isin(["passed", "optimised", "fallback"])]
    assert len(kept) > 0 and kept["design_rules_passed"].all()


def test_a_rerun_of_the_gate_gives_the_same_decisions_and_files(gated):
    lake, settings, policy, gate, _ = gated
    first = hashes(lake)
    again = gate_night(settings, DS, policy, log_to_mlflow=False)
    assert again == gate and hashes(lake) == first


def test_a_rerun_with_a_looser_policy_brings_rejected_designs_back(staged, tmp_path):
    lake, settings = copy_night(staged, tmp_path / "lake")
    restage(lake, "d20261102-sx-00", (180, 24))
    tight = tmp_path / "policy.yaml"
    tight.write_text(policy_text(**COVERAGE_060))
    first = gate_night(settings, DS, tight, log_to_mlflow=False)
    assert first["counts"]["rejected"] == 1 and lake.list(f"designs/rejected/ds={DS}/")
    again = gate_night(settings, DS, log_to_mlflow=False)  # the shipped policy: 120%
    assert (again["counts"]["passed"], again["counts"]["rejected"], again["counts"]["fallbacks"]) == (5, 0, 0)
    assert not lake.list(f"designs/rejected/ds={DS}/") and not lake.exists(
        design_prefix(DS, -1, "d20261102-sx-plain") + "spec.json"
    )  # fmt: skip
    orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    assert orders["reassigned_from"].isna().all() and (orders["segment_id"] == -1).sum() > 0
    assert (orders.loc[orders["segment_id"] == -1, "design_id"] == "d20261102-sx-00").all()


def publish_fake_batch(lake: LocalLake, night: str, design_id: str, spec: dict, artwork: bytes, segment_id: int):
    """A complete published batch as the publish step writes it: files, manifest with designs, _SUCCESS, LATEST."""
    base = f"designs/{design_id}/"
    manifest = {"ds": night, "designs": [{"design_id": design_id, "segment_id": segment_id, "orders": 3,
                                          "files": [base + "artwork.png", base + "spec.json"]}]}  # fmt: skip
    batch = fake_batch(lake, night, {
        base + "spec.json": json.dumps({**spec, "design_id": design_id, "segment_id": segment_id}).encode(),
        base + "artwork.png": artwork,
    }, manifest)  # fmt: skip
    lake.write_text("published/LATEST", night + "\n")
    return batch


def test_a_segment_falls_back_to_its_last_published_design(staged, tmp_path):
    lake, settings = copy_night(staged, tmp_path / "lake")
    restage(lake, "d20261102-sx-00", (180, 24))  # fails coverage <= 60% even after the optimisation
    donor = spec_of(lake, "d20261102-s0-00")  # yellow stripes (22%): passes tonight's policy
    artwork = lake.read_bytes(design_prefix(DS, 0, "d20261102-s0-00") + "artwork.png")
    batch = publish_fake_batch(lake, "2026-11-01", "d20261101-sx-00", donor, artwork, -1)
    lake.write_text("published/ds=2026-10-31/batch=0123456789abcdef/manifest.json", "{}")  # no _SUCCESS: unseen
    lake.write_text("published/LATEST", "2026-11-05\n")  # a later night published already (a backfill)
    found = last_published_design(lake, -1, DS)
    assert found == {"ds": "2026-11-01", "design_id": "d20261101-sx-00", "segment_id": -1,
                     "spec_key": batch.key("designs/d20261101-sx-00/spec.json"),
                     "artwork_key": batch.key("designs/d20261101-sx-00/artwork.png")}  # fmt: skip
    assert last_published_design(lake, 0, DS) is None and last_published_design(lake, -1, "2026-11-01") is None

    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(**COVERAGE_060))
    gate = gate_night(settings, DS, policy, log_to_mlflow=False)
    fallback = next(s for s in gate["segments"] if s["segment_id"] == -1)["fallback"]
    assert fallback == {"kind": "previous", "from_ds": "2026-11-01", "design_id": "d20261101-sx-00",
                        "why": "no design of segment -1 passed the gate"}  # fmt: skip
    assert gate["counts"]["fallback_previous"] == 1 and gate["counts"]["rejected"] == 1
    spec = spec_of(lake, "d20261101-sx-00")
    assert spec["fallback"]["kind"] == "previous" and spec["ds"] == DS and spec["segment_id"] == -1
    assert {p["box_code"] for p in spec["print_files"]} == {"0201-R3", "0201-R4", "0201-R5", "0427-M7"}
    assert artwork_colours(lake, design_prefix(DS, -1, "d20261101-sx-00") + "artwork.png") == {PAPER_HEX, "#f2c230"}
    orders = pq.read_table(lake.root / STAGING / "order_designs_gated.parquet").to_pandas()
    assert (orders.loc[orders["segment_id"] == -1, "design_id"] == "d20261101-sx-00").all()


def test_cli_gate_prints_json_and_fails_cleanly_on_a_bad_policy(staged, tmp_path, capsys):
    from packaging_pipeline.cli import main

    lake, _ = copy_night(staged, tmp_path / "lake")
    assert main(["gate", "--lake", lake.uri, "--ds", DS, "--json", "--no-mlflow"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["passed"] == 5 and result["counts"]["fallbacks"] == 0  # the shipped policy
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_text(**{"  max_inks: 3": "  max_inks: 0"}))
    assert main(["gate", "--lake", lake.uri, "--ds", DS, "--policy", str(bad), "--no-mlflow"]) == 2
    assert f"{bad}: limits.max_inks: expected a number >= 1, got 0" in capsys.readouterr().err


def test_gating_a_night_without_designs_is_a_clear_error(staged, tmp_path):
    _, settings = copy_night(staged, tmp_path / "lake")
    with pytest.raises(InputError, match="no staged designs for ds=2026-11-01.*designs --ds 2026-11-01"):
        gate_night(settings, "2026-11-01", log_to_mlflow=False)
