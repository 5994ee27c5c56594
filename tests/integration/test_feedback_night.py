"""The feedback loop on real engines: night 1's feedback changes night 2's plan (logged to MLflow), the
design stage follows the newest stats through a real published batch, and the feedback DAG's dag.test()."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from packaging_pipeline.core import keys
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.design.batch import compose_design_files, plan_designs
from packaging_pipeline.feedback.ingest import ingest_feedback, published_designs
from packaging_pipeline.feedback.policy import FEEDBACK_EXPERIMENT, load_policy
from packaging_pipeline.feedback.statistics import compute_design_stats, posteriors_by_segment
from tests.support.feedback import NIGHT2, PROFILES, feedback_event, fitted_orders, write_raw_feedback


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
        rows.append(feedback_event(n, r.order_id, r.design_id, "shared" if liked else "complaint", 5 if liked else 1))
    write_raw_feedback(lake, NIGHT2, rows)
    assert ingest_feedback(settings, NIGHT2)["joined"] == len(rows)
    stats = compute_design_stats(settings, NIGHT2)
    means = {(r["segment_id"], r["arm"]): r["mean"] for r in stats["motif"]}
    assert means[(0, "checks")] > 0.9 and max(v for (s, a), v in means.items() if a != "checks") < 0.1

    per_order, segment = fitted_orders(NIGHT2)
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


def test_design_stage_plans_from_the_newest_stats_through_a_real_published_batch(tmp_path):
    """generate -> publish -> feedback on the published batch -> stats -> the stage's rerun follows them."""
    import mlflow

    from packaging_pipeline.cli import main
    from packaging_pipeline.core.keys import staging_prefix
    from packaging_pipeline.design.batch import generate_night_designs
    from packaging_pipeline.publication.publish import publish_night
    from tests.support.nights import DS, segmented_night

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
    write_raw_feedback(lake, DS, rows)
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


def test_feedback_dag_runs_the_night_before_its_schedule(airflow_db, night1, monkeypatch):
    """dag.test() of `packaging_feedback`: the 02:30 run on 2026-11-07 ingests and scores ds=2026-11-06."""
    import datetime as dt

    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    lake, settings, plans, fitted = night1
    first = fitted.head(5).itertuples()
    events = [feedback_event(n, r.order_id, r.design_id, "shared", 5) for n, r in enumerate(first)]
    write_raw_feedback(lake, NIGHT2, events)
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
