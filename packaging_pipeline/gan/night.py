"""The GAN's nightly stages (CLI ``train``, ``evaluate-model``, ``base-model`` and the DAG's tasks).

Training and the gate meet here, above both: on an empty registry the training stage first puts the
shipped base model through the gate, so the night fine-tunes from a model that already paints well,
and ``base-model`` trains, gates and packages that model.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import write_json
from packaging_pipeline.core.keys import gan_evaluation_key
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.core.tracking import tracking_uri
from packaging_pipeline.gan.base_model import BASE_MODEL_DIR, export_base_model, register_base_model, shipped_base_model
from packaging_pipeline.gan.evaluation import PromotionPolicy, evaluate_and_promote
from packaging_pipeline.gan.registry import CHALLENGER, MODEL_NAME, champion_version
from packaging_pipeline.gan.training import (
    CORPUS_TAG,
    HOLDOUT_SHARE,
    PROCEDURAL_CORPUS,
    PROFILES,
    TrainingProfile,
    load_corpus,
    model_shape,
    train_pattern_gan,
)

if TYPE_CHECKING:
    from packaging_pipeline.gan.corpus import Corpus

log = logging.getLogger(__name__)

BASE_MODEL_EPOCHS = 200
"""Epochs of ``make base-model`` (the cpu profile's networks): long enough to clear the gate on 2 cores."""


def _profile(name: str, pretrain_epochs: int | None = None) -> TrainingProfile:
    if name not in PROFILES:
        raise InputError(f"unknown training profile {name!r}; choose one of {', '.join(PROFILES)}")
    chosen = PROFILES[name]
    if pretrain_epochs is not None:
        if pretrain_epochs < 0:
            raise InputError(f"pretrain epochs must be 0 or more, got {pretrain_epochs}")
        chosen = dataclasses.replace(chosen, pretrain_epochs=pretrain_epochs)
    return chosen


def gate_policy(judge_epochs: int | None = None) -> PromotionPolicy:
    """The promotion policy, with the judge's training budget overridden (a smoke run sets it small)."""
    if judge_epochs is None:
        return PromotionPolicy()
    if judge_epochs < 1:
        raise InputError(f"judge epochs must be 1 or more, got {judge_epochs}")
    return dataclasses.replace(PromotionPolicy(), judge_epochs=judge_epochs)


def _client() -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient()


def bootstrap_champion(
    ds: str, corpus: Corpus, profile: TrainingProfile, seed: int = 0, policy: PromotionPolicy | None = None
) -> dict[str, Any] | None:
    """On an empty registry, register the shipped base model and gate it; None when there is nothing to do.

    Only for the procedural corpus and networks the base model was trained with: another corpus or profile
    trains from scratch, as before.
    """
    client = _client()
    if champion_version(client) is not None:
        return None
    base = shipped_base_model()
    if base is None or not base.fits(corpus, model_shape(corpus, profile)):
        log.info("no champion and no base model for this corpus and profile: training from scratch")
        return None
    version = register_base_model(base, corpus, ds, client)
    report = evaluate_and_promote(ds, corpus, policy or PromotionPolicy(), seed=seed)
    log.info("base model registered as v%s and %s", version.version, "promoted" if report["promoted"] else "rejected")
    return {"model_version": str(version.version), "promoted": report["promoted"], "reasons": report["reasons"],
            "commit": base.provenance.get("commit")}  # fmt: skip


def train_for_night(
    settings: Any, ds: str, corpus_uri: str | None = None, profile: str = "cpu", epochs: int | None = None,
    seed: int = 0, from_scratch: bool = False, restart: bool = False, pretrain_epochs: int | None = None,
    class_weights_for: Callable[[Sequence[str]], Mapping[str, float] | None] | None = None,
    policy: PromotionPolicy | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The nightly training stage (CLI ``train`` and the DAG's ``train_pattern_gan``).

    ``epochs`` and ``pretrain_epochs`` override the profile's (a smoke run sets both small).
    ``class_weights_for`` maps the corpus's class names to sampling weights (customer feedback,
    ``feedback.bandit.night_class_weights``), or to None to train on the corpus as it is.
    Unless ``from_scratch``, a night without a champion starts from the shipped base model, once it has
    passed the gate under ``policy``.
    """
    chosen = _profile(profile, pretrain_epochs)
    corpus = load_corpus(corpus_uri, chosen, seed, settings.s3)
    procedural = corpus_uri in (None, "", PROCEDURAL_CORPUS)
    base = None if from_scratch or not procedural else bootstrap_champion(ds, corpus, chosen, seed, policy)
    train, _ = corpus.split(HOLDOUT_SHARE, seed)
    weights = class_weights_for(train.class_names) if class_weights_for else None
    if weights:
        train = train.resampled(weights, seed)
        log.info("ds=%s: corpus resampled by feedback class weights %s", ds, weights)
    result = train_pattern_gan(open_lake(settings), ds, train, chosen, epochs=epochs, seed=seed,
                               from_scratch=from_scratch, restart=restart, corpus_uri=corpus_uri)  # fmt: skip
    return {"lake": settings.lake_uri, "corpus": corpus.report, "feedback_class_weights": dict(weights or {}) or None,
            "base_model": base, **result.as_dict()}  # fmt: skip


def trained_on(client: Any) -> str | None:
    """The corpus the current challenger was trained on, as its training run recorded it."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
    except MlflowException:  # no challenger: evaluate_and_promote says so clearly
        return None
    return client.get_run(version.run_id).data.tags.get(CORPUS_TAG)


def _gate_and_report(
    lake: Any, ds: str, corpus: Corpus, corpus_uri: str | None, seed: int, policy: PromotionPolicy | None = None
) -> dict[str, Any]:
    """The gate's decision on the challenger, also written to ``reports/model/ds=<ds>/evaluation.json``."""
    report = evaluate_and_promote(ds, corpus, policy or PromotionPolicy(), seed=seed)
    report["corpus"] = {"uri": corpus_uri or PROCEDURAL_CORPUS, **corpus.report}
    write_json(lake, gan_evaluation_key(ds), report)
    return report


def evaluate_for_night(
    settings: Any, ds: str, corpus_uri: str | None = None, profile: str = "cpu", seed: int = 0,
    policy: PromotionPolicy | None = None,
) -> dict[str, Any]:
    """The nightly gate (CLI ``evaluate-model`` and the DAG's ``evaluate_and_promote_model``).

    Without ``corpus_uri`` the challenger is judged against the corpus it was trained on. The report also
    goes to ``reports/model/ds=<ds>/evaluation.json`` in the lake.
    """
    corpus_uri = corpus_uri or trained_on(_client())
    corpus = load_corpus(corpus_uri, _profile(profile), seed, settings.s3)
    return _gate_and_report(open_lake(settings), ds, corpus, corpus_uri, seed, policy)


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


def build_base_model(
    settings: Any, ds: str, epochs: int = BASE_MODEL_EPOCHS, seed: int = 0, export_dir: Path = BASE_MODEL_DIR,
    command: str = "make base-model",
) -> dict[str, Any]:  # fmt: skip
    """Train the cpu profile from scratch, gate it, and package its weights with their provenance.

    It must clear the gate: a base model that fails is not exported (the package keeps the one it had).
    """
    import mlflow

    profile = dataclasses.replace(PROFILES["cpu"], epochs=epochs)
    corpus = load_corpus(None, profile, seed)
    train, _ = corpus.split(HOLDOUT_SHARE, seed)
    lake = open_lake(settings)
    started = time.perf_counter()
    result = train_pattern_gan(lake, ds, train, profile, seed=seed, from_scratch=True, restart=True)
    training_seconds = time.perf_counter() - started
    report = _gate_and_report(lake, ds, corpus, None, seed)
    summary = {"training": result.as_dict(), "gate": {k: report[k] for k in ("promoted", "reasons", "challenger",
                                                                             "judge")}}  # fmt: skip
    if not report["promoted"]:
        return {**summary, "exported": None}
    weights = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="weights/gan.weights.h5"))
    provenance = {
        "command": command, "seed": seed, "commit": _commit(), "profile": profile.name, "epochs": epochs,
        "pretrain_epochs": profile.pretrain_epochs, "shape": dataclasses.asdict(model_shape(corpus, profile)),
        "class_names": list(corpus.class_names), "trained_on": PROCEDURAL_CORPUS, "mlflow_run_id": result.run_id,
        "training_seconds": round(training_seconds, 1), "images_per_second": round(result.images_per_second, 1),
        "metrics": {k: v for k, v in report["challenger"].items() if k != "per_class"},
        "per_class": report["challenger"]["per_class"], "judge": report["judge"],
    }  # fmt: skip
    exported = export_base_model(weights, provenance, export_dir)
    return {**summary, "exported": str(exported.weights.parent)}
