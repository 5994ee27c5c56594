"""Training the pattern GAN: profiles, devices, input pipeline and the MLflow run.

One training is one MLflow run. A night warm-starts from the model carrying the ``champion``
alias unless told to start from scratch; the new version is registered with the ``challenger``
alias (:mod:`packaging_pipeline.gan.registry`) and only evaluation (``evaluation.py``) may move
``champion``. Checkpoints go to the lake after every epoch (:mod:`packaging_pipeline.gan.checkpoints`),
so a killed training resumes at the epoch it reached.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from packaging_pipeline.core.config import normalise_lake_uri
from packaging_pipeline.core.errors import InputError, PipelineError
from packaging_pipeline.core.keys import gan_checkpoint_prefix
from packaging_pipeline.core.progress import Tracker, track
from packaging_pipeline.core.storage import open_lake
from packaging_pipeline.core.tracking import night_run, tracking_uri
from packaging_pipeline.gan.checkpoints import load_checkpoint, save_checkpoint
from packaging_pipeline.gan.image_corpus import load_image_corpus
from packaging_pipeline.gan.model import ModelShape, PatternGAN, model_flops_per_image
from packaging_pipeline.gan.motifs import procedural_corpus
from packaging_pipeline.gan.registry import CHALLENGER, MODEL_NAME, champion_version, register_challenger
from packaging_pipeline.gan.render import sample_grid

if TYPE_CHECKING:
    from packaging_pipeline.core.storage import Lake
    from packaging_pipeline.gan.corpus import Corpus

log = logging.getLogger(__name__)

GAN_EXPERIMENT = "pattern-gan"


@dataclasses.dataclass(frozen=True)
class TrainingProfile:
    """Everything that scales with the hardware. ``cpu`` trains in minutes on 2 cores; ``gpu`` for real."""

    name: str
    size: int
    filters: int
    latent_dim: int
    batch_size: int
    epochs: int
    tiles_per_class: int
    mixed_precision: bool
    xla: bool
    d_learning_rate: float = 2e-4
    g_learning_rate: float = 2e-4
    beta_1: float = 0.5
    label_smoothing: float = 0.1
    mode_seeking: float = 0.2  # weight of the generator's mode-seeking term (0 turns it off)
    motif_weight: float = 1.0  # weight of the generator's auxiliary motif loss (the discriminator's motif head)
    minibatch_std: bool = True  # the discriminator's minibatch standard deviation layer
    class_norm: bool = True  # class-conditional normalisation in the generator
    torus_shift: bool = True  # the generator places each tile at a phase read from its latent
    spectral_norm: bool = False  # spectral normalisation in the discriminator
    loss: str = "hinge"  # the adversarial loss: "hinge" or "bce" (non-saturating, with the label smoothing)
    ema: bool = True  # sample, register and ship a moving average of the generator's weights
    ema_decay: float = 0.999  # that average's decay per generator step (ramped up from 0 at the start)
    ink_coverage_weight: float = 0.0  # pulls each class's ink coverage to the corpus's (model.class_ink_gap; 0: off)
    pretrain_epochs: int = 0  # the discriminator learns the motifs (training split) before a from-scratch training
    fine_tune_epochs: int | None = None  # epochs when warm-starting from the champion
    deterministic: bool = True  # TensorFlow op determinism: the same seed trains the same model

    def __post_init__(self) -> None:
        if self.xla and self.deterministic:
            # Keras silently compiles without XLA when op determinism is on; say so instead of logging xla=True.
            raise InputError(
                f"training profile {self.name!r}: xla and deterministic exclude each other "
                "(Keras turns XLA off under op determinism); choose one"
            )


PROFILES = {
    "cpu": TrainingProfile("cpu", size=32, filters=16, latent_dim=32, batch_size=32, epochs=25,
                           tiles_per_class=256, mixed_precision=False, xla=False, fine_tune_epochs=8,
                           pretrain_epochs=40),
    "gpu": TrainingProfile("gpu", size=64, filters=64, latent_dim=128, batch_size=256, epochs=60,
                           tiles_per_class=2048, mixed_precision=True, xla=True, fine_tune_epochs=15,
                           pretrain_epochs=20, deterministic=False),
}  # fmt: skip


def configure_devices(profile: TrainingProfile) -> dict[str, Any]:
    """Memory growth on every GPU (share the card, no 100% grab), mixed precision only where it pays.

    Op determinism (reproducible runs, the cpu profile) and XLA (the gpu profile's speed) follow the
    profile; they exclude each other because Keras compiles without XLA under op determinism. XLA is
    used only when a GPU is visible: on this project's 2-core CPU it made the gpu profile's step slower
    (131.6 against 168.5 GFLOP/s) and the XLA-compiled baseline ran out of 24 GiB (docs/benchmarks.md).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process: growth was set then, or cannot be now
            pass
    # float16 on a CPU is emulated and slower; mixed precision is a GPU setting.
    policy = "mixed_float16" if profile.mixed_precision and gpus else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if profile.deterministic:
        tf.config.experimental.enable_op_determinism()  # process-wide; an Airflow task is its own process
    xla = bool(profile.xla and gpus)
    return {"gpus": len(gpus), "precision_policy": policy, "xla": xla, "deterministic": profile.deterministic}


def make_dataset(corpus: Corpus, batch_size: int, seed: int):  # noqa: ANN201 - tf.data.Dataset
    """Cached, shuffled (seeded), batched, prefetched one-hot separations with their motif labels."""
    import tensorflow as tf

    x, y = corpus.one_hot(), corpus.labels.astype("int32")
    if len(x) < batch_size:
        raise InputError(f"the corpus has {len(x)} tiles, fewer than one batch of {batch_size}: add images or lower it")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def model_shape(corpus: Corpus, profile: TrainingProfile) -> ModelShape:
    """The networks a profile builds for a corpus (its tile size, slots and classes)."""
    return ModelShape(size=corpus.slots.shape[1], k_slots=corpus.k_slots, n_classes=len(corpus.class_names),
                      latent_dim=profile.latent_dim, filters=profile.filters,
                      minibatch_std=profile.minibatch_std, class_norm=profile.class_norm,
                      torus_shift=profile.torus_shift, ema=profile.ema,
                      spectral_norm=profile.spectral_norm)  # fmt: skip


def build_gan(
    shape: ModelShape, profile: TrainingProfile, seed: int, jit: bool, corpus: Corpus | None = None
) -> PatternGAN:
    """The GAN a profile trains, compiled. ``corpus`` (the tiles it will learn) gives each class's ink coverage,
    which the generator is pulled towards when the profile's ``ink_coverage_weight`` is set."""
    if profile.ink_coverage_weight and corpus is None:
        raise InputError(f"training profile {profile.name!r}: ink_coverage_weight needs the training corpus")
    targets = None if corpus is None else corpus.class_ink_coverage()
    gan = PatternGAN(shape, seed=seed, label_smoothing=profile.label_smoothing, mode_seeking=profile.mode_seeking,
                     motif_weight=profile.motif_weight, loss=profile.loss, ema_decay=profile.ema_decay,
                     ink_coverage_weight=profile.ink_coverage_weight, ink_targets=targets)  # fmt: skip

    def optimizer(lr: float) -> keras.optimizers.Optimizer:
        opt = keras.optimizers.Adam(lr, beta_1=profile.beta_1)
        # Loss scaling keeps float16 gradients from underflowing; a no-op wrapper is not added on float32.
        if keras.mixed_precision.global_policy().compute_dtype == "float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt

    gan.compile(optimizer(profile.d_learning_rate), optimizer(profile.g_learning_rate), jit_compile=jit)
    gan.build()
    gan.d_optimizer.build(gan.discriminator.trainable_variables)
    gan.g_optimizer.build(gan.generator.trainable_variables)
    return gan


@dataclasses.dataclass
class TrainingResult:
    ds: str
    run_id: str
    model_version: str
    model_uri: str
    warm_started_from: str | None
    epochs_run: int
    epochs_total: int
    resumed_from_epoch: int
    images_per_second: float
    gflops_per_second: float
    final_losses: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _warm_start(gan: PatternGAN, client: Any) -> str | None:
    """Load the champion's generator and discriminator weights; returns its version, or None."""
    import mlflow

    version = champion_version(client)
    if version is None:
        return None
    path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="weights/gan.weights.h5")
    try:
        gan.load_weights(path)
    except ValueError as exc:
        log.warning("champion v%s has another shape (%s); training from scratch", version.version, exc)
        return None
    return str(version.version)


def train_pattern_gan(
    lake: Lake,
    ds: str,
    corpus: Corpus,
    profile: TrainingProfile = PROFILES["cpu"],
    epochs: int | None = None,
    seed: int = 0,
    from_scratch: bool = False,
    restart: bool = False,
    sample_grid: bool = True,
    corpus_uri: str | None = None,
) -> TrainingResult:
    """Train (or fine-tune) on ``corpus``, checkpoint each epoch to the lake, log and register in MLflow."""
    import mlflow


    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    try:
        client.search_experiments(max_results=1)  # fail before training if the tracking server is down
    except Exception as exc:
        raise PipelineError(
            f"cannot reach MLflow at {tracking_uri()} ({type(exc).__name__}); start the tracking server or "
            f"set MLFLOW_TRACKING_URI. Nothing was trained or registered."
        ) from exc

    devices = configure_devices(profile)
    keras.utils.set_random_seed(seed)
    shape = model_shape(corpus, profile)
    gan = build_gan(shape, profile, seed, jit=devices["xla"], corpus=corpus)

    warm_from = None if from_scratch else _warm_start(gan, client)
    total_epochs = epochs or ((profile.fine_tune_epochs or profile.epochs) if warm_from else profile.epochs)
    if restart:
        lake.delete_prefix(gan_checkpoint_prefix(ds))
    state = load_checkpoint(lake, ds, gan)
    start_epoch = int(state["epoch"]) if state else 0
    if state:
        warm_from = state.get("warm_started_from")
        log.info("resuming night %s from its checkpoint at epoch %d", ds, start_epoch)

    dataset = make_dataset(corpus, profile.batch_size, seed)
    steps_per_epoch = len(corpus.labels) // profile.batch_size
    flops_per_image = 3 * (model_flops_per_image(gan.generator) * 2 + model_flops_per_image(gan.discriminator) * 3)
    # Per image per step: G forward twice, D forward three times; backward ~2x forward (hence 3x).

    # The corpus it learnt from: evaluation judges the model against the same corpus unless told otherwise.
    tags = {"model_name": MODEL_NAME, "profile": profile.name, CORPUS_TAG: corpus_uri or PROCEDURAL_CORPUS}
    with night_run(GAN_EXPERIMENT, ds, f"pattern-gan ds={ds}", tags) as run:
        mlflow.log_params(
            {
                **{f"profile.{k}": v for k, v in dataclasses.asdict(profile).items()},
                **{f"model.{k}": v for k, v in dataclasses.asdict(shape).items()},
                "epochs": total_epochs, "seed": seed, "warm_started_from": warm_from, "from_scratch": from_scratch,
                "resumed_from_epoch": start_epoch, "corpus.tiles": len(corpus.labels),
                "corpus.classes": ",".join(corpus.class_names), "precision_policy": devices["precision_policy"],
                "xla": bool(gan.jit_compile), "op_determinism": devices["deterministic"], "gpus": devices["gpus"],
                "d_optimizer": f"Adam(lr={profile.d_learning_rate}, beta_1={profile.beta_1})",
                "g_optimizer": f"Adam(lr={profile.g_learning_rate}, beta_1={profile.beta_1})",
                "flops_per_image_step": flops_per_image, "steps_per_epoch": steps_per_epoch,
                "corpus.feedback_class_weights": corpus.report.get("class_weights") or "off",
                "corpus.class_ink_coverage": {n: round(t, 4) for n, t in zip(corpus.class_names, gan.ink_targets,
                                                                               strict=True)},  # fmt: skip
            }
        )  # fmt: skip
        throughput: list[float] = []
        callback = EpochLogger(lake, ds, gan, corpus, steps_per_epoch * profile.batch_size, throughput,
                                warm_from, sample_grid)  # fmt: skip
        if start_epoch == 0 and warm_from is None and profile.pretrain_epochs:
            # From scratch only: a warm start's discriminator already knows the motifs, and a resumed night
            # restored its pretrained weights from the checkpoint.
            train_accuracy = gan.pretrain_motif_head(corpus.one_hot(), corpus.labels, profile.pretrain_epochs,
                                                     profile.batch_size, seed)  # fmt: skip
            mlflow.log_metric("pretrain_motif_accuracy", train_accuracy)
        history = None
        if start_epoch < total_epochs:
            with track("training the pattern GAN", total_epochs - start_epoch, "epochs") as callback.progress:
                history = gan.fit(dataset, epochs=total_epochs, initial_epoch=start_epoch, callbacks=[callback],
                                  verbose=0)  # fmt: skip
        images_per_s = float(np.median(throughput)) if throughput else 0.0
        mlflow.log_metrics(
            {"images_per_second": images_per_s, "gflops_per_second": images_per_s * flops_per_image / 1e9}
        )
        version = register_challenger(gan, corpus, shape, client)
        mlflow.set_tags({"registered_version": version.version, "alias": CHALLENGER})
    final = {k: float(v[-1]) for k, v in (history.history.items() if history else [])}
    return TrainingResult(
        ds=ds, run_id=run.info.run_id, model_version=str(version.version),
        model_uri=f"models:/{MODEL_NAME}/{version.version}", warm_started_from=warm_from,
        epochs_run=total_epochs - start_epoch, epochs_total=total_epochs, resumed_from_epoch=start_epoch,
        images_per_second=images_per_s, gflops_per_second=images_per_s * flops_per_image / 1e9, final_losses=final,
    )  # fmt: skip


class EpochLogger(keras.callbacks.Callback):
    """Per-epoch MLflow metrics (losses, images/s), a sample grid, and a lake checkpoint."""

    def __init__(self, lake: Lake, ds: str, gan: PatternGAN, corpus: Corpus, images_per_epoch: int,
                 throughput: list[float], warm_from: str | None, grid: bool):  # fmt: skip
        super().__init__()
        self.lake, self.ds, self.gan, self.corpus = lake, ds, gan, corpus
        self.images_per_epoch, self.throughput = images_per_epoch, throughput
        self.warm_from, self.grid = warm_from, grid
        self.t0 = time.perf_counter()
        self.progress: Tracker | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import mlflow

        elapsed = time.perf_counter() - self.t0
        rate = self.images_per_epoch / elapsed if elapsed > 0 else 0.0
        self.throughput.append(rate)
        metrics = {**{k: float(v) for k, v in (logs or {}).items()}, "epoch_images_per_second": rate}
        mlflow.log_metrics(metrics, step=epoch + 1)
        if self.grid:
            mlflow.log_image(sample_grid(self.gan.sampler, self.corpus.class_names, seed=epoch), key="samples",
                             step=epoch + 1)  # fmt: skip
        state = {"epoch": epoch + 1, "step": int(self.gan.g_optimizer.iterations.numpy()),
                 "warm_started_from": self.warm_from}  # fmt: skip
        save_checkpoint(self.lake, self.ds, self.gan, state)
        if self.progress is not None:
            self.progress.advance()


CORPUS_TAG = "corpus.uri"
PROCEDURAL_CORPUS = "procedural"

HOLDOUT_SHARE = 0.25
"""Share of the corpus kept out of training; evaluation scores against it (same seed, same split)."""


def load_corpus(
    corpus_uri: str | None, profile: TrainingProfile, seed: int, s3: Any = None, k_slots: int = 3
) -> Corpus:
    """The training corpus: a user folder or S3 prefix of images (one sub-folder per class), else procedural."""
    if not corpus_uri or corpus_uri == PROCEDURAL_CORPUS:
        return procedural_corpus(profile.tiles_per_class, size=profile.size, k_slots=k_slots, seed=seed)
    corpus_lake = open_lake(normalise_lake_uri(corpus_uri), s3)
    return load_image_corpus(corpus_lake, "", size=profile.size, k_slots=k_slots, seed=seed)
