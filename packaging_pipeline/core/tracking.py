"""MLflow for analysts: where runs go, and one run per unit of a night's work.

One run per unit of work, tagged with the night and, inside Airflow, the DAG run, so
``mlflow.search_runs(filter_string="tags.ds = '2026-11-07'")`` finds everything about a night.
MLflow itself is imported inside the functions: it is heavy, and most callers only need the names.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from packaging_pipeline.core.config import default_home


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


@contextlib.contextmanager
def night_run(experiment: str, ds: str, run_name: str, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """One MLflow run of one unit of a night's work, in ``experiment``, tagged with the night (and DAG run)."""
    import mlflow

    use_experiment(experiment)
    with mlflow.start_run(run_name=run_name, tags=run_tags(ds) | dict(tags or {})) as run:
        yield run


KERAS_MODEL_MODULES = ("keras", "tensorflow", "numpy")
"""What a logged Keras model imports to load, besides this package (which holds its custom layers)."""


def keras_model_requirements() -> list[str]:
    """Pinned pip requirements for a logged Keras model: the installed distributions of its modules.

    Given explicitly because MLflow's own inference loads the model in a subprocess to see what it
    imports: about 16 s per logged model on 2 cores, for the same pins. The distribution is whichever
    provides the module (``tensorflow-cpu`` on CPU workers, ``tensorflow`` on GPU ones).
    """
    from importlib.metadata import packages_distributions, version

    providers = packages_distributions()
    dists = [providers[module][0] for module in KERAS_MODEL_MODULES if providers.get(module)]
    return [f"{dist.lower().replace('_', '-')}=={version(dist)}" for dist in dists]
