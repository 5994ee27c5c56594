"""The sustainability gate's MLflow log: one run per gated night with the pair table (the gated night of
tests/conftest.py; the gate itself is checked in tests/unit/test_sustainability.py)."""

from __future__ import annotations

import pyarrow.parquet as pq

from packaging_pipeline.gate.night import SUSTAINABILITY_EXPERIMENT, log_gate
from tests.support.gate import STAGING
from tests.support.nights import DS


def test_the_gate_log_is_one_mlflow_run_with_the_pair_table(gated, tmp_path, monkeypatch):
    import mlflow

    lake, _, _, gate, _ = gated
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    pairs = pq.read_table(lake.root / STAGING / "sustainability.parquet")
    run = mlflow.get_run(log_gate(gate, pairs))
    assert mlflow.get_experiment(run.info.experiment_id).name == SUSTAINABILITY_EXPERIMENT
    assert run.data.tags["ds"] == DS and run.data.tags["policy_version"] == "1"
    assert run.data.params["policy_version"] == "1" and run.data.params["max_total_ink_coverage"] == "0.6"
    metrics = run.data.metrics
    assert metrics["rejected"] == 2 and metrics["segment_-1_pass_rate"] == 0 and metrics["segment_1_pass_rate"] == 0.5
    assert metrics["segment_0_mean_co2e_kg"] > 0 and metrics["segment_0_mean_board_kg"] > 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"sustainability_pairs.json", "gate.json"} <= artifacts
    logged = mlflow.load_table("sustainability_pairs.json", run_ids=[run.info.run_id])
    assert len(logged) == pairs.num_rows
