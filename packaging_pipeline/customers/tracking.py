"""A night's segmentation in MLflow: params, sizes, silhouettes and the profiles as a table analysts can sort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.keys import segment_profiles_key
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.core.tracking import night_run

SEGMENTS_EXPERIMENT = "customer-segments"


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

    ds = profiles["ds"]
    with night_run(SEGMENTS_EXPERIMENT, ds, f"segments ds={ds}") as run:
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
    return log_segments(read_json(open_lake(settings), segment_profiles_key(ds)))
