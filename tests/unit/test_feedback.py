"""The feedback loop at the library level: ingest with quarantine, posteriors, decay, policy files.

Night 2's plan from night 1's feedback (MLflow), the design stage on a published batch and the feedback
DAG are in tests/integration/test_feedback_night.py."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json, read_parquet_prefix
from packaging_pipeline.design.batch import plan_designs
from packaging_pipeline.feedback.bandit import motif_class_weights
from packaging_pipeline.feedback.ingest import ingest_feedback
from packaging_pipeline.feedback.policy import load_policy
from tests.support.feedback import NIGHT1, NIGHT2, PROFILES, feedback_event, fitted_orders, write_raw_feedback


def test_ingest_quarantines_with_reasons_and_counts_reconcile(night1):
    lake, settings, plans, fitted = night1
    order, design = fitted["order_id"].iloc[0], fitted["design_id"].iloc[0]
    other_design = next(p.design_id for p in plans if p.design_id != design)
    rows = [
        feedback_event(1, order, design, "shared", 5),
        feedback_event(2, fitted["order_id"].iloc[1], fitted["design_id"].iloc[1], "complaint", None),
        feedback_event(3, "O-NOT-PUBLISHED", design),  # unknown order
        feedback_event(4, order, "d20261102-s9-00"),  # unknown design (and not the order's)
        feedback_event(5, order, other_design),  # both known, but the order got another design
        feedback_event(6, order, design, "liked"),  # bad event type
        feedback_event(7, order, design, "unboxed", 7),  # rating outside 1-5
        feedback_event(1, order, design, "shared", 5),  # duplicate feedback_id
        "{not json",
    ]
    write_raw_feedback(lake, NIGHT2, rows)
    with pytest.raises(InputError, match=r"partition .*: 7 of 9 rows rejected \(limit 5\.0%\).*feedback_unmatched"):
        ingest_feedback(settings, NIGHT2)  # outputs and report are written before the limit fails the run
    assert read_json(lake, keys.feedback_report_key(NIGHT2))["unmatched"] == 3
    settings = settings.replace(max_bad_row_share=1.0)
    report = ingest_feedback(settings, NIGHT2)
    assert report["read"] == 9 == report["joined"] + report["quarantined"] + report["unmatched"]
    assert (report["joined"], report["quarantined"], report["unmatched"]) == (2, 4, 3)
    assert report["reasons"] == {
        "unknown_order": 1, "unknown_design": 1, "design_mismatch": 1, "bad_enum:event": 1,
        "out_of_range:rating": 1, "duplicate_id": 1, "malformed_json": 1,
    }  # fmt: skip
    joined = read_parquet_prefix(lake, keys.feedback_events_prefix(NIGHT2)).to_pandas()
    first = joined.set_index("feedback_id").loc["F000001"]
    planned = next(p for p in plans if p.design_id == design)
    assert (first.segment_id, first.motif, first.box_code, first.published_ds) == (
        planned.segment_id, planned.motif, "0427-M2", NIGHT1)  # fmt: skip
    assert first.palette == "+".join(planned.ink_names)
    unmatched = read_parquet_prefix(lake, keys.feedback_unmatched_prefix(NIGHT2)).to_pandas()
    assert sorted(unmatched["reason"]) == ["design_mismatch", "unknown_design", "unknown_order"]
    assert unmatched.set_index("feedback_id").loc["F000004", "reasons"] == "unknown_design;design_mismatch"
    assert read_json(lake, keys.feedback_report_key(NIGHT2)) == report

    # A rerun replaces rather than duplicates.
    assert ingest_feedback(settings, NIGHT2) == report
    assert len(read_parquet_prefix(lake, keys.feedback_events_prefix(NIGHT2))) == 2


def test_decay_halves_old_evidence():
    from packaging_pipeline.feedback.statistics import arm_posteriors

    policy = load_policy()
    events = pd.DataFrame({
        "segment_id": [0, 0], "motif": ["dots", "dots"], "event": ["shared", "shared"], "rating": [None, None],
        "event_time": [pd.Timestamp("2026-11-10T12:00Z"),
                       pd.Timestamp("2026-11-10T12:00Z") - pd.Timedelta(days=policy.half_life_days)],
    })  # fmt: skip
    post = arm_posteriors(events, "motif", "2026-11-10", policy).iloc[0]
    half = policy.half_life_days  # ages count from the end of the night: 12 h, and one half-life more
    assert post["weight"] == pytest.approx(0.5 ** (0.5 / half) + 0.5 ** (0.5 / half + 1))
    assert post["alpha"] == pytest.approx(policy.prior[0] + post["weight"])  # shared = reward 1
    assert post["beta"] == pytest.approx(policy.prior[1])


def test_gan_weights_off_by_default_and_follow_feedback_when_on(tmp_path):
    stats = {"motif": [{"segment_id": 0, "arm": "dots", "mean": 0.9, "weight": 50.0},
                       {"segment_id": 0, "arm": "waves", "mean": 0.1, "weight": 50.0}]}  # fmt: skip
    assert motif_class_weights(stats, ["dots", "waves", "checks"]) is None
    from importlib import resources

    policy_file = tmp_path / "policy.yaml"
    doc = resources.files("packaging_pipeline").joinpath("data/feedback_policy.yaml").read_text("utf-8")
    policy_file.write_text(doc.replace("feedback_weighting: false", "feedback_weighting: true"))
    weights = motif_class_weights(stats, ["dots", "waves", "checks"], load_policy(str(policy_file)))
    assert weights["dots"] > weights["checks"] > weights["waves"] > 0
    assert np.mean(list(weights.values())) == pytest.approx(1.0)


def test_bad_policy_is_named(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nreward: {events: {unboxed: 2}, rating_weight: 0.5}\nprior: {alpha: 1, beta: 1}\n"
                   "half_life_days: 14\nlookback_days: 60\nallocation: {exploration_floor: 0.1}\n")  # fmt: skip
    lines = r"(?s)p\.yaml: .*reward\.events: lacks shared.*events\.unboxed: expected a reward in \[0, 1\], got 2\.0"
    with pytest.raises(InputError, match=lines):
        load_policy(str(bad))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("alpha", ".nan", r"prior\.alpha: expected a finite number"),
    ("alpha", ".inf", r"prior\.alpha: expected a finite number"),
    ("alpha", "-.inf", r"prior\.alpha: expected a finite number"),
    ("lookback_days", "100000000", r"lookback_days: expected a whole number of days in \[1, 3650\]"),
])  # fmt: skip
def test_a_policy_number_out_of_its_range_is_named(tmp_path, field, value, message):
    from importlib import resources

    doc = resources.files("packaging_pipeline").joinpath("data/feedback_policy.yaml").read_text("utf-8")
    bad = tmp_path / "p.yaml"
    bad.write_text(re.sub(rf"(?m)^(\s*){field}: \S+", rf"\g<1>{field}: {value}", doc, count=1))
    assert f"{field}: {value}" in bad.read_text()
    with pytest.raises(InputError, match=message):
        load_policy(str(bad))


def test_palette_posteriors_choose_each_designs_ink_set():
    """A three-colour palette offers three ink pairs; feedback for one of them makes it the usual choice."""
    palette = [{"color": "navy", "hex": "#1f2a44"}, {"color": "yellow", "hex": "#f2c230"},
               {"color": "red", "hex": "#c0392b"}]  # fmt: skip
    profiles = [{**PROFILES[0], "palette": palette}]
    per_order, _ = fitted_orders(NIGHT2, 200)
    segment = pd.Series(0, index=per_order["order_id"])
    plain, _ = plan_designs(profiles, per_order, segment, 4, ds=NIGHT2)
    assert {p.ink_names for p in plain} == {("yellow", "navy")}  # no feedback: the palette's default pair
    assert all(p.allocation["palette"]["method"] == "default" for p in plain)

    liked = "red+navy"
    evidence = {0: {liked: (40.0, 2.0), "yellow+navy": (2.0, 40.0), "yellow+red": (2.0, 40.0)}}
    plans, _ = plan_designs(profiles, per_order, segment, 4, ds=NIGHT2, palette_posteriors=evidence)
    chosen = ["+".join(p.ink_names) for p in plans]
    assert chosen.count(liked) >= 3
    assert [p.motif for p in plans] == [p.motif for p in plain]  # no motif evidence: motifs still rotate
    pick = next(p.allocation["palette"] for p in plans if "+".join(p.ink_names) == liked)
    assert (pick["arm"], pick["alpha"], pick["beta"]) == (liked, 40.0, 2.0)


def test_an_asset_triggered_run_takes_the_ds_its_event_names():
    from types import SimpleNamespace

    from packaging_pipeline.airflow_support import triggered_ds

    events = {"packaging_feedback_landed": [SimpleNamespace(extra={"ds": "2026-11-05"}, timestamp=None),
                                            SimpleNamespace(extra={"ds": "2026-11-06"}, timestamp=None)]}  # fmt: skip
    assert triggered_ds({"triggering_asset_events": events, "params": {}}) == "2026-11-06"
    assert triggered_ds({"params": {"ds": "2026-11-04"}}) == "2026-11-04"
