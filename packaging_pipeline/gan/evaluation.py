"""Judging a generator and gating its promotion.

Inception weights cannot be downloaded here, and they know nothing about ink separations anyway,
so distances are measured in the feature space of a small classifier trained on the corpus
itself (the usual way to do a domain FID); its held-out accuracy is reported so an analyst can
tell whether the features mean anything. Champion and challenger are scored in the same run, with
the same classifier and held-out images, so their numbers compare.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers

from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.formats import write_json
from packaging_pipeline.core.keys import gan_evaluation_key
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.core.tracking import tracking_uri
from packaging_pipeline.gan.corpus import augment_tiles, seam_score
from packaging_pipeline.gan.model import WrapPad2D
from packaging_pipeline.gan.registry import CHALLENGER, CHAMPION, MODEL_NAME, champion_version, load_generator
from packaging_pipeline.gan.render import generate_separations
from packaging_pipeline.gan.training import HOLDOUT_SHARE, PROFILES, load_corpus

if TYPE_CHECKING:
    from packaging_pipeline.gan.corpus import Corpus

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PromotionPolicy:
    """A challenger becomes champion only if it clears every bar and is not worse than the champion."""

    min_conditional_accuracy: float = 0.5  # the classifier recognises the requested motif
    max_seam_ratio: float = 1.5  # generated seam score / the corpus's own
    min_diversity_ratio: float = 0.3  # generated within-class spread / the corpus's own
    max_fid_regression: float = 1.10  # challenger FID may exceed the champion's by at most 10%
    min_classifier_accuracy: float = 0.6  # below this the feature space is too weak to judge anything


CLASSIFIER_WIDTHS = (32, 64, 64)
CLASSIFIER_EPOCHS = 40


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
    features = layers.Dense(64, activation="relu", name="features")(x)
    logits = layers.Dense(n_classes, name="logits")(features)
    classifier = keras.Model(tile, logits, name="motif_classifier")
    return classifier, keras.Model(tile, features, name="motif_features")


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
    _, accuracy = classifier.evaluate(holdout.one_hot(), holdout.labels, verbose=0)
    return classifier, features, float(accuracy)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def kernel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """KID: unbiased MMD² with the cubic polynomial kernel; unbiased, so fine on small samples."""
    d = a.shape[1]

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x @ y.T / d + 1.0) ** 3

    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float(
        (kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean()
    )


def _within_class_spread(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean L1 distance between pairs of the same class: how different the samples of a motif are."""
    spreads = []
    for c in np.unique(labels):
        xs = x[labels == c].reshape((labels == c).sum(), -1)
        if len(xs) > 1:
            spreads.append(np.abs(xs[:, None, :] - xs[None, :, :]).mean(-1).sum() / (len(xs) * (len(xs) - 1)))
    return float(np.mean(spreads)) if spreads else 0.0


def evaluate_generator(
    generator: keras.Model, classifier: keras.Model, features: keras.Model, holdout: Corpus, per_class: int = 32,
    seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Scores of one generator against the held-out corpus, in the classifier's feature space."""

    n_classes = len(holdout.class_names)
    fake = np.concatenate([generate_separations(generator, c, per_class, seed=seed + c) for c in range(n_classes)])
    fake_labels = np.repeat(np.arange(n_classes), per_class)
    real = holdout.one_hot()
    predicted = np.asarray(classifier.predict(fake, verbose=0)).argmax(-1)
    f_real = np.asarray(features.predict(real, verbose=0), dtype=np.float64)
    f_fake = np.asarray(features.predict(fake, verbose=0), dtype=np.float64)
    corpus_seam = seam_score(real)
    return {
        "fid": frechet_distance(f_real, f_fake),
        "kid": kernel_distance(f_real, f_fake),
        "conditional_accuracy": float((predicted == fake_labels).mean()),
        "diversity_ratio": _within_class_spread(fake, fake_labels)
        / max(_within_class_spread(real, holdout.labels), 1e-9),
        "seam_score": float(seam_score(fake)),
        "corpus_seam_score": float(corpus_seam),
        "seam_ratio": float(seam_score(fake)) / max(float(corpus_seam), 1e-9),
    }


def promotion_decision(
    challenger: dict[str, float], champion: dict[str, float] | None, classifier_accuracy: float, policy: PromotionPolicy
) -> tuple[bool, list[str]]:
    """Whether the challenger should become champion, and every reason that decided it."""
    reasons = []
    if classifier_accuracy < policy.min_classifier_accuracy:
        reasons.append(
            f"classifier accuracy {classifier_accuracy:.2f} < {policy.min_classifier_accuracy}: cannot judge"
        )
    if challenger["conditional_accuracy"] < policy.min_conditional_accuracy:
        reasons.append(
            f"conditional accuracy {challenger['conditional_accuracy']:.2f} < {policy.min_conditional_accuracy}"
        )
    if challenger["seam_ratio"] > policy.max_seam_ratio:
        reasons.append(f"seam ratio {challenger['seam_ratio']:.2f} > {policy.max_seam_ratio}")
    if challenger["diversity_ratio"] < policy.min_diversity_ratio:
        reasons.append(f"diversity ratio {challenger['diversity_ratio']:.2f} < {policy.min_diversity_ratio}")
    if champion is not None and challenger["fid"] > champion["fid"] * policy.max_fid_regression:
        reasons.append(f"FID {challenger['fid']:.3f} worse than champion's {champion['fid']:.3f} by more than "
                       f"{policy.max_fid_regression - 1:.0%}")  # fmt: skip
    if champion is not None and challenger["conditional_accuracy"] < champion["conditional_accuracy"] - 0.1:
        reasons.append(f"conditional accuracy {challenger['conditional_accuracy']:.2f} well below the champion's "
                       f"{champion['conditional_accuracy']:.2f}")  # fmt: skip
    if not reasons:
        reasons.append("passes every threshold" + (" and is not worse than the champion" if champion else
                                                   " (no champion yet)"))  # fmt: skip
        return True, reasons
    return False, reasons


def evaluate_and_promote(
    ds: str, corpus: Corpus, policy: PromotionPolicy = PromotionPolicy(), seed: int = 0, per_class: int = 32,
) -> dict[str, Any]:  # fmt: skip
    """Score the challenger (and the champion, if any) and move ``champion`` only if the challenger earns it.

    The decision, its reasons and the scores are tags and metrics on the challenger's training run.
    """
    import mlflow


    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    try:
        challenger = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
    except Exception as exc:
        raise PipelineError(
            f"no '{CHALLENGER}' version of {MODEL_NAME} in MLflow at {tracking_uri()} ({exc}); "
            f"run `packaging-pipeline train --ds {ds}` first"
        ) from exc
    champion = champion_version(client)
    train, holdout = corpus.split(HOLDOUT_SHARE, seed)
    classifier, features, accuracy = train_classifier(train, holdout, seed=seed)

    def score(version: Any) -> dict[str, float]:
        generator = load_generator(f"models:/{MODEL_NAME}/{version.version}")
        return evaluate_generator(generator, classifier, features, holdout, per_class=per_class, seed=seed)

    challenger_scores = score(challenger)
    same = champion is not None and champion.version == challenger.version
    champion_scores = None if champion is None or same else score(champion)
    promote, reasons = promotion_decision(challenger_scores, champion_scores, accuracy, policy)
    if same:
        promote, reasons = False, ["the challenger already is the champion"]
    run_id = challenger.run_id
    for name, value in challenger_scores.items():
        client.log_metric(run_id, f"eval_{name}", value)
    client.log_metric(run_id, "eval_classifier_accuracy", accuracy)
    if champion_scores:
        for name, value in champion_scores.items():
            client.log_metric(run_id, f"eval_champion_{name}", value)
    client.set_tag(run_id, "promotion.decision", "promoted" if promote else "rejected")
    client.set_tag(run_id, "promotion.reasons", "; ".join(reasons))
    client.set_tag(run_id, "promotion.ds", ds)
    if promote:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, challenger.version)
    log.info("model v%s %s: %s", challenger.version, "promoted" if promote else "rejected", "; ".join(reasons))
    return {
        "ds": ds,
        "challenger_version": str(challenger.version),
        "champion_version_before": None if champion is None else str(champion.version),
        "champion_version_after": str(challenger.version)
        if promote
        else (None if champion is None else str(champion.version)),
        "promoted": promote,
        "reasons": reasons,
        "classifier_accuracy": accuracy,
        "challenger": challenger_scores,
        "champion": champion_scores,
        "run_id": run_id,
    }


def evaluate_for_night(
    settings: Any, ds: str, corpus_uri: str | None = None, profile: str = "cpu", seed: int = 0
) -> dict[str, Any]:
    """The nightly gate (CLI ``evaluate-model`` and the DAG's ``evaluate_and_promote_model``).

    The report also goes to ``reports/model/ds=<ds>/evaluation.json`` in the lake.
    """
    corpus = load_corpus(corpus_uri, PROFILES[profile], seed, settings.s3)
    report = evaluate_and_promote(ds, corpus, seed=seed)
    write_json(open_lake(settings), gan_evaluation_key(ds), report)
    return report
