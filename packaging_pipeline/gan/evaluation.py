"""Judging a generator and gating its promotion, overall and per motif class.

Distances are measured in the feature space of the corpus's motif judge (:mod:`packaging_pipeline.gan.judge`),
whose held-out accuracy is reported so an analyst can tell whether the features mean anything. FID and KID
stand beside a real-vs-real reference: the same distance between two disjoint halves of the held-out corpus,
with as many fakes as one half holds, so "how far from real" has a scale. Champion and challenger are scored
in the same run, with the same judge and held-out images, so their numbers compare.

Per class, a challenger must be recognisably the motif asked for, vary as much as the corpus's tiles of that
class and put ink on the box. One failing class keeps the whole challenger out: designs keep the previous
champion for every motif, never a mix of two models' classes in one night.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.tracking import tracking_uri
from packaging_pipeline.gan.corpus import ink_coverage, seam_score
from packaging_pipeline.gan.judge import CLASSIFIER_EPOCHS, Judge, judge_for_corpus
from packaging_pipeline.gan.registry import CHALLENGER, CHAMPION, MODEL_NAME, champion_version, load_generator
from packaging_pipeline.gan.render import generate_separations
from packaging_pipeline.gan.training import HOLDOUT_SHARE

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
    min_class_conditional_accuracy: float = 0.5  # every class, not only on average
    min_class_diversity_ratio: float = 0.3
    min_class_ink_coverage: float = 0.05  # share of the tile printed in ink: a blank class never passes
    judge_epochs: int = CLASSIFIER_EPOCHS  # the judge's training budget, part of its corpus fingerprint


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


def _spread(x: np.ndarray) -> float:
    """Mean L1 distance between pairs of tiles: how different the samples of one motif are."""
    xs = x.reshape(len(x), -1)
    if len(xs) < 2:
        return 0.0
    return float(np.abs(xs[:, None, :] - xs[None, :, :]).mean(-1).sum() / (len(xs) * (len(xs) - 1)))


def _structural_spread(x: np.ndarray) -> float:
    """:func:`_spread` with each pair compared at its best alignment on the torus: variety that is not phase.

    A seamless tile shows the same pattern at any phase, and shifting one tile around already spreads
    about as much as a whole class of the corpus does in pixels; this is the spread a person sees
    between two boxes. One-hot tiles [n, H, W, K]: the agreement at every shift is a circular
    cross-correlation, computed with FFTs.
    """
    n, h, w, k = x.shape
    if n < 2:
        return 0.0
    spectra = np.fft.rfft2(np.asarray(x, np.float64), axes=(1, 2))
    total = 0.0
    for i in range(n - 1):
        agreement = np.fft.irfft2(np.conj(spectra[i])[None] * spectra[i + 1 :], s=(h, w), axes=(1, 2)).sum(-1)
        best = agreement.reshape(n - i - 1, -1).max(1)
        total += float((2.0 * (h * w - best) / (h * w * k)).sum())
    return total * 2.0 / (n * (n - 1))


def as_printed(separations: np.ndarray) -> np.ndarray:
    """Soft separations as they print: each pixel all in its most likely slot (one-hot, like the corpus)."""
    k = separations.shape[-1]
    return np.eye(k, dtype=np.float32)[np.asarray(separations).argmax(-1)]


def evaluate_generator(
    generator: keras.Model, judge: Judge, holdout: Corpus, per_class: int | None = None, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Scores of one generator against the held-out corpus, in the judge's feature space, overall and per class.

    Tiles are judged as they print (:func:`as_printed`): the corpus is one-hot, and a soft tile would
    be far from it in the judge's eyes for its softness alone, which no box ever shows.

    The holdout is split into halves A and B: fakes are compared with B, and A against B is the
    real-vs-real reference. Without ``per_class``, each class gets as many fakes as half A holds of it,
    so both distances are measured on equal sample sizes.
    """
    reference, compared = holdout.split(0.5, seed)
    names = holdout.class_names
    counts = [per_class or max(int((reference.labels == c).sum()), 2) for c in range(len(names))]
    fakes = [as_printed(generate_separations(generator, c, n, seed=seed + c)) for c, n in enumerate(counts)]
    fake, fake_labels = np.concatenate(fakes), np.repeat(np.arange(len(names)), counts)
    real, real_labels = holdout.one_hot(), holdout.labels
    predicted = np.asarray(judge.classifier.predict(fake, verbose=0)).argmax(-1)

    def feats(x: np.ndarray) -> np.ndarray:
        return np.asarray(judge.features.predict(x, verbose=0), dtype=np.float64)

    f_fake, f_a, f_b = feats(fake), feats(reference.one_hot()), feats(compared.one_hot())
    per: dict[str, dict[str, float]] = {}
    for c, name in enumerate(names):
        mine, theirs = fake[fake_labels == c], real[real_labels == c]
        per[name] = {
            "conditional_accuracy": float((predicted[fake_labels == c] == c).mean()),
            "diversity_ratio": _spread(mine) / max(_spread(theirs), 1e-9),
            "structural_diversity_ratio": _structural_spread(mine) / max(_structural_spread(theirs), 1e-9),
            "ink_coverage": ink_coverage(mine),
            "corpus_ink_coverage": ink_coverage(theirs),
        }
    corpus_seam, fake_seam = float(seam_score(real)), float(seam_score(fake))
    real_spread = np.mean([_spread(real[real_labels == c]) for c in range(len(names))])
    return {
        "fid": frechet_distance(f_b, f_fake),
        "kid": kernel_distance(f_b, f_fake),
        "real_vs_real_fid": frechet_distance(f_b, f_a),
        "real_vs_real_kid": kernel_distance(f_b, f_a),
        "conditional_accuracy": float((predicted == fake_labels).mean()),
        "diversity_ratio": float(np.mean([_spread(f) for f in fakes]) / max(real_spread, 1e-9)),
        "min_class_conditional_accuracy": min(v["conditional_accuracy"] for v in per.values()),
        "min_class_diversity_ratio": min(v["diversity_ratio"] for v in per.values()),
        "structural_diversity_ratio": float(np.mean([v["structural_diversity_ratio"] for v in per.values()])),
        "min_class_ink_coverage": min(v["ink_coverage"] for v in per.values()),
        "seam_score": fake_seam,
        "corpus_seam_score": corpus_seam,
        "seam_ratio": fake_seam / max(corpus_seam, 1e-9),
        "per_class": per,
    }


def class_verdicts(per_class: dict[str, dict[str, float]], policy: PromotionPolicy) -> dict[str, list[str]]:
    """Per class, every bar it missed (an empty list: the class passes)."""
    bars = (("conditional_accuracy", policy.min_class_conditional_accuracy, "conditional accuracy"),
            ("diversity_ratio", policy.min_class_diversity_ratio, "diversity ratio"),
            ("ink_coverage", policy.min_class_ink_coverage, "ink coverage"))  # fmt: skip
    return {
        name: [f"{label} {scores[key]:.2f} < {bar}" for key, bar, label in bars if scores[key] < bar]
        for name, scores in per_class.items()
    }


def promotion_decision(
    challenger: dict[str, Any], champion: dict[str, Any] | None, classifier_accuracy: float, policy: PromotionPolicy
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
    for name, missed in class_verdicts(challenger.get("per_class", {}), policy).items():
        reasons.extend(f"class {name}: {reason}" for reason in missed)
    if champion is not None and challenger["fid"] > champion["fid"] * policy.max_fid_regression:
        reasons.append(f"FID {challenger['fid']:.3f} worse than champion's {champion['fid']:.3f} by more than "
                       f"{policy.max_fid_regression - 1:.0%}")  # fmt: skip
    if champion is not None and challenger["conditional_accuracy"] < champion["conditional_accuracy"] - 0.1:
        reasons.append(f"conditional accuracy {challenger['conditional_accuracy']:.2f} well below the champion's "
                       f"{champion['conditional_accuracy']:.2f}")  # fmt: skip
    if not reasons:
        reasons.append("passes every threshold, in every class" + (" and is not worse than the champion" if champion
                                                                   else " (no champion yet)"))  # fmt: skip
        return True, reasons
    return False, reasons


def scores_as_metrics(scores: dict[str, Any], prefix: str, class_prefix: str) -> dict[str, float]:
    """Flat MLflow metrics: ``<prefix><score>`` overall and ``<class_prefix>/<class>/<score>`` per class."""
    flat = {f"{prefix}{k}": float(v) for k, v in scores.items() if k != "per_class"}
    for name, values in scores.get("per_class", {}).items():
        flat.update({f"{class_prefix}/{name}/{k}": float(v) for k, v in values.items()})
    return flat


def _log_metrics(client: Any, run_id: str, metrics: dict[str, float]) -> None:
    """All metrics in one request (a per-class gate logs a few dozen)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])


def evaluate_and_promote(
    ds: str, corpus: Corpus, policy: PromotionPolicy = PromotionPolicy(), seed: int = 0, per_class: int | None = None,
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
    judge = judge_for_corpus(train, holdout, ds, seed=seed, epochs=policy.judge_epochs, client=client)

    def score(version: Any) -> dict[str, Any]:
        generator = load_generator(f"models:/{MODEL_NAME}/{version.version}")
        return evaluate_generator(generator, judge, holdout, per_class=per_class, seed=seed)

    challenger_scores = score(challenger)
    same = champion is not None and champion.version == challenger.version
    champion_scores = None if champion is None or same else score(champion)
    promote, reasons = promotion_decision(challenger_scores, champion_scores, judge.holdout_accuracy, policy)
    if same:
        promote, reasons = False, ["the challenger already is the champion"]
    run_id = challenger.run_id
    metrics = scores_as_metrics(challenger_scores, "eval_", "per_class")
    metrics["eval_classifier_accuracy"] = judge.holdout_accuracy
    metrics["eval_judge_seconds"] = judge.seconds
    if champion_scores:
        metrics |= scores_as_metrics(champion_scores, "eval_champion_", "champion_per_class")
    _log_metrics(client, run_id, metrics)
    verdicts = class_verdicts(challenger_scores["per_class"], policy)
    client.set_tag(run_id, "promotion.decision", "promoted" if promote else "rejected")
    client.set_tag(run_id, "promotion.reasons", "; ".join(reasons))
    client.set_tag(run_id, "promotion.ds", ds)
    failed = [name for name, missed in verdicts.items() if missed]
    client.set_tag(run_id, "promotion.failed_classes", ",".join(failed) or "none")
    client.set_tag(run_id, "judge.version", str(judge.model_version))
    client.set_tag(run_id, "judge.corpus_fingerprint", judge.fingerprint)
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
        "classifier_accuracy": judge.holdout_accuracy,
        "challenger": challenger_scores,
        "champion": champion_scores,
        "real_vs_real_fid": challenger_scores["real_vs_real_fid"],
        "class_verdicts": {name: {"passed": not missed, "reasons": missed} for name, missed in verdicts.items()},
        "judge": judge.summary(),
        "run_id": run_id,
    }
