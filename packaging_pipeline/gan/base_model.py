"""The shipped base model: GAN weights trained by ``make base-model``, packaged with their provenance.

A fresh install has no champion, and a from-scratch training on 2 cores is too short to paint well. So the
package carries one trained model (``data/base_model/``: the weights of both networks and ``provenance.json``
saying which command, seed and commit made them and what the gate measured). On an empty registry the
nightly stage registers it as a challenger and puts it through the same gate as any other model; once
promoted, nights fine-tune from it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.gan.model import ModelShape, PatternGAN
from packaging_pipeline.gan.registry import MODEL_NAME, register_challenger
from packaging_pipeline.gan.training import CORPUS_TAG, GAN_EXPERIMENT, PROCEDURAL_CORPUS

if TYPE_CHECKING:
    from packaging_pipeline.gan.corpus import Corpus

BASE_MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "base_model"
WEIGHTS_NAME = "gan.weights.h5"
PROVENANCE_NAME = "provenance.json"
BASE_MODEL_TAG = "base_model"


@dataclasses.dataclass(frozen=True)
class BaseModel:
    weights: Path
    provenance: dict[str, Any]

    @property
    def shape(self) -> ModelShape:
        return ModelShape(**self.provenance["shape"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.provenance["class_names"])

    def fits(self, corpus: Corpus, shape: ModelShape) -> bool:
        """Whether it was trained for these classes and these networks (else a night trains from scratch)."""
        return self.class_names == tuple(corpus.class_names) and self.shape == shape


def shipped_base_model(directory: Path = BASE_MODEL_DIR) -> BaseModel | None:
    """The packaged base model, or None when the package carries none."""
    weights, provenance = directory / WEIGHTS_NAME, directory / PROVENANCE_NAME
    if not (weights.is_file() and provenance.is_file()):
        return None
    return BaseModel(weights, json.loads(provenance.read_text()))


def export_base_model(weights: Path, provenance: dict[str, Any], directory: Path = BASE_MODEL_DIR) -> BaseModel:
    """Copy trained weights into the package beside their provenance."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, directory / WEIGHTS_NAME)
    (directory / PROVENANCE_NAME).write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return BaseModel(directory / WEIGHTS_NAME, provenance)


def register_base_model(base: BaseModel, corpus: Corpus, ds: str, client: Any) -> Any:
    """Log the base model as a training run of its own and register it as the ``challenger``."""
    import mlflow

    gan = PatternGAN(base.shape)
    gan.build()
    gan.load_weights(base.weights)
    tags = {BASE_MODEL_TAG: "true", "model_name": MODEL_NAME, CORPUS_TAG: PROCEDURAL_CORPUS}
    with night_run(GAN_EXPERIMENT, ds, f"base-model ds={ds}", tags):
        logged = ("command", "seed", "commit", "epochs", "profile")
        mlflow.log_params({f"base.{k}": base.provenance.get(k) for k in logged})
        mlflow.log_dict(base.provenance, "base_model_provenance.json")
        return register_challenger(gan, corpus, base.shape, client)
