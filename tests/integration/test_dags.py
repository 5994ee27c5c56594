"""DAG integrity: imports cleanly, follows the team's policy, has the expected graph, parses cheaply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HEAVY_MODULES = ("pandas", "pyarrow", "pyspark", "tensorflow", "mlflow", "boto3", "numpy")
# What a DAG file may import of the library at parse time: the task defaults and preamble, and the
# settings, errors and keys they need. Every stage is imported inside its task.
PARSE_TIME_LIBRARY = {
    "packaging_pipeline", "packaging_pipeline.airflow_support", "packaging_pipeline.core",
    "packaging_pipeline.core.config", "packaging_pipeline.core.errors", "packaging_pipeline.core.keys",
}  # fmt: skip


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"packaging_nightly", "packaging_feedback"} <= set(dagbag.dag_ids)


def test_every_dag_follows_policy(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} catches up"
        assert dag.start_date.tzinfo is not None, f"{dag_id} start_date is not timezone-aware"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_nightly_graph(dagbag):
    dag = dagbag.get_dag("packaging_nightly")
    assert dag.max_active_runs == 1
    assert {t.task_id for t in dag.tasks} == {
        "wait_for_raw_inputs",
        "ingest_raw",
        "build_customer_features",
        "segment_customers",
        "log_segment_profiles",
        "right_size_orders",
        "train_pattern_gan",
        "evaluate_and_promote_model",
        "plan_designs",
        "generate_designs",
        "collect_designs",
        "evaluate_sustainability",
        "publish_batch",
    }
    downstream = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    assert downstream["wait_for_raw_inputs"] == {
        "ingest_raw",
        "log_segment_profiles",
        "right_size_orders",
        "train_pattern_gan",
        "evaluate_and_promote_model",
        "plan_designs",
        "generate_designs",
        "collect_designs",
        "evaluate_sustainability",
        "publish_batch",
    }
    assert downstream["train_pattern_gan"] == {"evaluate_and_promote_model"}
    train = dag.get_task("train_pattern_gan")
    assert train.queue == "gpu" and train.pool == "gpu"
    # Parcels come from ingest alone, before any artwork, and designs read them.
    assert downstream["ingest_raw"] == {"build_customer_features", "right_size_orders"}
    assert downstream["right_size_orders"] == {"plan_designs", "publish_batch"}  # its summary ends the night
    assert downstream["build_customer_features"] == {"segment_customers"}
    assert downstream["segment_customers"] == {"log_segment_profiles"}
    # Designs wait for both halves: the night's segments and the gate's decision on the model.
    assert downstream["log_segment_profiles"] == downstream["evaluate_and_promote_model"] == {"plan_designs"}
    # One design task per segment (mapped over the plan's segments), then one step collects them.
    assert downstream["plan_designs"] == {"generate_designs"}
    assert dag.get_task("generate_designs").op_kwargs_expand_input.value.keys() == {"segment"}
    assert downstream["generate_designs"] == {"collect_designs"}
    assert downstream["collect_designs"] == {"evaluate_sustainability", "publish_batch"}
    assert all(t.doc_md for t in dag.tasks), [t.task_id for t in dag.tasks if not t.doc_md]
    assert downstream["evaluate_sustainability"] == {"publish_batch"}
    assert [o.name for o in dag.get_task("publish_batch").outlets] == ["packaging_published_batch"]
    assert dag.get_task("ingest_raw").retry_exponential_backoff
    for task_id in ("build_customer_features", "segment_customers"):
        task = dag.get_task(task_id)
        assert task.task_type == "SparkSubmitOperator" and task._conn_id == "spark_default"
        assert (REPO / "spark_jobs" / Path(task.application).name).exists()


def test_feedback_graph_and_schedule(dagbag):
    """Daily, and also whenever feedback lands (the producer's Asset event): either starts a run."""
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.get_dag("packaging_feedback")
    assert dag.max_active_runs == 1
    assert {t.task_id: t.downstream_task_ids for t in dag.tasks} == {
        "ingest_feedback": {"compute_design_stats"},
        "compute_design_stats": set(),
    }
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "30 2 * * *"
    assert dag.timetable.asset_condition.name == "packaging_feedback_landed"
    assert dag.get_task("ingest_feedback").retry_exponential_backoff


def test_dag_files_parse_without_heavy_imports():
    """The scheduler parses DAG files constantly: library and ML imports belong inside tasks."""
    code = (
        "import runpy, sys, pathlib\n"
        "for path in sorted(pathlib.Path(sys.argv[1]).glob('*.py')):\n"
        "    runpy.run_path(str(path))\n"
        f"print('MODULES:' + ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
        "print('LIBRARY:' + ','.join(sorted(m for m in sys.modules if m.startswith('packaging_pipeline'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "dags")], capture_output=True, text=True, check=True)
    loaded = _modules(out.stdout)
    probe = f"import airflow.sdk, sys; print('MODULES:' + ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    baseline = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded <= _modules(baseline.stdout), loaded
    library = _modules(out.stdout, "LIBRARY:")
    assert "packaging_pipeline.airflow_support" in library and library <= PARSE_TIME_LIBRARY, library


def _modules(stdout: str, tag: str = "MODULES:") -> set[str]:
    line = next(line for line in stdout.splitlines() if line.startswith(tag))
    return set(filter(None, line.removeprefix(tag).split(",")))
