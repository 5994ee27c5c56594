"""Pattern GAN: deterministic tiny training, seamless tiles, resume, warm start, gated promotion, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.keys import gan_checkpoint_prefix
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.gan.corpus import seam_score
from packaging_pipeline.gan.evaluation import PromotionPolicy, evaluate_and_promote, promotion_decision
from packaging_pipeline.gan.model import ModelShape, model_flops_per_image
from packaging_pipeline.gan.motifs import procedural_corpus
from packaging_pipeline.gan.registry import CHAMPION, MODEL_NAME
from packaging_pipeline.gan.render import generate_separations
from packaging_pipeline.gan.training import PROFILES, build_gan, train_pattern_gan

pytestmark = pytest.mark.slow

TINY = dataclasses.replace(
    PROFILES["cpu"], name="tiny", size=16, filters=8, latent_dim=8, batch_size=16, epochs=2, tiles_per_class=24,
    fine_tune_epochs=1, pretrain_epochs=2,
)  # fmt: skip
MOTIFS = ("stripes", "dots", "checks")
LENIENT = PromotionPolicy(min_conditional_accuracy=0.0, max_seam_ratio=10.0, min_diversity_ratio=0.0,
                          min_classifier_accuracy=0.0, min_class_conditional_accuracy=0.0,
                          min_class_diversity_ratio=0.0, min_class_ink_coverage=0.0, judge_epochs=15)  # fmt: skip
"""Every bar down: what a tiny model trained for seconds can pass (tests that are not about the bars); the
judge trained for seconds too."""


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A fresh MLflow registry per test: aliases of one test must not leak into another."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow.MlflowClient()


@pytest.fixture(scope="module")
def corpus():
    return procedural_corpus(TINY.tiles_per_class, size=TINY.size, k_slots=3, seed=3, motifs=MOTIFS)


def _generator(model_uri: str):
    import mlflow

    return mlflow.keras.load_model(model_uri)


def test_tiny_training_is_deterministic_for_a_seed(tmp_path, corpus, mlflow_store):
    outputs = []
    for i in range(2):
        result = train_pattern_gan(
            LocalLake(tmp_path / f"lake{i}"), "2026-11-07", corpus, TINY, seed=5, sample_grid=False
        )
        outputs.append(generate_separations(_generator(result.model_uri), 1, 4, seed=0))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    other = train_pattern_gan(LocalLake(tmp_path / "lake2"), "2026-11-07", corpus, TINY, seed=6, sample_grid=False)
    assert not np.array_equal(outputs[0], generate_separations(_generator(other.model_uri), 1, 4, seed=0))
    # The ink-coverage guard is a logged setting, beside the corpus coverage per class it pulls towards.
    params = mlflow_store.get_run(other.run_id).data.params
    assert params["profile.ink_coverage_weight"] == str(TINY.ink_coverage_weight)
    coverage = {name: round(float(t), 4) for name, t in zip(corpus.class_names, corpus.class_ink_coverage(),
                                                            strict=True)}  # fmt: skip
    assert params["corpus.class_ink_coverage"] == str(coverage)
    # The logged model pins what it needs to load, from the installed versions (not inferred by MLflow).
    from importlib.metadata import version

    import mlflow

    pins = Path(mlflow.pyfunc.get_model_dependencies(other.model_uri)).read_text().split()
    assert f"tensorflow-cpu=={version('tensorflow-cpu')}" in pins and f"keras=={version('keras')}" in pins


def test_generated_tiles_tile_seamlessly(tmp_path, corpus, mlflow_store):
    result = train_pattern_gan(LocalLake(tmp_path / "lake"), "2026-11-07", corpus, TINY, seed=1, sample_grid=False)
    tiles = generate_separations(_generator(result.model_uri), 0, 32, seed=0)
    assert tiles.shape == (32, TINY.size, TINY.size, 3)
    np.testing.assert_allclose(tiles.sum(-1), 1.0, atol=1e-5)
    generated, own = seam_score(tiles), seam_score(corpus.one_hot())
    assert generated <= 1.5 * own, (generated, own)


def test_resume_from_checkpoint_continues_the_step_count(tmp_path, corpus, mlflow_store):
    lake = LocalLake(tmp_path / "lake")
    first = train_pattern_gan(lake, "2026-11-07", corpus, TINY, epochs=1, seed=2, sample_grid=False)
    steps_per_epoch = len(corpus.labels) // TINY.batch_size
    state = lake.read_text(gan_checkpoint_prefix("2026-11-07") + "state.json")
    assert f'"step": {steps_per_epoch}' in state and first.epochs_run == 1
    # A killed two-epoch training restarts: it picks up at epoch 1, step steps_per_epoch.
    second = train_pattern_gan(lake, "2026-11-07", corpus, TINY, epochs=2, seed=2, sample_grid=False)
    assert second.resumed_from_epoch == 1 and second.epochs_run == 1
    assert f'"step": {2 * steps_per_epoch}' in lake.read_text(gan_checkpoint_prefix("2026-11-07") + "state.json")


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path, corpus, mlflow_store):
    lake = LocalLake(tmp_path / "lake")
    train_pattern_gan(lake, "2026-11-07", corpus, TINY, epochs=1, seed=2, sample_grid=False)
    lake.write_bytes(gan_checkpoint_prefix("2026-11-07") + "gan.weights.h5", b"not an h5 file")
    versions = len(mlflow_store.search_model_versions(f"name='{MODEL_NAME}'"))
    with pytest.raises(PipelineError, match="corrupt.*--restart"):
        train_pattern_gan(lake, "2026-11-07", corpus, TINY, epochs=2, seed=2, sample_grid=False)
    assert len(mlflow_store.search_model_versions(f"name='{MODEL_NAME}'")) == versions, "nothing half-registered"


def test_promotion_gate_keeps_a_worse_challenger_out_and_the_next_night_warm_starts(tmp_path, corpus, mlflow_store):
    lake = LocalLake(tmp_path / "lake")
    lenient = LENIENT
    good = train_pattern_gan(
        lake, "2026-11-06", corpus, dataclasses.replace(TINY, epochs=25), seed=1, sample_grid=False
    )
    first = evaluate_and_promote("2026-11-06", corpus, lenient, seed=1, per_class=16)
    assert (
        first["promoted"]
        and str(mlflow_store.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == good.model_version
    )

    # A challenger that cannot learn (learning rate ~0): its tiles are noise, whatever motif is asked for.
    frozen = dataclasses.replace(TINY, d_learning_rate=1e-12, g_learning_rate=1e-12)
    bad = train_pattern_gan(lake, "2026-11-07", corpus, frozen, seed=9, from_scratch=True, sample_grid=False)
    # The real bars, the same tiny judge (its fingerprint includes its epochs, so it is reused).
    gate = dataclasses.replace(PromotionPolicy(), min_classifier_accuracy=0.0, judge_epochs=LENIENT.judge_epochs)
    second = evaluate_and_promote("2026-11-07", corpus, gate, seed=1, per_class=16)
    assert not second["promoted"] and second["reasons"], (first, second)
    assert str(mlflow_store.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == good.model_version
    tags = mlflow_store.get_run(bad.run_id).data.tags
    assert tags["promotion.decision"] == "rejected" and tags["promotion.reasons"] == "; ".join(second["reasons"])

    warm = train_pattern_gan(lake, "2026-11-08", corpus, TINY, seed=1, sample_grid=False)
    assert warm.warm_started_from == good.model_version and warm.epochs_total == TINY.fine_tune_epochs
    # Only a from-scratch training pretrains the discriminator's motif head; a warm start keeps the champion's.
    assert "pretrain_motif_accuracy" in mlflow_store.get_run(good.run_id).data.metrics
    assert "pretrain_motif_accuracy" not in mlflow_store.get_run(warm.run_id).data.metrics


def test_pretraining_teaches_the_discriminator_the_motifs(corpus):
    import keras

    keras.utils.set_random_seed(4)
    shape = ModelShape(size=TINY.size, k_slots=3, n_classes=len(MOTIFS), latent_dim=8, filters=8)
    gan = build_gan(shape, TINY, seed=4, jit=False)
    head = keras.Model(gan.discriminator.inputs[0], gan.discriminator.get_layer("motif_logits").output)

    def accuracy() -> float:
        return float((np.asarray(head(corpus.one_hot(), training=False)).argmax(-1) == corpus.labels).mean())

    before = accuracy()
    gan.pretrain_motif_head(corpus.one_hot(), corpus.labels, epochs=30, batch_size=16, seed=4)
    after = accuracy()  # chance is 1/3; a tiny discriminator on 72 tiles of 16 px reaches ~0.6
    assert after >= 0.5 and after > before + 0.3, (before, after)


def test_model_shape_rejects_a_generator_base_that_does_not_fit_the_tile():
    with pytest.raises(ValueError, match="generator base 32"):
        ModelShape(size=16, base=32)
    assert ModelShape(size=16, base=8).generator_upsamplings == 1


def test_promotion_decision_names_every_failed_bar():
    policy = PromotionPolicy()
    challenger = {"fid": 5.0, "conditional_accuracy": 0.2, "seam_ratio": 3.0, "diversity_ratio": 0.1}
    ok, reasons = promotion_decision(challenger, {"fid": 1.0, "conditional_accuracy": 0.9}, 0.95, policy)
    assert not ok and len(reasons) == 5
    fine = {"fid": 1.0, "conditional_accuracy": 0.9, "seam_ratio": 1.0, "diversity_ratio": 0.8}
    assert promotion_decision(fine, {"fid": 1.0, "conditional_accuracy": 0.9}, 0.95, policy)[0]


def test_an_unreachable_mlflow_fails_before_training(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    lake = LocalLake(tmp_path / "lake")
    with pytest.raises(PipelineError, match="cannot reach MLflow.*Nothing was trained"):
        train_pattern_gan(lake, "2026-11-07", corpus, TINY, seed=1, sample_grid=False)
    assert not lake.list("models/")


def test_model_flops_per_image_counts_dense_conv_and_transposed_conv_exactly():
    import keras
    from keras import layers

    inner = keras.Sequential(
        [
            keras.Input((3,)),
            layers.Dense(16),  # 2*3*16 = 96
            layers.Reshape((2, 2, 4)),
            layers.Conv2DTranspose(5, 3, strides=2, padding="same"),  # 2x2x4 in -> 4x4x5: 2*(2*2*4)*(3*3)*5 = 1440
            layers.BatchNormalization(),  # not counted
            layers.Conv2D(6, 3, strides=2, padding="same"),  # 4x4x5 in -> 2x2x6: 2*(2*2*6)*(3*3*5) = 2160
            layers.Flatten(),
            layers.Dense(7),  # 2*24*7 = 336
        ]
    )
    assert model_flops_per_image(inner) == 96 + 1440 + 2160 + 336
    outer = keras.Sequential([keras.Input((3,)), inner, layers.Dense(2)])  # nested models count: + 2*7*2
    assert model_flops_per_image(outer) == 4032 + 28


def test_xla_survives_compilation_only_without_op_determinism():
    """Keras drops XLA silently under op determinism, so a profile picks one and it is checked as compiled.

    In fresh processes: op determinism is process-wide and cannot be switched off once on. No GPU here,
    so XLA is asked for directly (configure_devices asks for it only when a GPU is visible).
    """
    import json
    import subprocess
    import sys

    from packaging_pipeline.core.errors import InputError

    with pytest.raises(InputError, match="xla and deterministic"):
        dataclasses.replace(PROFILES["gpu"], deterministic=True)
    probe = (
        "import json, sys\n"
        "from tensorflow.python.framework.config import is_op_determinism_enabled\n"
        "from packaging_pipeline.gan.model import ModelShape\n"
        "from packaging_pipeline.gan.training import PROFILES, build_gan, configure_devices\n"
        "profile = PROFILES[sys.argv[1]]\n"
        "devices = configure_devices(profile)\n"
        "gan = build_gan(ModelShape(size=16, filters=8, latent_dim=8), profile, 0, jit=True)\n"
        "print(json.dumps({'xla_asked': devices['xla'], 'xla_compiled': bool(gan.jit_compile),\n"
        "                  'deterministic': is_op_determinism_enabled()}))\n"
    )
    seen = {}
    for name in ("gpu", "cpu"):
        done = subprocess.run([sys.executable, "-c", probe, name], capture_output=True, text=True, check=True)
        seen[name] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "gpu": {"xla_asked": False, "xla_compiled": True, "deterministic": False},  # XLA would hold on a GPU
        "cpu": {"xla_asked": False, "xla_compiled": False, "deterministic": True},
    }


# --- variety, the per-class gate, the cached judge and the base model --------------------------------------


@pytest.fixture(scope="module")
def tiny_judge(corpus):
    from packaging_pipeline.gan.judge import judge_for_corpus

    train, holdout = corpus.split(0.25, 1)
    return judge_for_corpus(train, holdout, "2026-11-07", seed=1, epochs=15), holdout


def _blanking(generator, blank: int):
    """The same generator, except that motif ``blank`` paints bare paper (a model whose class collapsed)."""
    import keras
    from keras import ops

    noise, motif = generator.inputs
    painted = generator([noise, motif])
    blanked = ops.cast(ops.equal(ops.reshape(motif, (-1, 1, 1, 1)), blank), "float32")
    paper = ops.one_hot(ops.zeros_like(ops.argmax(painted, axis=-1)), painted.shape[-1])
    return keras.Model([noise, motif], painted * (1.0 - blanked) + paper * blanked)


def test_the_per_class_gate_rejects_a_challenger_with_one_blank_class(tmp_path, corpus, tiny_judge, mlflow_store):
    from packaging_pipeline.gan.evaluation import evaluate_generator

    judge, holdout = tiny_judge
    result = train_pattern_gan(LocalLake(tmp_path / "lake"), "2026-11-07", corpus,
                               dataclasses.replace(TINY, epochs=10), seed=1, sample_grid=False)  # fmt: skip
    generator = _generator(result.model_uri)
    lenient = dataclasses.replace(LENIENT, min_class_ink_coverage=PromotionPolicy().min_class_ink_coverage)
    whole = evaluate_generator(generator, judge, holdout, seed=1)
    assert set(whole["per_class"]) == set(MOTIFS)
    assert promotion_decision(whole, None, judge.holdout_accuracy, lenient)[0], whole["per_class"]

    blank = evaluate_generator(_blanking(generator, 1), judge, holdout, seed=1)
    assert blank["per_class"]["dots"]["ink_coverage"] == 0.0
    assert blank["per_class"]["stripes"] == whole["per_class"]["stripes"]  # the other classes are untouched
    ok, reasons = promotion_decision(blank, None, judge.holdout_accuracy, lenient)
    assert not ok and reasons == [f"class dots: ink coverage 0.00 < {lenient.min_class_ink_coverage}"]


def test_fid_stands_beside_a_real_vs_real_reference(tiny_judge):
    from packaging_pipeline.gan.evaluation import frechet_distance

    judge, holdout = tiny_judge
    first, second = holdout.split(0.5, 1)
    features = [np.asarray(judge.features(part.one_hot()), dtype=np.float64) for part in (first, second)]
    reference = frechet_distance(features[1], features[0])
    assert reference > 0.0
    noise = np.asarray(judge.features(np.eye(3, dtype=np.float32)[np.random.default_rng(0).integers(0, 3, (
        len(first.labels), TINY.size, TINY.size))]), dtype=np.float64)  # fmt: skip
    assert frechet_distance(features[1], noise) > 2 * reference, "noise tiles are far from real ones"


def test_the_judge_is_trained_once_per_corpus_and_reused(tmp_path, corpus, mlflow_store):
    from packaging_pipeline.gan.judge import JUDGE_MODEL_NAME, judge_for_corpus

    train, holdout = corpus.split(0.25, 1)
    first = judge_for_corpus(train, holdout, "2026-11-07", seed=1, epochs=2, client=mlflow_store)
    again = judge_for_corpus(train, holdout, "2026-11-08", seed=1, epochs=2, client=mlflow_store)
    assert not first.reused and again.reused and again.model_version == first.model_version
    assert again.holdout_accuracy == first.holdout_accuracy
    tiles = holdout.one_hot()
    np.testing.assert_allclose(np.asarray(again.features(tiles)), np.asarray(first.features(tiles)), atol=1e-6)
    assert len(mlflow_store.search_model_versions(f"name='{JUDGE_MODEL_NAME}'")) == 1, "no retraining"

    other = procedural_corpus(TINY.tiles_per_class, size=TINY.size, k_slots=3, seed=4, motifs=MOTIFS)
    changed = judge_for_corpus(*other.split(0.25, 1), "2026-11-09", seed=1, epochs=2, client=mlflow_store)
    assert not changed.reused and changed.fingerprint != first.fingerprint
    assert changed.model_version != first.model_version
    assert len(mlflow_store.search_model_versions(f"name='{JUDGE_MODEL_NAME}'")) == 2


def test_an_empty_registry_starts_from_the_base_model_through_the_gate(tmp_path, corpus, mlflow_store, monkeypatch):
    import mlflow

    from packaging_pipeline.gan import night
    from packaging_pipeline.gan.base_model import export_base_model, shipped_base_model
    from packaging_pipeline.gan.training import model_shape

    lake = LocalLake(tmp_path / "lake")
    made = train_pattern_gan(lake, "2026-11-05", corpus, TINY, seed=1, from_scratch=True, sample_grid=False)
    weights = mlflow.artifacts.download_artifacts(run_id=made.run_id, artifact_path="weights/gan.weights.h5")
    provenance = {"command": "test", "seed": 1, "shape": dataclasses.asdict(model_shape(corpus, TINY)),
                  "class_names": list(corpus.class_names)}  # fmt: skip
    export_base_model(Path(weights), provenance, tmp_path / "base")
    monkeypatch.setattr(night, "shipped_base_model", lambda: shipped_base_model(tmp_path / "base"))
    mlflow_store.delete_registered_model(MODEL_NAME)  # a fresh install: nothing registered

    lenient = LENIENT
    base = night.bootstrap_champion("2026-11-06", corpus, TINY, seed=1, policy=lenient)
    assert base["promoted"], base
    champion = mlflow_store.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert str(champion.version) == base["model_version"]
    assert mlflow_store.get_run(champion.run_id).data.tags["base_model"] == "true"
    assert night.bootstrap_champion("2026-11-07", corpus, TINY, seed=1, policy=lenient) is None, "once only"
    warm = train_pattern_gan(lake, "2026-11-07", corpus, TINY, seed=1, sample_grid=False)
    assert warm.warm_started_from == base["model_version"]

    mlflow_store.delete_registered_model(MODEL_NAME)
    strict = dataclasses.replace(lenient, min_class_ink_coverage=1.01)  # no model can pass: it stays a challenger
    refused = night.bootstrap_champion("2026-11-08", corpus, TINY, seed=1, policy=strict)
    assert not refused["promoted"] and refused["reasons"]
    with pytest.raises(Exception, match="alias"):
        mlflow_store.get_model_version_by_alias(MODEL_NAME, CHAMPION)


def test_mode_seeking_pushes_two_latents_of_one_motif_apart():
    from packaging_pipeline.gan.model import mode_seeking_ratio

    z1, z2 = np.zeros((4, 8), "float32"), np.ones((4, 8), "float32")
    same = np.full((4, 8, 8, 3), 1 / 3, "float32")
    apart = np.eye(3, dtype="float32")[np.random.default_rng(0).integers(0, 3, (4, 8, 8))]
    assert float(mode_seeking_ratio(same, same, z1, z2)) == 0.0
    assert float(mode_seeking_ratio(same, apart, z1, z2)) > 0.3


def test_the_latent_places_each_tile_on_the_torus_and_only_there():
    """The first two latent coordinates shift the painted tile by whole pixels (normal CDF -> uniform)."""
    import keras
    from scipy.stats import norm

    shape = ModelShape(latent_dim=8, filters=4)
    generator = build_gan(shape, PROFILES["cpu"], seed=0, jit=False).generator
    at_origin = keras.Model(generator.inputs, generator.get_layer("separation_at_origin").output)
    noise = np.random.default_rng(1).standard_normal((6, 8)).astype("float32")
    motif = np.arange(6, dtype="int32").reshape(-1, 1) % shape.n_classes
    painted, unshifted = np.asarray(generator([noise, motif])), np.asarray(at_origin([noise, motif]))
    for tile, origin, z in zip(painted, unshifted, noise, strict=True):
        rows, cols = np.floor(norm.cdf(z[:2]) * shape.size).astype(int) % shape.size
        np.testing.assert_allclose(tile, np.roll(origin, (-rows, -cols), axis=(0, 1)), atol=1e-6)
    assert len({tuple(np.floor(norm.cdf(z[:2]) * shape.size)) for z in noise}) > 1


def test_structural_diversity_does_not_count_a_tile_moved_around():
    """Pixel spread counts phase; the structural spread compares tiles at their best alignment."""
    from packaging_pipeline.gan.evaluation import _spread, _structural_spread

    tiles = procedural_corpus(16, seed=3).one_hot()[:16]
    rng = np.random.default_rng(0)
    moved = np.stack([np.roll(tiles[0], tuple(rng.integers(0, 32, 2)), axis=(0, 1)) for _ in range(8)])
    assert _spread(moved) > 0.5 * _spread(tiles)  # in pixels, one tile moved about looks varied
    assert _structural_spread(moved) == pytest.approx(0.0, abs=1e-9)
    a, b = tiles[0], tiles[5]
    best = min(np.abs(a - np.roll(b, (dy, dx), axis=(0, 1))).mean() for dy in range(32) for dx in range(32))
    assert _structural_spread(np.stack([a, b])) == pytest.approx(best)


def test_the_weight_average_paints_and_is_checkpointed_with_the_networks(tmp_path, corpus):
    """With ``ema`` the sampler is the averaged generator: it starts as the generator, then lags behind it."""
    import keras

    from packaging_pipeline.gan.training import make_dataset, model_shape

    keras.utils.set_random_seed(7)
    profile = dataclasses.replace(TINY, loss="hinge", spectral_norm=True)
    gan = build_gan(model_shape(corpus, profile), profile, seed=7, jit=False)
    assert gan.sampler is gan.generator_ema
    for start, averaged in zip(gan.generator.get_weights(), gan.generator_ema.get_weights(), strict=True):
        np.testing.assert_array_equal(start, averaged)
    gan.fit(make_dataset(corpus, profile.batch_size, 7), epochs=1, verbose=0)
    apart = [np.abs(g - a).max() for g, a in zip(gan.generator.get_weights(), gan.generator_ema.get_weights(),
                                                 strict=True)]  # fmt: skip
    assert max(apart) > 0, "the average follows the generator, it is not a copy"
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    again = build_gan(model_shape(corpus, profile), profile, seed=8, jit=False)
    again.load_weights(path)
    noise, motif = np.zeros((2, profile.latent_dim), "float32"), np.zeros((2, 1), "int32")
    np.testing.assert_array_equal(np.asarray(again.sampler([noise, motif])), np.asarray(gan.sampler([noise, motif])))
    without = dataclasses.replace(profile, ema=False)
    assert build_gan(model_shape(corpus, without), without, seed=7, jit=False).sampler.name == "pattern_generator"


def test_the_hinge_loss_is_zero_for_a_confident_discriminator():
    from packaging_pipeline.gan.model import PatternGAN

    gan = PatternGAN(ModelShape(size=8, latent_dim=8, filters=4, n_classes=2), loss="hinge")
    real, fake = np.full((4, 1), 2.0, "float32"), np.full((4, 1), -3.0, "float32")
    assert float(gan._d_loss(real, fake, None)) == 0.0
    assert float(gan._d_loss(fake, real, None)) == pytest.approx(4.0 + 3.0)
    assert float(gan._g_loss(fake)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="bce or hinge"):
        PatternGAN(ModelShape(size=8, latent_dim=8, filters=4, n_classes=2), loss="wasserstein")
