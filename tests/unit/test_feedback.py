"""The feedback loop at the library level: ingest with quarantine, posteriors, and night 2's plan."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json, read_parquet_prefix, write_json
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import compose_design_files, plan_designs
from packaging_pipeline.feedback.loop import (
    FEEDBACK_EXPERIMENT,
    compute_design_stats,
    ingest_feedback,
    load_policy,
    motif_class_weights,
    posteriors_by_segment,
    published_designs,
)
from packaging_pipeline.publication.publish import assignments_key, design_file_key

NIGHT1, NIGHT2 = "2026-11-02", "2026-11-06"
PROFILES = [
    {"segment_id": s, "label": f"segment {s}", "palette": [{"color": "navy", "hex": "#1f2a44"},
                                                          {"color": "yellow", "hex": "#f2c230"}],
     "top_categories": [{"category": "home", "share": 1.0}]}
    for s in (0, 1)
]  # fmt: skip


def _orders(ds: str, n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    ids = [f"O{ds.replace('-', '')}-{i:05d}" for i in range(n)]
    per_order = pd.DataFrame({
        "order_id": ids, "status": "fitted", "box_code": "0427-M2", "style": "0427", "inner_length_mm": 200.0,
        "inner_width_mm": 150.0, "inner_height_mm": 40.0, "board_grade": "E",
    })  # fmt: skip
    return per_order, pd.Series([i % 2 for i in range(n)], index=ids)


def _publish(lake: LocalLake, ds: str, plans, fitted: pd.DataFrame) -> None:
    """The parts of a published batch feedback reads: assignments, spec.json per design, _SUCCESS."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["order_id", "box_code", "design_id"])
    writer.writerows(fitted[["order_id", "box_code", "design_id"]].itertuples(index=False))
    lake.write_text(assignments_key(ds, "WH-1"), buf.getvalue())
    for p in plans:
        spec = {"design_id": p.design_id, "segment_id": p.segment_id, "motif": p.motif,
                "inks": [{"name": n, "hex": c} for c, n in zip(p.inks, p.ink_names, strict=True)]}  # fmt: skip
        write_json(lake, design_file_key(ds, p.design_id, "spec.json"), spec)
    lake.write_text(keys.published_success_key(ds), "{}")


def _write_raw(lake: LocalLake, ds: str, rows: list[dict]) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    lake.write_text(keys.raw_prefix("feedback", ds) + "part-00000.jsonl", "\n".join(lines) + "\n")


def _event(n: int, order: str, design: str, event: str = "unboxed", rating: int | None = 4) -> dict:
    return {"feedback_id": f"F{n:06d}", "event_time": f"{NIGHT2}T10:00:00Z", "order_id": order,
            "design_id": design, "event": event, "rating": rating}  # fmt: skip


@pytest.fixture
def night1(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    per_order, segment = _orders(NIGHT1)
    plans, fitted = plan_designs(PROFILES, per_order, segment, 4, ds=NIGHT1)
    _publish(lake, NIGHT1, plans, fitted)
    return lake, Settings(lake_uri=lake.uri), plans, fitted


def test_ingest_quarantines_with_reasons_and_counts_reconcile(night1):
    lake, settings, plans, fitted = night1
    order, design = fitted["order_id"].iloc[0], fitted["design_id"].iloc[0]
    other_design = next(p.design_id for p in plans if p.design_id != design)
    rows = [
        _event(1, order, design, "shared", 5),
        _event(2, fitted["order_id"].iloc[1], fitted["design_id"].iloc[1], "complaint", None),
        _event(3, "O-NOT-PUBLISHED", design),  # unknown order
        _event(4, order, "d20261102-s9-00"),  # unknown design (and not the order's)
        _event(5, order, other_design),  # both known, but the order got another design
        _event(6, order, design, "liked"),  # bad event type
        _event(7, order, design, "unboxed", 7),  # rating outside 1-5
        _event(1, order, design, "shared", 5),  # duplicate feedback_id
        "{not json",
    ]
    _write_raw(lake, NIGHT2, rows)
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


def test_feedback_of_night_one_changes_night_two_plan(night1):
    """Segment 0 loves checks (shared, 5 stars) and dislikes the rest: night 2 plans more checks."""
    import mlflow

    lake, settings, plans, fitted = night1
    motif_of = {p.design_id: p.motif for p in plans}
    seg0 = fitted[fitted["segment_id"] == 0]
    before = [p.motif for p in plans if p.segment_id == 0]
    assert "checks" in before and all(p.allocation["method"] == "rotation" for p in plans)
    rows = []
    for n, r in enumerate(seg0.itertuples()):
        liked = motif_of[r.design_id] == "checks"
        rows.append(_event(n, r.order_id, r.design_id, "shared" if liked else "complaint", 5 if liked else 1))
    _write_raw(lake, NIGHT2, rows)
    assert ingest_feedback(settings, NIGHT2)["joined"] == len(rows)
    stats = compute_design_stats(settings, NIGHT2)
    means = {(r["segment_id"], r["arm"]): r["mean"] for r in stats["motif"]}
    assert means[(0, "checks")] > 0.9 and max(v for (s, a), v in means.items() if a != "checks") < 0.1

    per_order, segment = _orders(NIGHT2)
    posteriors = posteriors_by_segment(pd.DataFrame(stats["motif"]))
    plans2, fitted2 = plan_designs(PROFILES, per_order, segment, 4, ds=NIGHT2, posteriors=posteriors)
    after = [p.motif for p in plans2 if p.segment_id == 0]
    assert after.count("checks") >= 3 > before.count("checks")
    share = fitted2[fitted2["segment_id"] == 0]["design_id"].map({p.design_id: p.motif for p in plans2})
    assert (share == "checks").mean() > 0.6  # orders follow the posterior too (1/4 under rotation)
    # Segment 1 had no feedback: its plan is still the plain rotation.
    assert [p.allocation["method"] for p in plans2 if p.segment_id == 1] == ["rotation"] * 4
    # Reruns of a night plan the same (seeded by ds).
    again, _ = plan_designs(PROFILES, per_order, segment, 4, ds=NIGHT2, posteriors=posteriors)
    assert [(p.motif, p.allocation) for p in again] == [(p.motif, p.allocation) for p in plans2]

    # The choice and its posterior are in the design's spec.json.
    from packaging_pipeline.design.artwork import night_tiles

    chosen = next(p for p in plans2 if p.segment_id == 0 and p.motif == "checks")
    tiles, source = night_tiles(["checks"], 1, use_model=False)
    files = dict((k, b) for b, k in compose_design_files(chosen, tiles["checks"][0], NIGHT2, source.as_dict(), 40.0))
    spec = json.loads(next(b for k, b in files.items() if k.endswith("spec.json")))
    assert spec["allocation"]["arm"] == "checks" and spec["allocation"]["method"] in ("thompson", "explore")
    assert spec["allocation"]["alpha"] == pytest.approx(means_alpha(stats, 0, "checks"), abs=1e-5)
    assert spec["allocation"]["policy_version"] == load_policy().version

    # ... and in MLflow: the stats run holds each arm's posterior mean.
    run = mlflow.get_run(stats["mlflow_run_id"])
    assert mlflow.get_experiment(run.info.experiment_id).name == FEEDBACK_EXPERIMENT
    assert run.data.metrics["s0.motif.checks.mean"] == pytest.approx(means[(0, "checks")])
    assert run.data.tags["ds"] == NIGHT2


def means_alpha(stats: dict, segment: int, arm: str) -> float:
    return next(r["alpha"] for r in stats["motif"] if r["segment_id"] == segment and r["arm"] == arm)


def test_decay_halves_old_evidence():
    from packaging_pipeline.feedback.loop import arm_posteriors

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
    with pytest.raises(InputError, match=r"p\.yaml.*lacks shared.*unboxed=2\.0 is outside"):
        load_policy(str(bad))


def test_design_stage_plans_from_the_newest_stats_through_a_real_published_batch(tmp_path):
    """generate -> publish -> feedback on the published batch -> stats -> the stage's rerun follows them."""
    import mlflow

    from packaging_pipeline.cli import main
    from packaging_pipeline.design.batch import generate_night_designs, staging_prefix
    from packaging_pipeline.publication.publish import publish_night
    from tests.test_design_batch import DS, segmented_night

    lake, settings = segmented_night(tmp_path / "lake")
    first = generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    assert first["feedback"]["stats_ds"] is None
    assert {d["method"] for seg in first["feedback"]["allocation"].values() for d in seg} == {"rotation"}
    publish_night(settings, DS)

    orders, designs = published_designs(lake, DS, 1)
    motif = designs.set_index("design_id")["motif"]
    seg0 = designs[designs["segment_id"] == 0]
    loved = sorted(seg0["motif"])[0]
    rows = []  # the night is small (a dozen orders): each segment-0 order reacts many times
    for r in orders.merge(designs[["design_id", "segment_id"]], on="design_id").itertuples():
        liked = motif[r.design_id] == loved
        rows += [{"feedback_id": f"F{len(rows) + i:06d}", "event_time": f"{DS}T20:00:00Z", "order_id": r.order_id,
                  "design_id": r.design_id, "event": "shared" if liked else "complaint", "rating": 5 if liked else 1}
                 for i in range(20 if r.segment_id == 0 else 0)]  # fmt: skip
    _write_raw(lake, DS, rows)
    assert main(["feedback-ingest", "--lake", lake.uri, "--ds", DS]) == 0
    assert read_json(lake, keys.feedback_report_key(DS))["joined"] == len(rows) > 0
    assert main(["feedback-stats", "--lake", lake.uri, "--ds", DS]) == 0

    second = generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    assert second["feedback"]["stats_ds"] == DS
    seg0_plan = second["feedback"]["allocation"]["0"]
    assert {d["method"] for d in seg0_plan} <= {"thompson", "explore"}
    assert [d["arm"] for d in seg0_plan].count(loved) >= 1
    spec_key = next(o.key for o in lake.list(staging_prefix(DS) + "segment=0/") if o.key.endswith("spec.json"))
    assert read_json(lake, spec_key)["allocation"]["method"] in ("thompson", "explore")
    run = mlflow.get_run(second["feedback"]["mlflow_run_id"])
    assert run.data.params["stats_ds"] == DS and run.data.tags["kind"] == "allocation"


def test_palette_posteriors_choose_each_designs_ink_set():
    """A three-colour palette offers three ink pairs; feedback for one of them makes it the usual choice."""
    palette = [{"color": "navy", "hex": "#1f2a44"}, {"color": "yellow", "hex": "#f2c230"},
               {"color": "red", "hex": "#c0392b"}]  # fmt: skip
    profiles = [{**PROFILES[0], "palette": palette}]
    per_order, _ = _orders(NIGHT2, 200)
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


def test_feedback_dag_runs_the_night_before_its_schedule(airflow_db, night1, monkeypatch):
    """dag.test() of `packaging_feedback`: the 02:30 run on 2026-11-07 ingests and scores ds=2026-11-06."""
    import datetime as dt

    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    lake, settings, plans, fitted = night1
    first = fitted.head(5).itertuples()
    _write_raw(lake, NIGHT2, [_event(n, r.order_id, r.design_id, "shared", 5) for n, r in enumerate(first)])
    monkeypatch.setenv("PACKAGING_LAKE_URI", lake.uri)
    bag = DagBag(dag_folder=str(REPO / "dags" / "packaging_feedback.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("packaging_feedback")
    for task in dag.tasks:
        task.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 11, 7, 2, 30, tzinfo=dt.UTC))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    assert read_json(lake, keys.feedback_report_key(NIGHT2))["joined"] == 5
    assert read_json(lake, keys.feedback_stats_prefix(NIGHT2) + "stats.json")["events"] == 5


def test_an_asset_triggered_run_takes_the_ds_its_event_names():
    from types import SimpleNamespace

    from packaging_pipeline.airflow_support import triggered_ds

    events = {"packaging_feedback_landed": [SimpleNamespace(extra={"ds": "2026-11-05"}, timestamp=None),
                                            SimpleNamespace(extra={"ds": "2026-11-06"}, timestamp=None)]}  # fmt: skip
    assert triggered_ds({"triggering_asset_events": events, "params": {}}) == "2026-11-06"
    assert triggered_ds({"params": {"ds": "2026-11-04"}}) == "2026-11-04"
