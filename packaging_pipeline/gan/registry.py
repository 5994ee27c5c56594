"""The pattern GAN in the MLflow registry: its name, the champion/challenger aliases, registering and loading.

Training registers every new version as ``challenger``; only evaluation moves ``champion``.
MLflow and Keras are imported inside the functions: designs ask for the champion without paying
for TensorFlow until a generator is actually loaded.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.tracking import keras_model_requirements, tracking_uri

if TYPE_CHECKING:
    from packaging_pipeline.gan.corpus import Corpus
    from packaging_pipeline.gan.model import ModelShape, PatternGAN

MODEL_NAME = "packaging-pattern-gan"
CHAMPION, CHALLENGER = "champion", "challenger"


def champion_version(client: Any) -> Any | None:
    """The registered version carrying the champion alias, or None (first night, or never promoted)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    except MlflowException:
        return None


def register_challenger(gan: PatternGAN, corpus: Corpus, shape: ModelShape, client: Any) -> Any:
    """Log the generator that paints (its weight average, if kept; with a signature, no input_example: MLflow
    bug) and both networks' weights into the active run, register it and give it the ``challenger`` alias."""
    import mlflow
    from mlflow.models import infer_signature

    noise = np.zeros((2, shape.latent_dim), dtype="float32")
    motif = np.zeros((2, 1), dtype="int32")
    out = np.asarray(gan.sampler.predict([noise, motif], verbose=0))
    signature = infer_signature({"noise": noise, "motif": motif}, out)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "gan.weights.h5"
        gan.save_weights(weights)
        mlflow.log_artifact(str(weights), artifact_path="weights")
        meta = {"class_names": list(corpus.class_names), "shape": dataclasses.asdict(shape)}
        mlflow.log_dict(meta, "model_meta.json")
    info = mlflow.keras.log_model(gan.sampler, name="generator", signature=signature,
                                  pip_requirements=keras_model_requirements(), registered_model_name=MODEL_NAME)
    version = client.get_model_version(MODEL_NAME, info.registered_model_version)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version.version)
    return version


def load_generator(model_uri: str) -> Any:
    """A registered generator (``models:/packaging-pattern-gan@champion`` etc.), with a clear error if absent."""
    import mlflow
    from mlflow.exceptions import MlflowException

    import packaging_pipeline.gan.model  # noqa: F401 - heavy (Keras); registers WrapPad2D, which the saved generator needs

    mlflow.set_tracking_uri(tracking_uri())
    try:
        return mlflow.keras.load_model(model_uri)
    except MlflowException as exc:
        reason = exc.message.rstrip(".")
        raise PipelineError(
            f"cannot load {model_uri} from MLflow at {tracking_uri()}: {reason}. Until a model is promoted, "
            f"use models:/{MODEL_NAME}@{CHALLENGER}; train one with `packaging-pipeline train`."
        ) from exc
