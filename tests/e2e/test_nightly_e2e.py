"""End to end: generated sample data in a temp lake, the nightly DAG run with ``dag.test()``."""

from __future__ import annotations

import datetime as dt

import pytest

from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.sample_data.generate import generate_sample_data
from tests.conftest import REPO, TEST_PSEUDONYM_KEY
from tests.support.privacy import objects_holding, raw_customer_ids
from tests.support.published import batch_of

pytestmark = pytest.mark.slow
DS = "2026-11-01"


def _nightly_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "packaging_nightly.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("packaging_nightly")
    # dag.test() waits out retry delays; a test wants the first failure, not a 5-minute pause.
    for task in dag.tasks:
        task.retries = 0
    return dag


def test_nightly_dag_ingests_a_generated_night(airflow_db, tmp_path, monkeypatch):
    lake = LocalLake(tmp_path / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=2, customers=300, seed=11)
    monkeypatch.setenv("PACKAGING_LAKE_URI", lake.uri)
    monkeypatch.setenv("PACKAGING_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)

    # One segment's design task fails once (a worker lost, a flaky store) and succeeds on its retry.
    from packaging_pipeline.design import batch

    compose, failed = batch.compose_segment_designs, []

    def fails_once(settings, night, segment_ids, workers=None):  # noqa: ANN001, ANN202
        if not failed:
            failed.append(list(segment_ids))
            raise ConnectionError("injected: the store dropped the connection")
        return compose(settings, night, segment_ids, workers)

    monkeypatch.setattr(batch, "compose_segment_designs", fails_once)
    dag = _nightly_dag()
    dag.get_task("generate_designs").retries = 1
    dag.get_task("generate_designs").retry_delay = dt.timedelta(0)
    # The run at 03:00 on 2026-11-02 covers the interval that starts 2026-11-01 03:00: ds = 2026-11-01.
    run = dag.test(
        logical_date=dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC),
        run_conf={"segment_k": 4, "min_segment_size": 10, "gan_epochs": 1, "gan_pretrain_epochs": 1, "judge_epochs": 2},
    )
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]

    report = read_json(lake, "reports/ingest/ds=2026-11-01/ingest.json")
    for source in ("clickstream", "orders"):
        counts = report["sources"][source]
        assert counts["read"] > 0 and counts["quarantined"] == 0
        assert lake.exists(f"accepted/{source}/ds=2026-11-01/part-00000.parquet")
    assert not lake.list("accepted/clickstream/ds=2026-11-02/"), "the run touched another night's partition"

    # Spark stages ran through spark-submit and left the night's features and segments.
    assert lake.exists("features/daily/ds=2026-11-01/part-00000.parquet")
    assert lake.exists("features/customer/ds=2026-11-01/part-00000.parquet")
    profiles = read_json(lake, "segments/ds=2026-11-01/profiles.json")
    assert profiles["k_fitted"] == 4 and sum(s["size"] for s in profiles["segments"]) == profiles["customers"] > 50
    mlflow_run_id = run.get_task_instance("log_segment_profiles").xcom_pull(task_ids="log_segment_profiles")
    import mlflow

    assert mlflow.get_run(mlflow_run_id).data.tags["ds"] == "2026-11-01"

    # The GAN trained on the gpu queue/pool, registered a challenger, and the gate decided, with reasons.
    trained = run.get_task_instance("train_pattern_gan").xcom_pull(task_ids="train_pattern_gan")
    gate = run.get_task_instance("evaluate_and_promote_model").xcom_pull(task_ids="evaluate_and_promote_model")
    assert gate["challenger_version"] == trained["model_version"] and gate["reasons"]
    assert mlflow.get_run(trained["run_id"]).data.tags["promotion.decision"] in ("promoted", "rejected")
    assert (
        read_json(lake, "reports/model/ds=2026-11-01/evaluation.json")["challenger_version"] == trained["model_version"]
    )

    # Parcels: its own task, before the artwork; every order has parcels or an own-packaging decision.
    sized = run.get_task_instance("right_size_orders").xcom_pull(task_ids="right_size_orders")
    assert sized["parcels_key"] == "parcels/ds=2026-11-01/parcels.parquet" and lake.exists(sized["parcels_key"])
    parcels = read_json(lake, "parcels/ds=2026-11-01/summary.json")
    assert parcels["unfit"] == 0 and parcels["orders"] == sized["orders"] > 0

    # Designs: every segment got its designs, every fitted order a design and a print file that exists.
    plan = read_json(lake, "designs/staging/ds=2026-11-01/plan.json")
    made = run.get_task_instance("collect_designs").xcom_pull(task_ids="collect_designs")
    assert made["designs"] == plan["designs"] >= 4 and plan["print_files"] >= plan["designs"]
    # One mapped design task per segment (and the default segment), each staging only its own designs.
    segments = run.get_task_instance("plan_designs").xcom_pull(task_ids="plan_designs")
    mapped = sorted(ti.map_index for ti in run.get_task_instances() if ti.task_id == "generate_designs")
    assert mapped == list(range(len(segments))) and plan["segments"] == len(segments) == plan["design_tasks"] >= 2
    tries = {ti.map_index: (ti.state, ti.try_number) for ti in run.get_task_instances()
             if ti.task_id == "generate_designs"}  # fmt: skip
    labels = {ti.map_index: ti.rendered_map_index for ti in run.get_task_instances()
              if ti.task_id == "generate_designs"}  # fmt: skip
    assert labels == {i: f"segment {s}" for i, s in enumerate(segments)}  # the UI's label of each map index
    retried = segments.index(failed[0][0])
    assert tries[retried] == ("success", 2), tries  # the failed segment retried alone
    assert all(t == ("success", 1) for i, t in tries.items() if i != retried), tries
    expected = "model" if gate["promoted"] else "procedural"  # never an unpromoted model
    assert plan["artwork_source"]["kind"] == expected
    import pyarrow.parquet as pq

    orders = pq.read_table(lake.root / "designs/staging/ds=2026-11-01/order_designs.parquet").to_pandas()
    assert len(orders) == plan["orders_with_design"] > 0 and orders["design_id"].notna().all()
    assert all(lake.exists(key) for key in orders["print_file"])

    # The gate ran and the batch was published whole: manifest, _SUCCESS, LATEST, the Asset event.
    gate_counts = run.get_task_instance("evaluate_sustainability").xcom_pull(task_ids="evaluate_sustainability")
    assert gate_counts["counts"]["designs"] == plan["designs"]
    published = run.get_task_instance("publish_batch").xcom_pull(task_ids="publish_batch")
    assert published["parcels"] == sized["parcels"] and published["mean_esr"] == sized["mean_esr"]  # the summary
    batch = batch_of(lake, DS)
    assert lake.read_text("published/LATEST").strip() == DS and published["published_uri"] == lake.uri_of(batch.prefix)
    manifest = read_json(lake, batch.manifest_key)
    assert manifest["ds"] == DS and published["designs"] == manifest["counts"]["designs"] > 0
    assert all(lake.exists(batch.key(f["key"])) for f in manifest["files"])
    # Raw customer ids never leave raw/: not in features, segments, parcels, staging, reports or the batch.
    raw_ids = raw_customer_ids(lake)
    assert raw_ids and objects_holding(lake, raw_ids) == {}
    # A card per published design (tests/integration/test_report.py renders it).
    report = lake.read_text(batch.key(manifest["report"]["key"]))
    assert all(f'data-design-id="{d["design_id"]}"' in report for d in manifest["designs"])


def test_nightly_dag_fails_clearly_on_too_many_bad_rows(airflow_db, tmp_path, monkeypatch):
    lake = LocalLake(tmp_path / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=1, customers=200, seed=3, bad_row_share=0.2)
    monkeypatch.setenv("PACKAGING_LAKE_URI", lake.uri)
    monkeypatch.setenv("PACKAGING_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)

    run = _nightly_dag().test(
        logical_date=dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC),
        run_conf={"max_bad_row_share": 0.01, "gan_epochs": 1, "gan_pretrain_epochs": 1, "judge_epochs": 2},
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["ingest_raw"] == "failed", states
    assert lake.list("quarantine/clickstream/ds=2026-11-01/"), "quarantine must be written before failing"


def test_a_night_the_shop_declares_empty_of_orders_runs_end_to_end(airflow_db, tmp_path, monkeypatch):
    """A zero-order day, declared by a lone ``_SUCCESS`` in the orders partition: the whole DAG runs and
    publishes a batch that says so; a warehouse pulls its empty share."""
    from packaging_pipeline.core.keys import raw_prefix
    from packaging_pipeline.publication.pull import pull_batch

    lake = LocalLake(tmp_path / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=1, customers=200, seed=7)
    lake.delete_prefix(raw_prefix("orders", DS))
    lake.write_bytes(raw_prefix("orders", DS) + "_SUCCESS", b"")
    monkeypatch.setenv("PACKAGING_LAKE_URI", lake.uri)
    monkeypatch.setenv("PACKAGING_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)

    run = _nightly_dag().test(
        logical_date=dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC),
        run_conf={"segment_k": 3, "min_segment_size": 10, "gan_epochs": 1, "gan_pretrain_epochs": 1, "judge_epochs": 2},
    )
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    orders = read_json(lake, f"reports/ingest/ds={DS}/ingest.json")["sources"]["orders"]
    assert orders["declared_empty"] and orders["read"] == 0
    manifest = read_json(lake, batch_of(lake, DS).manifest_key)
    assert manifest["counts"]["orders"] == manifest["counts"]["parcels"] == 0 and manifest["warehouses"] == []
    pulled = pull_batch(lake, "latest", "WH-BER", tmp_path / "dest")
    assert (pulled["ds"], pulled["orders"], pulled["files"]) == (DS, 0, ["manifest.json"])
