"""
### Nightly packaging designs: `packaging_nightly`

Turns one night (`ds`) of raw clickstream, orders, catalog and feedback into validated,
pseudonymised tables for the later stages (features, segments, pattern GAN, designs,
sustainability gate, publication).

- **ds**: the start of the run's data interval (the run at 03:00 UTC on 2026-11-02 processes
  `ds=2026-11-01`); override with the `ds` Param for a manual run.
- **Inputs**: `raw/<source>/ds=<ds>/` under the lake (`PACKAGING_LAKE_URI` or the `lake_uri` Param).
- **Outputs**: `accepted/<source>/ds=<ds>/`, `quarantine/<source>/ds=<ds>/`, `reports/ingest/ds=<ds>/`.
- Every task reads and writes only its `ds` partition; reruns and backfills replace, never append.

Logic lives in `packaging_pipeline`; this file is wiring only.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, Param, PokeReturnValue, dag, task

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
}


@dag(
    dag_id="packaging_nightly",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["packaging", "nightly", "ingest"],
    doc_md=__doc__,
    params={
        "ds": Param(None, type=["null", "string"], description="Night to process (YYYY-MM-DD); default: the run's"),
        "lake_uri": Param(None, type=["null", "string"], description="Lake URI; default: PACKAGING_LAKE_URI"),
        "max_bad_row_share": Param(None, type=["null", "number"], minimum=0, maximum=1),
        "aws_conn_id": Param("aws_default", type="string", description="AWS connection for an s3:// lake"),
    },
)
def packaging_nightly() -> None:
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def wait_for_raw_inputs(**context) -> PokeReturnValue:
        """Wait until every required source has delivered the night's partition."""
        from packaging_pipeline.airflow_support import failing_fast_on_bad_input, run_ds, task_settings
        from packaging_pipeline.checks import missing_required_inputs

        with failing_fast_on_bad_input():
            ds = run_ds(context)
            missing = missing_required_inputs(task_settings(context["params"]), ds)
        if missing:
            print(f"ds={ds}: waiting for {', '.join(missing)}")
        return PokeReturnValue(is_done=not missing, xcom_value=ds)

    @task
    def ingest_raw(night: str, **context) -> dict:
        """Validate the night's raw partitions; returns the counts and keys (not data) for XCom."""
        from packaging_pipeline.airflow_support import failing_fast_on_bad_input, task_settings
        from packaging_pipeline.ingest import ingest_partition

        with failing_fast_on_bad_input():
            report = ingest_partition(task_settings(context["params"]), night)
        return report.as_dict()

    ingest_raw(wait_for_raw_inputs())


packaging_nightly()
