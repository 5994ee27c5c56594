"""The motif judge: a small classifier whose features every night's evaluation measures distances in.

Inception weights cannot be downloaded here, and they know nothing about ink separations anyway, so
the gate judges generators in the feature space of a classifier trained on the corpus itself (the usual
way to do a domain FID). It depends only on the corpus and its own settings, not on any generator, so it
is trained once per corpus: registered in MLflow as ``packaging-motif-judge`` with an alias naming the
corpus fingerprint, and loaded from there by every later night until the corpus (or a setting) changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers

from packaging_pipeline.core.tracking import keras_model_requirements, night_run
from packaging_pipeline.gan.corpus import augment_tiles
from packaging_pipeline.gan.model import WrapPad2D

if TYPE_CHECKING:
    from packaging_pipeline.gan.corpus import Corpus

log = logging.getLogger(__name__)

JUDGE_MODEL_NAME = "packaging-motif-judge"
JUDGE_EXPERIMENT = "motif-judge"
CLASSIFIER_WIDTHS = (32, 64, 64)
CLASSIFIER_EPOCHS = 100
"""Held-out accuracy on the cpu profile's procedural corpus at 100 epochs: 0.867 while chevrons and waves
shared one steepness range (chevrons 0.30), 0.922 since (docs/benchmarks.md)."""
FEATURES_LAYER = "features"


@dataclasses.dataclass
class Judge:
    """The classifier, its feature extractor and where they came from."""

    classifier: keras.Model
    features: keras.Model
    holdout_accuracy: float
    fingerprint: str
    model_version: str | None  # None: trained in this process and not registered (no MLflow client given)
    reused: bool
    seconds: float

    def summary(self) -> dict[str, Any]:
        """What evaluation.json and the MLflow run record about the judge."""
        return {"model_name": JUDGE_MODEL_NAME, "model_version": self.model_version,
                "corpus_fingerprint": self.fingerprint, "holdout_accuracy": self.holdout_accuracy,
                "reused": self.reused, "seconds": round(self.seconds, 1)}  # fmt: skip


def build_classifier(size: int, k_slots: int, n_classes: int) -> tuple[keras.Model, keras.Model]:
    """A small CNN on separations; returns (classifier, feature extractor sharing its layers).

    Convolutions pad circularly like the generator's, so the features of a tile do not depend on
    where its repeat happens to be cut.
    """
    tile = keras.Input((size, size, k_slots), name="separation")
    x = tile
    for i, width in enumerate(CLASSIFIER_WIDTHS):
        x = WrapPad2D(1, name=f"c{i}_wrap")(x)
        x = layers.Conv2D(width, 3, use_bias=False, name=f"c{i}")(x)
        x = layers.BatchNormalization(name=f"c{i}_bn")(x)
        x = layers.ReLU(name=f"c{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"p{i}")(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(64, activation="relu", name=FEATURES_LAYER)(x)
    logits = layers.Dense(n_classes, name="logits")(features)
    classifier = keras.Model(tile, logits, name="motif_classifier")
    return classifier, feature_extractor(classifier)


def feature_extractor(classifier: keras.Model) -> keras.Model:
    return keras.Model(classifier.inputs[0], classifier.get_layer(FEATURES_LAYER).output, name="motif_features")


def train_classifier(
    train: Corpus, holdout: Corpus, seed: int = 0, epochs: int = CLASSIFIER_EPOCHS
) -> tuple[keras.Model, keras.Model, float]:
    """The judge's feature space: trained on the training split, its accuracy measured on the holdout."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    size, k = train.slots.shape[1], train.k_slots
    classifier, features = build_classifier(size, k, len(train.class_names))
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    tiles = train.one_hot()
    for _ in range(epochs):  # a fresh augmentation of every tile each epoch
        classifier.fit(augment_tiles(tiles, rng), train.labels, batch_size=64, epochs=1, verbose=0, shuffle=True)
    return classifier, features, holdout_accuracy(classifier, holdout)


def holdout_accuracy(classifier: keras.Model, holdout: Corpus) -> float:
    predicted = np.asarray(classifier(holdout.one_hot(), training=False)).argmax(-1)
    return float((predicted == holdout.labels).mean())


def corpus_fingerprint(train: Corpus, holdout: Corpus, seed: int, epochs: int) -> str:
    """sha256 of the judge's inputs: both splits' tiles and labels, the class names and its settings."""
    digest = hashlib.sha256()
    settings = {"widths": CLASSIFIER_WIDTHS, "epochs": epochs, "seed": seed, "k_slots": train.k_slots,
                "classes": list(train.class_names), "keras": keras.__version__.split(".")[0]}  # fmt: skip
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for part in (train, holdout):
        digest.update(np.ascontiguousarray(part.slots).tobytes())
        digest.update(np.ascontiguousarray(part.labels).tobytes())
    return digest.hexdigest()


def fingerprint_alias(fingerprint: str) -> str:
    """The registry alias naming a corpus (aliases are short identifiers)."""
    return f"corpus_{fingerprint[:16]}"


def judge_for_corpus(
    train: Corpus, holdout: Corpus, ds: str, seed: int = 0, epochs: int = CLASSIFIER_EPOCHS, client: Any = None
) -> Judge:
    """The registered judge of this corpus, or a new one trained, logged and registered for the next nights."""
    started = time.perf_counter()
    fingerprint = corpus_fingerprint(train, holdout, seed, epochs)
    if client is None:
        classifier, features, accuracy = train_classifier(train, holdout, seed=seed, epochs=epochs)
        return Judge(classifier, features, accuracy, fingerprint, None, False, time.perf_counter() - started)
    found = _registered(client, fingerprint)
    if found is not None:
        classifier = _load(found)
        return Judge(classifier, feature_extractor(classifier), float(found.tags["holdout_accuracy"]), fingerprint,
                     str(found.version), True, time.perf_counter() - started)  # fmt: skip
    classifier, features, accuracy = train_classifier(train, holdout, seed=seed, epochs=epochs)
    version = _register(client, classifier, fingerprint, accuracy, ds, seed, epochs, train, holdout)
    log.info("motif judge v%s trained for corpus %s (held-out accuracy %.3f)", version, fingerprint[:16], accuracy)
    return Judge(classifier, features, accuracy, fingerprint, version, False, time.perf_counter() - started)


def _registered(client: Any, fingerprint: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(JUDGE_MODEL_NAME, fingerprint_alias(fingerprint))
    except MlflowException:
        return None
    # The alias is a prefix; the version's tag holds the whole fingerprint.
    return version if version.tags.get("corpus_fingerprint") == fingerprint else None


def _load(version: Any) -> keras.Model:
    import mlflow

    return mlflow.keras.load_model(f"models:/{JUDGE_MODEL_NAME}/{version.version}")


def _register(
    client: Any, classifier: keras.Model, fingerprint: str, accuracy: float, ds: str, seed: int, epochs: int,
    train: Corpus, holdout: Corpus,
) -> str:  # fmt: skip
    import mlflow
    from mlflow.models import infer_signature

    size, k = train.slots.shape[1], train.k_slots
    sample = np.zeros((2, size, size, k), dtype="float32")
    signature = infer_signature(sample, np.asarray(classifier(sample, training=False)))
    tags = {"corpus_fingerprint": fingerprint, "model_name": JUDGE_MODEL_NAME}
    with night_run(JUDGE_EXPERIMENT, ds, f"motif-judge corpus={fingerprint[:16]}", tags):
        mlflow.log_params({"widths": ",".join(map(str, CLASSIFIER_WIDTHS)), "epochs": epochs, "seed": seed,
                           "train_tiles": len(train.labels), "holdout_tiles": len(holdout.labels),
                           "classes": ",".join(train.class_names), "corpus_fingerprint": fingerprint})  # fmt: skip
        mlflow.log_metric("holdout_accuracy", accuracy)
        info = mlflow.keras.log_model(classifier, name="judge", signature=signature,
                                      pip_requirements=keras_model_requirements(),
                                      registered_model_name=JUDGE_MODEL_NAME)  # fmt: skip
    version = str(info.registered_model_version)
    client.set_model_version_tag(JUDGE_MODEL_NAME, version, "corpus_fingerprint", fingerprint)
    client.set_model_version_tag(JUDGE_MODEL_NAME, version, "holdout_accuracy", repr(accuracy))
    client.set_registered_model_alias(JUDGE_MODEL_NAME, fingerprint_alias(fingerprint), version)
    return version
