"""
### Customer feedback on designs: `packaging_feedback`

Turns one night (`ds`) of raw feedback events (`unboxed`, `shared`, `returned`, `complaint`, optional
1-5 rating; each names an order and the design it got) into the evidence the next night's designs
are planned from.

- **Schedule**: daily at 02:30 UTC for the previous day (before `packaging_nightly` plans at 03:00),
  and whenever the `packaging_feedback_landed` Asset gets an event (the feedback producer posts one,
  e.g. `POST /api/v2/assets/events` with `extra={"ds": "YYYY-MM-DD"}`, after it delivers a partition).
- **ingest_feedback**: validates `raw/feedback/ds=<ds>/` like every raw source (quarantine with
  reasons: bad event, rating outside 1-5, duplicate ids, missing fields), then joins each event to the
  published batch its order was in; unknown orders or designs go to `quarantine/feedback_unmatched/`.
  Writes `feedback/events/ds=<ds>/` and `reports/feedback/ds=<ds>/feedback.json` (counts reconcile).
- **compute_design_stats**: reward per event and decayed Beta posteriors per (segment, motif class)
  and (segment, palette) from `data/feedback_policy.yaml`; writes `feedback/stats/ds=<ds>/` and an
  MLflow run in the `design-feedback` experiment. `generate_designs` of the next night reads them.
- Reruns replace the night's outputs.

Logic lives in `packaging_pipeline.feedback`; this file is wiring only.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task

# Light at parse time (standard library and settings only); every stage is imported inside its task.
from packaging_pipeline.airflow_support import DEFAULT_ARGS, night_stage

# Produced by whoever lands a feedback partition; the event's extra names the ds.
FEEDBACK_LANDED = Asset(name="packaging_feedback_landed")


@dag(
    dag_id="packaging_feedback",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"), assets=FEEDBACK_LANDED
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["packaging", "feedback"],
    doc_md=__doc__,
    params={
        "ds": Param(None, type=["null", "string"], description="Night to process (YYYY-MM-DD); default: the run's"),
        "lake_uri": Param(None, type=["null", "string"], description="Lake URI; default: PACKAGING_LAKE_URI"),
        "aws_conn_id": Param("aws_default", type="string", description="AWS connection for an s3:// lake"),
        "policy_path": Param(None, type=["null", "string"], description="Feedback policy YAML; default: packaged"),
    },
)
def packaging_feedback() -> None:
    @task
    def ingest_feedback(**context) -> dict:
        """Validate the night's feedback and join it to the published designs; returns the counts."""
        from packaging_pipeline.airflow_support import triggered_ds
        from packaging_pipeline.feedback.ingest import ingest_feedback
        from packaging_pipeline.feedback.policy import load_policy

        with night_stage(context) as settings:
            night = triggered_ds(context)
            return ingest_feedback(settings, night, policy=load_policy(context["params"]["policy_path"]))

    @task
    def compute_design_stats(ingested: dict, **context) -> dict:
        """Posteriors per segment x motif class and palette as of the night; logged to MLflow."""
        from packaging_pipeline.feedback.policy import load_policy
        from packaging_pipeline.feedback.statistics import compute_design_stats

        with night_stage(context) as settings:
            policy = load_policy(context["params"]["policy_path"])
            stats = compute_design_stats(settings, ingested["ds"], policy=policy)
        return {k: stats.get(k) for k in ("ds", "events", "mlflow_run_id")}

    compute_design_stats(ingest_feedback())


packaging_feedback()
