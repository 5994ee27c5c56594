"""MLflow for analysts: where runs go and how a night's segmentation is logged.

One run per unit of work, tagged with the night and, inside Airflow, the DAG run, so
``mlflow.search_runs(filter_string="tags.ds = '2026-11-07'")`` finds everything about a night.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from packaging_pipeline.core.config import Settings, default_home

SEGMENTS_EXPERIMENT = "customer-segments"


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else the embedded SQLite store next to the default lake."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_home() / 'mlflow.db'}"


def use_experiment(name: str) -> str:
    """Select (creating if needed) an experiment; returns its id.

    With a local store (SQLite), artifacts go under ``$MLFLOW_ARTIFACT_ROOT`` or
    ``$PACKAGING_HOME/mlartifacts``, not into whatever directory the process happens to run in. A
    tracking server decides for itself.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    existing = mlflow.get_experiment_by_name(name)
    if existing is None:
        location = None
        if not tracking_uri().startswith(("http://", "https://", "databricks")):
            root = os.environ.get("MLFLOW_ARTIFACT_ROOT") or (default_home() / "mlartifacts").as_uri()
            location = f"{root.rstrip('/')}/{name}"
        mlflow.create_experiment(name, artifact_location=location)
    return mlflow.set_experiment(name).experiment_id


def run_tags(ds: str) -> dict[str, str]:
    """Tags tying a run to its night and, when run by Airflow, to the DAG run that made it."""
    tags = {"ds": ds}
    for env, tag in (
        ("AIRFLOW_CTX_DAG_ID", "airflow.dag_id"),
        ("AIRFLOW_CTX_DAG_RUN_ID", "airflow.run_id"),
        ("AIRFLOW_CTX_TASK_ID", "airflow.task_id"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def segment_profile_rows(profiles: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The profiles as a column table an analyst can sort in the MLflow UI."""
    segs = profiles["segments"]
    centroid_cols = ("frequency", "monetary", "avg_order_value", "recency_days", "sessions", "cart_abandon_rate")
    table: dict[str, list[Any]] = {
        "segment_id": [s["segment_id"] for s in segs],
        "label": [s["label"] for s in segs],
        "size": [s["size"] for s in segs],
        "share": [s["share"] for s in segs],
        "top_categories": [", ".join(c["category"] for c in s["top_categories"]) for s in segs],
        "palette": [" ".join(c["hex"] for c in s["palette"]) for s in segs],
        "preferred_device": [s["preferred_device"] for s in segs],
        "new": [not s["matched_previous"] for s in segs],
    }
    for col in centroid_cols:
        table[col] = [s["centroid"].get(col) for s in segs]
    return table


def log_segments(profiles: Mapping[str, Any]) -> str:
    """Log a night's segmentation as one MLflow run; returns the run id."""
    import mlflow

    use_experiment(SEGMENTS_EXPERIMENT)
    ds = profiles["ds"]
    with mlflow.start_run(run_name=f"segments ds={ds}", tags=run_tags(ds)) as run:
        config = profiles["config"]
        mlflow.log_params(
            {
                "ds": ds,
                "window_days": profiles["window_days"],
                "k_configured": config["k"],
                "k_range": f"{config['k_range'][0]}-{config['k_range'][1]}",
                "seed": config["seed"],
                "n_init": config["n_init"],
                "k_search_customers": profiles.get("k_search_customers"),
                "min_segment_size": config["min_segment_size"],
                "max_match_distance": config["max_match_distance"],
                "model_features": len(profiles["model_features"]),
                "previous_ds": profiles["previous_ds"],
            }
        )
        metrics = {
            "customers": profiles["customers"],
            "k_fitted": profiles["k_fitted"],
            "k_final": profiles["k_final"],
            "new_segments": len(profiles["new_segments"]),
            "vanished_segments": len(profiles["vanished_segments"]),
        }
        metrics.update({f"segment_{s['segment_id']}_size": s["size"] for s in profiles["segments"]})
        metrics.update({f"silhouette_k{k}": v for k, v in profiles["silhouette_by_k"].items()})
        mlflow.log_metrics(metrics)
        mlflow.log_table(segment_profile_rows(profiles), artifact_file="segment_profiles.json")
        mlflow.log_dict(dict(profiles), "profiles.json")
        return run.info.run_id


def log_night_segments(settings: Settings, ds: str) -> str:
    """Log the segmentation already written for night ``ds`` (its profiles.json); returns the run id."""
    from packaging_pipeline.core.formats import read_json
    from packaging_pipeline.core.keys import segment_profiles_key
    from packaging_pipeline.core.storage import open_lake

    return log_segments(read_json(open_lake(settings), segment_profiles_key(ds)))
