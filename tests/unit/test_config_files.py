"""Every config file goes through core.config_files: the shipped files load unchanged, and a broken user copy
is an InputError naming the file, the field path and the fix."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from pydantic import Field

from packaging_pipeline.core.config_files import ConfigModel, Number, Whole, field_path, load_config
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.batch import load_messages
from packaging_pipeline.design.boxes import load_box_catalog, parse_box_catalog
from packaging_pipeline.design.materials import load_materials, parse_materials
from packaging_pipeline.feedback.policy import load_policy as load_feedback_policy
from packaging_pipeline.gate.policy import load_policy as load_gate_policy
from packaging_pipeline.gate.policy import parse_policy


def shipped(name: str) -> str:
    return resources.files("packaging_pipeline").joinpath("data", name).read_text(encoding="utf-8")


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The shipped ``name`` with one line changed, written to ``tmp_path``."""
    text = shipped(name)
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def error_of(load, *args) -> str:
    with pytest.raises(InputError) as err:
        load(*args)
    return str(err.value)


# -- the shipped files ----------------------------------------------------------------------------
def test_shipped_gate_policy_loads_as_before():
    policy = load_gate_policy()
    assert (policy.version, policy.name, policy.updated, policy.source) == (
        1, "eu-ecommerce-baseline", "2026-11-01", "packaging_pipeline/data/gate_policy.yaml",
    )  # fmt: skip
    assert (policy.max_esr, policy.max_inks, policy.max_total_ink_coverage, policy.min_grade) == (0.5, 3, 1.2, "B")
    assert policy.grades == ("A", "B", "C", "D", "E") and list(policy.rules) == [
        "crosslinked_ink", "metallic_ink", "more_inks", "high_coverage", "not_mono_material",
    ]  # fmt: skip
    more = policy.rules["more_inks"]
    assert (more.step, more.above, type(more.above)) == (1, 2.0, float)
    assert policy.rules["crosslinked_ink"].above is None and policy.rules["crosslinked_ink"].step == 2
    assert policy.rules["high_coverage"].reason == "high ink coverage puts more ink into the recycled fibre"
    assert policy.default_ink_type == "water_flexo" and dict(policy.ink_types_by_name) == {"gold": "metallic"}
    assert policy.fibre_factors == {
        "corrugated_eu_2021", "corrugated_eu_2018", "folding_carton_grave", "folding_carton_gate", "sack_kraft",
    }  # fmt: skip
    assert policy.optimise is True and policy.fallback_lookback_days == 30


def test_shipped_materials_load_as_before():
    lib = load_materials()
    assert lib.version == 1 and lib.source == "packaging_pipeline/data/materials.yaml"
    assert lib.board_codes == ("E", "B", "C", "BC")
    bc = lib.board("BC")
    assert (bc.liners_gsm, bc.mediums_gsm, bc.take_up, bc.starch_gsm, bc.combined_gsm) == (
        (125.0, 100.0, 125.0), (100.0, 100.0), (1.34, 1.45), 16.0, 645.0,
    )  # fmt: skip
    assert all(type(v) is float for v in (*bc.liners_gsm, bc.caliper_mm, bc.starch_gsm, bc.combined_gsm))
    assert [i.code for i in lib.inks] == ["water_flexo", "uv_cured", "metallic"]
    assert [f.code for f in lib.emission_factors][:2] == ["corrugated_eu_2021", "corrugated_eu_2018"]
    plastics = lib.emission_factor("recycled_plastics")
    assert (plastics.value, plastics.year, plastics.note[:13]) == (1.4, 2009, "the source gi")
    assert lib.emission_factor("pet").note == "" and lib.ink("water_flexo").assumption.startswith("dry laydown")


def test_shipped_box_catalog_loads_as_before():
    catalog = load_box_catalog()
    assert catalog.source == "packaging_pipeline/data/box_catalog.yaml" and catalog.padding_mm == 5.0
    assert len(catalog.boxes) == 20 and catalog.boxes[0].code == "0427-M1"
    first = catalog.boxes[0]
    assert (first.style, first.inner_mm, first.board, first.custom) == ("0427", (150.0, 100.0, 50.0), "E", False)
    assert first.blank_area_m2 == pytest.approx(0.0957765, abs=1e-9)
    areas = [b.blank_area_m2 for b in catalog.boxes]
    assert areas == sorted(areas)
    custom = catalog.custom
    assert (custom.enabled, custom.style, custom.board, custom.step_mm, custom.max_inner_mm) == (
        False, "0201", "C", 10.0, (800.0, 600.0, 600.0),
    )  # fmt: skip


def test_shipped_feedback_policy_and_messages_load_as_before():
    policy = load_feedback_policy()
    assert policy.as_dict() == {
        "version": 1, "event_reward": {"unboxed": 0.6, "shared": 1.0, "returned": 0.1, "complaint": 0.0},
        "rating_weight": 0.5, "prior": (1.0, 1.0), "half_life_days": 14.0, "lookback_days": 60,
        "exploration_floor": 0.15, "gan_feedback_weighting": False, "gan_min_weight": 0.25,
    }  # fmt: skip
    messages = load_messages()
    assert list(messages)[:2] == ["apparel", "shoes"] and len(messages) == 10
    assert messages["default"] == "Packed with care, just for you"


# -- one broken field per file type: the message names the file, the field and the fix -----------
def test_a_broken_gate_policy_names_file_field_and_fix(tmp_path):
    path = broken_copy(tmp_path, "gate_policy.yaml", "  max_esr: 0.50", "  max_esr: 1.5")
    assert error_of(load_gate_policy, path) == f"gate policy {path}: limits.max_esr: expected a number <= 1, got 1.5"


def test_a_broken_materials_file_names_file_field_and_fix(tmp_path):
    path = broken_copy(tmp_path, "materials.yaml", "    caliper_mm: 1.5\n", "    caliper_mm: -1.5\n")
    message = error_of(load_materials, path)
    assert message == f"materials file {path}: board_grades.E.caliper_mm: expected a number > 0, got -1.5"


def test_a_broken_box_catalog_names_file_field_and_fix(tmp_path):
    path = broken_copy(tmp_path, "box_catalog.yaml", "inner_mm: [200, 150, 40]", "inner_mm: [200, -150, 40]")
    message = error_of(load_box_catalog, path)
    assert message == f"box catalog {path}: boxes[1] ('0427-M2').inner_mm[1]: expected a number > 0, got -150"


def test_a_broken_feedback_policy_names_file_field_and_fix(tmp_path):
    path = broken_copy(tmp_path, "feedback_policy.yaml", "exploration_floor: 0.15", "exploration_floor: 1.5")
    message = error_of(load_feedback_policy, str(path))
    assert message == f"feedback policy {path}: allocation.exploration_floor: expected a share in [0, 1], got 1.5"


def test_broken_segment_messages_name_file_field_and_fix(tmp_path):
    path = broken_copy(tmp_path, "messages.yaml", "  default: Packed with care, just for you", "  default: 5")
    message = error_of(load_messages, str(path))
    assert message == (
        f"segment messages {path}: messages.default: expected the message for every other category as text, got 5"
    )


# -- what every file gets from the one loader ------------------------------------------------------
def test_unknown_fields_are_errors_that_list_the_known_ones(tmp_path):
    path = broken_copy(tmp_path, "box_catalog.yaml", "  step_mm: 10", "  step_mm: 10\n  colour: brown")
    assert error_of(load_box_catalog, path) == (
        f"box catalog {path}: custom_sizes.colour: unknown field 'colour'; "
        "known fields: enabled, style, board, step_mm, max_inner_mm"
    )
    path = broken_copy(tmp_path, "materials.yaml", "    wall: double", "    wall: double\n    colour: brown")
    assert "board_grades.BC.colour: unknown field 'colour'; known fields: name, wall," in error_of(load_materials, path)


def test_all_problems_of_a_file_are_listed_one_per_line(tmp_path):
    text = shipped("gate_policy.yaml").replace("  max_inks: 3", "  max_inks: true").replace("version: 1", "version: 0")
    text = text.replace("  enabled: true", "  enabled: 1")
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    assert error_of(load_gate_policy, path).splitlines() == [
        f"gate policy {path}: 3 problems",
        "  version: expected a number >= 1, got 0",
        "  limits.max_inks: expected a whole number, got True",
        "  optimisation.enabled: expected true or false, got 1",
    ]


def test_unreadable_and_invalid_yaml_files_are_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert error_of(load_box_catalog, missing) == f"cannot read box catalog {missing}: No such file or directory. " \
                                                  "Check the path."  # fmt: skip
    assert error_of(load_feedback_policy, str(missing)).startswith(f"cannot read feedback policy {missing}: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("messages: [\n", encoding="utf-8")
    message = error_of(load_messages, str(bad))
    assert message.startswith(f"segment messages {bad} is not valid YAML: ") and f'in "{bad}", line 2' in message
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("version: 1\nname: caf\xe9\n".encode("latin-1"))
    assert error_of(load_gate_policy, latin1).startswith(f"cannot read gate policy {latin1}: it is not UTF-8 text")
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert error_of(load_messages, str(empty)) == (
        f"segment messages {empty}: top level: expected a mapping (key: value lines), got nothing (null)"
    )


# -- cross-field checks and the project's type rules, as validators ---------------------------------
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("combined_gsm: 385", "combined_gsm: 500", "board_grades.E.combined_gsm: expected 385 (liners + mediums x "
         "take-up + starch, within 1%), got 500; fix one or the other"),
        ("combined_gsm: 385", "combined_gsm: 388.8", None),  # within GRAMMAGE_TOLERANCE
        ("liners_gsm: [125, 100, 125]", "liners_gsm: [125, 125]", "board_grades.BC.liners_gsm: expected one liner "
         "more than there are mediums (3 liners), got 2"),
        ("flutes: [B, C]", "flutes: [B]", "board_grades.BC: expected one take_up factor and one flute per medium"),
        ("    emission_factor: corrugated_eu_2021\n    assumptions:\n      - \"take-up factor 1.27",
         "    emission_factor: nope\n    assumptions:\n      - \"take-up factor 1.27",
         "board_grades.E.emission_factor: names 'nope', which is not among emission_factors; use one of "
         "corrugated_eu_2021, "),
        ("crosslinked: true", "crosslinked: 1", "inks.uv_cured.crosslinked: expected true or false, got 1"),
        ("year: 2009\n    source: PlasticsEurope eco-profiles (via Hopewell et al. 2009, Phil. Trans. R. Soc. B, "
         "Table 3)\n  hdpe", "year: 2009.0\n    source: x\n  hdpe",
         "emission_factors.ldpe.year: expected a whole number, got 2009.0"),
        ("scope: fossil, cradle-to-gate", "scope: fossil", "emission_factors.sack_kraft.scope: must name exactly one"),
        ("wall: double", "wall: quad", "board_grades.BC.wall: expected 'single', "
         "'double' or 'triple', got 'quad'"),
    ],
)  # fmt: skip
def test_materials_checks(old, new, message):
    text = shipped("materials.yaml")
    assert text.count(old) == 1, old
    if message is None:
        assert parse_materials(text.replace(old, new), "m.yaml").board("E").combined_gsm == 388.8
        return
    with pytest.raises(InputError, match=re.escape(message)):
        parse_materials(text.replace(old, new), "m.yaml")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  default_type: water_flexo", "  default_type: solvent", "inks.default_type: names ink type 'solvent', "
         "which is not an ink of packaging_pipeline/data/materials.yaml; use one of water_flexo, uv_cured, metallic"),
        ("    - sack_kraft", "    - ldpe_x", "mono_material.fibre_factors[4]: names 'ldpe_x', not an emission factor"),
        ("  min_recyclability_grade: B", "  min_recyclability_grade: F", "limits.min_recyclability_grade: expected "
         "one of ['A', 'B', 'C', 'D', 'E'] (grading.grades), got 'F'"),
        ("grades: [A, B, C, D, E]", "grades: [A, A]", "grading.grades: expected at least two distinct grades"),
        ("    metallic_ink:\n      step: 1", "    metallic_ink:\n      above: 1\n      step: 1",
         "grading.rules.metallic_ink.above: unknown field 'above'; known fields: step, reason"),
        ("      above: 2\n", "", "grading.rules.more_inks.above: missing; add it"),
        ("updated: 2026-11-01", "updated: soon", "updated: expected a date YYYY-MM-DD, got 'soon'"),
        ("  max_inks: 3", "  max_inks: 3.0", "limits.max_inks: expected a whole number, got 3.0"),
        ("  max_esr: 0.50", "  max_esr: .nan", "limits.max_esr: expected a finite number, got nan"),
        ("  max_esr: 0.50", "  max_esr: '0.5'", "limits.max_esr: expected a number, got '0.5'"),
        ("  lookback_days: 30", "  lookback_days: 100000000", "fallback.lookback_days: expected a number <= 3650"),
    ],
)  # fmt: skip
def test_gate_policy_checks(old, new, message):
    text = shipped("gate_policy.yaml")
    assert text.count(old) == 1, old
    with pytest.raises(InputError, match=re.escape(message)):
        parse_policy(text.replace(old, new), "p.yaml")


def test_gate_policy_keeps_what_it_always_accepted():
    text = shipped("gate_policy.yaml")
    quoted = parse_policy(text.replace("updated: 2026-11-01", "updated: '2026-11-01'"))
    assert quoted == parse_policy(text) and quoted.source == "gate policy"
    upper = parse_policy(text.replace("    gold: metallic", "    GOLD: uv_cured"))
    assert upper.ink_types_by_name == {"gold": "uv_cured"}
    assert parse_policy(text.replace("  by_name:\n    gold: metallic", "  by_name:")).ink_types_by_name == {}
    assert parse_policy(text.replace("max_esr: 0.50", "max_esr: 1")).max_esr == 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("code: M2, style: 0427, inner_mm: [200, 150, 50], board: E", "boxes[1] ('M2').style: expected a quoted "
         'FEFCO code such as "0427", got the number 279'),
        ("code: M2, style: '0200', inner_mm: [200, 150, 50], board: E", "boxes[1] ('M2').style: expected one of "
         "'0427', '0201'"),
        ("code: M1, style: '0201', inner_mm: [200, 150, 50], board: E", "boxes[1] ('M1').code: code 'M1' appears "
         "twice; box codes must be unique"),
        ("code: M2, style: '0201', inner_mm: [200, 150, 25], board: E", "boxes[1] ('M2').inner_mm: expected every "
         "size above 30 mm (twice the 15 mm padding_mm), got 200x150x25: no room is left inside the padding"),
        ("code: M2, style: '0201', inner_mm: [200, 150], board: E", "boxes[1] ('M2').inner_mm: expected three sizes "
         "in mm [length, width, height], got a list [200, 150]"),
        ("code: M2, style: '0201', inner_mm: [200, true, 50], board: E", "boxes[1] ('M2').inner_mm[1]: expected a "
         "number, got True"),
        ("code: M2, style: '0201', inner_mm: [200, 150, 50], board: Z", "boxes[1] ('M2').board: unknown board grade "
         "'Z'"),
        ("code: M2, style: '0427', inner_mm: [200, 100, 150], board: E", "boxes[1] ('M2'): inner size 200x100x150: "
         "FEFCO 0427 takes H up to W"),
        ("code: '  ', style: '0201', inner_mm: [200, 150, 50], board: E", "boxes[1] ('  ').code: expected a "
         'non-empty box code such as "0427-M3"'),
    ],
)  # fmt: skip
def test_box_catalog_checks(tmp_path, entry, message):
    path = tmp_path / "boxes.yaml"
    good = "code: M1, style: '0427', inner_mm: [150, 100, 50], board: E"
    path.write_text(f"padding_mm: 15\nboxes:\n  - {{{good}}}\n  - {{{entry}}}\n", encoding="utf-8")
    got = error_of(load_box_catalog, path)
    assert got.startswith(f"box catalog {path}: ") and message in got


def test_box_catalog_defaults_and_parsed_documents():
    catalog = parse_box_catalog({"boxes": [{"code": "A", "style": "0201", "inner_mm": (100, 100, 100), "board": "b"}]})
    (box,) = catalog.boxes
    assert (box.board, box.inner_mm, catalog.padding_mm) == ("B", (100.0, 100.0, 100.0), 5.0)
    assert catalog.source == "<inline>"
    assert catalog.custom == type(catalog.custom)()  # custom_sizes absent: the defaults, off
    with pytest.raises(InputError, match=re.escape("box catalog src: boxes: expected a non-empty list of {code, ")):
        parse_box_catalog({"boxes": []}, "src")
    with pytest.raises(InputError, match=re.escape("box catalog src: custom_sizes.enabled: expected true or false")):
        box = {"code": "A", "style": "0201", "inner_mm": [100] * 3, "board": "B"}
        parse_box_catalog({"custom_sizes": {"enabled": None}, "boxes": [box]}, "src")


def test_feedback_policy_checks_and_reads_numbers_as_before(tmp_path):
    path = broken_copy(tmp_path, "feedback_policy.yaml", "    shared: 1.0", "    shared: 2")
    path.write_text(path.read_text().replace("    complaint: 0.0   # about the box or its print\n", ""))
    assert error_of(load_feedback_policy, str(path)).splitlines() == [
        f"feedback policy {path}: 2 problems",
        "  reward.events: lacks complaint; expected a reward in [0, 1] for each of unboxed, shared, returned, "
        "complaint",
        "  reward.events.shared: expected a reward in [0, 1], got 2.0",
    ]
    path = broken_copy(tmp_path, "feedback_policy.yaml", "lookback_days: 60", "lookback_days: '45'")
    assert load_feedback_policy(str(path)).lookback_days == 45  # int() as always
    path = broken_copy(tmp_path, "feedback_policy.yaml", "half_life_days: 14", "half_life_days: 0")
    assert "half_life_days: expected a number of days > 0, got 0.0" in error_of(load_feedback_policy, str(path))


# -- the loader itself (core only) -----------------------------------------------------------------
class _Tiny(ConfigModel):
    model_config = {"title": "tiny file"}

    size: Number = Field(gt=0)
    count: Whole = 1


def test_load_config_reads_text_paths_and_names_the_source(tmp_path):
    assert load_config(_Tiny, "unused.yaml", text="size: 2\n").size == 2.0
    path = tmp_path / "t.yaml"
    path.write_text("size: 0\ncount: false\nextra: 1\n", encoding="utf-8")
    assert error_of(load_config, _Tiny, "unused.yaml", path).splitlines() == [
        f"tiny file {path}: 3 problems",
        "  size: expected a number > 0, got 0",
        "  count: expected a whole number, got False",
        "  extra: unknown field 'extra'; known fields: size, count",
    ]
    with pytest.raises(InputError, match=r"^tiny file mine\.yaml: size: missing; add it$"):
        load_config(_Tiny, "unused.yaml", text="count: 2\n", source="mine.yaml")


def test_field_paths():
    doc = {"boxes": [{"code": "A"}, {"code": "B", "inner_mm": [1, 2, 3]}, 5]}
    assert field_path(("boxes", 1, "inner_mm", 2), doc) == "boxes[1] ('B').inner_mm[2]"
    assert field_path(("boxes", 2), doc) == "boxes[2]"
    assert field_path(("limits", "max_esr")) == "limits.max_esr"
    assert field_path(()) == "top level"
