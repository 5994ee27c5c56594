"""Benchmark of the pattern GAN on CPU: training and generation throughput, with references from the same run.

Usage (see docs/benchmarks.md for how results are recorded)::

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/gan_bench.py --profile cpu --steps 30 --warmup 5 --tiles 1000

One process measures, in this order:

* **PatternGAN training**: ``build_gan`` with a ``PROFILES`` profile (``--size``/``--batch`` override it), fed by
  ``make_dataset`` on a ``procedural_corpus``, trained through ``fit()`` as the nightly training does. The first
  ``--warmup`` steps (tracing, first touch of the data) are excluded; the next ``--steps`` are timed per step.
* **Baseline DCGAN training** (the reference for training): the architecture of the keras.io example "DCGAN to
  generate face images", adapted to the same tile size, channels (``k_slots``) and batch, on the same data.
* **Generation**: ``render.generate_separations`` for ``--tiles`` tiles spread over every motif class (one
  untimed pass first, so tracing is reported apart), ``colourise`` of those tiles to RGB, and the generator
  called directly on the same number of tiles (what the network costs without ``predict()``'s per-call set-up).
* **Machine reference**: a float32 ``numpy`` matmul of fixed size, in GFLOP/s.

Achieved GFLOP/s = images/s x FLOPs per image, the FLOPs counted from layer shapes by
``model_flops_per_image`` and the training convention of ``training_flops_per_image``. The 1-minute load average
is recorded around every phase: on a shared machine the numbers are only as quiet as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported (by keras)

import keras
from keras import layers, ops

from bench.common import load, machine_base, matmul_reference, write_result
from packaging_pipeline.gan.model import model_flops_per_image
from packaging_pipeline.gan.motifs import procedural_corpus
from packaging_pipeline.gan.render import PREVIEW_PALETTES, colourise, generate_separations
from packaging_pipeline.gan.training import (
    PROFILES,
    TrainingProfile,
    build_gan,
    configure_devices,
    make_dataset,
    model_shape,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE_LATENT_DIM = 128  # as in the keras.io example


# --------------------------------------------------------------------------------------------------
# FLOPs


def training_flops_per_image(generator_flops: int, discriminator_flops: int) -> int:
    """FLOPs of one training step per image of the batch, for any GAN trained like ours: 4·F_G + 9·F_D.

    Convention (the same for both GANs): a backward pass costs about twice its forward pass (input gradients
    plus weight gradients), F = forward FLOPs of one image from ``model_flops_per_image``. Per step and image:

    * discriminator step: G forward once outside the tape (F_G); D forward on the real and on the fake image
      (2·F_D) and backward through both (4·F_D);
    * generator step: G forward (F_G), D forward on the new fake (F_D), backward through D to its input and
      through G (2·F_D + 2·F_G).

    Total 4·F_G + 9·F_D. It overcounts a little: the G step needs no D weight gradients and no layer needs the
    gradient of its raw input, which graph pruning may skip. (``training.py`` logs 6·F_G + 9·F_D to MLflow: it
    also charges a backward pass for the generator forward of the discriminator step.)
    """
    return 4 * generator_flops + 9 * discriminator_flops


# --------------------------------------------------------------------------------------------------
# The reference: a plain DCGAN (keras.io "DCGAN to generate face images" architecture), resized


def build_baseline_discriminator(size: int, channels: int) -> keras.Model:
    """Three stride-2 4x4 convolutions (64, 128, 128) with LeakyReLU(0.2), Flatten, Dropout(0.2), Dense(1)."""
    return keras.Sequential(
        [
            keras.Input((size, size, channels)),
            layers.Conv2D(64, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="baseline_discriminator",
    )


def build_baseline_generator(size: int, channels: int, latent_dim: int = BASELINE_LATENT_DIM) -> keras.Model:
    """Dense to (size/8)² x 128, three stride-2 4x4 transposed convolutions (128, 256, 512), a 5x5 sigmoid conv.

    The original starts at 8x8 for 64 px faces; starting at size/8 keeps its three upsamplings at any size.
    """
    if size % 8:
        raise ValueError(f"the baseline DCGAN needs a tile size divisible by 8, got {size}")
    start = size // 8
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(start * start * 128),
            layers.Reshape((start, start, 128)),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(256, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(512, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(channels, 5, padding="same", activation="sigmoid"),
        ],
        name="baseline_generator",
    )


class BaselineDCGAN(keras.Model):
    """Unconditional DCGAN with the usual GradientTape ``train_step`` and BCE on probabilities; motifs are ignored."""

    def __init__(self, size: int, channels: int, latent_dim: int = BASELINE_LATENT_DIM, seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.generator = build_baseline_generator(size, channels, latent_dim)
        self.discriminator = build_baseline_discriminator(size, channels)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self) -> list:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        jit_compile: bool | str = "auto",
    ) -> None:
        super().compile(jit_compile=jit_compile)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy()

    def train_step(self, data):  # noqa: ANN001, ANN201
        import tensorflow as tf

        real, _ = data
        batch = ops.shape(real)[0]
        fake = self.generator(keras.random.normal((batch, self.latent_dim), seed=self.seed_generator), training=True)
        images = ops.concatenate([real, fake], axis=0)
        # Real 1, fake 0, with a little label noise (the example's trick against an overconfident discriminator).
        labels = ops.concatenate([ops.ones((batch, 1)), ops.zeros((batch, 1))], axis=0)
        labels = labels + 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))

        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            judged = self.discriminator(self.generator(noise, training=True), training=True)
            g_loss = self.loss_fn(ops.ones((batch, 1)), judged)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def build_baseline(size: int, channels: int, seed: int, jit: bool) -> BaselineDCGAN:
    """The baseline, compiled with the example's optimizers (Adam 1e-4 for both networks)."""
    gan = BaselineDCGAN(size, channels, seed=seed)
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), jit_compile=jit)
    return gan


# --------------------------------------------------------------------------------------------------
# Measurements


class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every training step (fit waits for the step: its logs are read back)."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []
        self.begin = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())


def time_training(gan: keras.Model, dataset: Any, batch: int, warmup: int, steps: int, flops_per_image: int) -> dict:
    """Train ``warmup + steps`` steps in one ``fit``; throughput from the ``steps`` after the warm-up."""
    clock = StepClock()
    before = load()
    t0 = time.perf_counter()
    history = gan.fit(dataset.repeat(), epochs=1, steps_per_epoch=warmup + steps, callbacks=[clock], verbose=0)
    wall = time.perf_counter() - t0
    ends = np.array(clock.ends)
    assert len(ends) == warmup + steps, (len(ends), warmup, steps)
    step_s = np.diff(ends[warmup - 1 :])
    timed = float(ends[-1] - ends[warmup - 1])
    images_per_s = steps * batch / timed
    return {
        "warmup_steps": warmup,
        "timed_steps": steps,
        "batch_size": batch,
        "first_step_s": round(float(ends[0] - clock.begin), 3),  # tracing + first step
        "warmup_s": round(float(ends[warmup - 1] - clock.begin), 3),
        "timed_s": round(timed, 3),
        "fit_wall_s": round(wall, 3),
        "step_s_median": round(float(np.median(step_s)), 4),
        "step_s_min": round(float(step_s.min()), 4),
        "step_s_max": round(float(step_s.max()), 4),
        "images_per_s": round(images_per_s, 1),
        "images_per_s_from_median_step": round(batch / float(np.median(step_s)), 1),
        "train_flops_per_image": flops_per_image,
        "gflops_per_s": round(images_per_s * flops_per_image / 1e9, 2),
        "final_losses": {k: round(float(v[-1]), 4) for k, v in history.history.items()},
        "load_before": before,
        "load_after": load(),
    }


def time_generation(generator: keras.Model, n_classes: int, tiles: int, seed: int) -> dict:
    """``tiles`` separations over every class, as ``generate_separations`` makes them; then colourised to RGB."""
    per_class = [tiles // n_classes + (c < tiles % n_classes) for c in range(n_classes)]

    def generate_all() -> np.ndarray:
        parts = [generate_separations(generator, c, n, seed=seed + c) for c, n in enumerate(per_class) if n]
        return np.concatenate(parts)

    before = load()
    t0 = time.perf_counter()
    generate_all()  # first pass: traces the predict function
    cold = time.perf_counter() - t0
    t1 = time.perf_counter()
    seps = generate_all()
    warm = time.perf_counter() - t1
    t2 = time.perf_counter()
    rgb = colourise(seps, PREVIEW_PALETTES[0])
    colour_s = time.perf_counter() - t2

    # What the network itself costs: the same number of tiles, motifs mixed in each batch of 256, called directly
    # (no predict() set-up per class). The gap to the wall time above is generate_separations' per-call overhead.
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((len(seps), int(generator.inputs[0].shape[-1]))).astype(np.float32)
    motifs = np.repeat(np.arange(n_classes, dtype=np.int32), per_class)[:, None]
    np.asarray(generator([noise[:256], motifs[:256]], training=False))  # warm-up
    t3 = time.perf_counter()
    for i in range(0, len(noise), 256):
        np.asarray(generator([noise[i : i + 256], motifs[i : i + 256]], training=False))
    direct_s = time.perf_counter() - t3
    forward = model_flops_per_image(generator)
    return {
        "tiles": int(len(seps)),
        "per_class": per_class,
        "first_pass_s": round(cold, 3),
        "wall_s": round(warm, 3),
        "tiles_per_s": round(len(seps) / warm, 1),
        "generator_forward_flops_per_tile": forward,
        "gflops_per_s": round(len(seps) * forward / warm / 1e9, 2),
        "direct_call_s": round(direct_s, 4),
        "direct_call_tiles_per_s": round(len(seps) / direct_s, 1),
        "direct_call_gflops_per_s": round(len(seps) * forward / direct_s / 1e9, 2),
        "colourise_s": round(colour_s, 4),
        "colourise_tiles_per_s": round(len(rgb) / colour_s, 1) if colour_s > 0 else None,
        "generate_and_colourise_s": round(warm + colour_s, 3),
        "load_before": before,
        "load_after": load(),
    }


# --------------------------------------------------------------------------------------------------
# Orchestration


def machine() -> dict:
    import tensorflow as tf

    return {
        **machine_base("packaging_pipeline/gan"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def chosen_profile(args: argparse.Namespace) -> TrainingProfile:
    """The named profile with the command line's overrides applied."""
    profile = PROFILES[args.profile]
    overrides = {"size": args.size, "batch_size": args.batch, "tiles_per_class": args.tiles_per_class}
    return dataclasses.replace(profile, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> dict:
    """Every measurement of one benchmark run, in one process, as a JSON-able dict."""

    profile = chosen_profile(args)
    devices = configure_devices(profile)
    keras.utils.set_random_seed(args.seed)
    result: dict = {
        "args": vars(args).copy(),
        "profile": dataclasses.asdict(profile),
        "devices": devices,  # op determinism and XLA as the nightly training sets them for the profile
        "machine": machine(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
    }

    t0 = time.perf_counter()
    corpus = procedural_corpus(profile.tiles_per_class, size=profile.size, k_slots=args.k_slots, seed=args.seed)
    result["corpus"] = {**corpus.report, "seconds": round(time.perf_counter() - t0, 3)}
    shape = model_shape(corpus, profile)
    result["model_shape"] = dataclasses.asdict(shape)

    gan = build_gan(shape, profile, args.seed, jit=devices["xla"])
    baseline = build_baseline(profile.size, corpus.k_slots, args.seed, jit=devices["xla"])
    # What Keras compiled, not what was asked: it drops XLA silently under op determinism.
    result["devices"]["xla_in_effect"] = {"pattern_gan": bool(gan.jit_compile), "baseline": bool(baseline.jit_compile)}
    models = {
        "pattern_gan": (gan.generator, gan.discriminator),
        "baseline_dcgan": (baseline.generator, baseline.discriminator),
    }
    result["flops"] = {}
    for name, (g, d) in models.items():
        f_g, f_d = model_flops_per_image(g), model_flops_per_image(d)
        result["flops"][name] = {
            "generator_forward": f_g,
            "discriminator_forward": f_d,
            "train_step_per_image": training_flops_per_image(f_g, f_d),
            "generator_params": g.count_params(),
            "discriminator_params": d.count_params(),
        }
    print("FLOPs per image:", json.dumps(result["flops"]), flush=True)

    result["training"] = {}
    for name, model in (("pattern_gan", gan), ("baseline_dcgan", baseline)):
        dataset = make_dataset(corpus, profile.batch_size, args.seed)
        flops = result["flops"][name]["train_step_per_image"]
        result["training"][name] = time_training(model, dataset, profile.batch_size, args.warmup, args.steps, flops)
        print(name, json.dumps(result["training"][name]), flush=True)

    result["generation"] = time_generation(gan.generator, len(corpus.class_names), args.tiles, args.seed)
    print("generation", json.dumps(result["generation"]), flush=True)
    result["matmul_reference"] = matmul_reference(args.matmul_n)
    print("matmul", json.dumps(result["matmul_reference"]), flush=True)
    result["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return result


def table(r: dict) -> str:
    """The human-readable summary printed at the end of a run."""
    tr, fl, ge, mm = r["training"], r["flops"], r["generation"], r["matmul_reference"]
    p = r["profile"]
    lines = [
        f"profile {p['name']}: {p['size']} px, batch {p['batch_size']}, filters {p['filters']}, "
        f"latent {p['latent_dim']}; {r['corpus']['tiles']} procedural tiles; {r['machine']['nproc']} CPUs "
        f"({r['machine']['cpu']}); TF {r['machine']['tensorflow']}, Keras {r['machine']['keras']}",
        "",
        f"{'training':<16} {'G fwd MFLOP':>12} {'D fwd MFLOP':>12} {'step MFLOP/img':>15} {'images/s':>10} "
        f"{'GFLOP/s':>9} {'median step s':>14} {'first step s':>13} {'load before/after':>18}",
    ]
    for name in ("pattern_gan", "baseline_dcgan"):
        t, f = tr[name], fl[name]
        lines.append(
            f"{name:<16} {f['generator_forward'] / 1e6:>12.2f} {f['discriminator_forward'] / 1e6:>12.2f} "
            f"{f['train_step_per_image'] / 1e6:>15.1f} {t['images_per_s']:>10,.1f} {t['gflops_per_s']:>9.2f} "
            f"{t['step_s_median']:>14.4f} {t['first_step_s']:>13.2f} "
            f"{t['load_before'][0]:>8}/{t['load_after'][0]:<8}"
        )
    ours, ref = tr["pattern_gan"], tr["baseline_dcgan"]
    lines += [
        f"pattern_gan / baseline: {ours['images_per_s'] / ref['images_per_s']:.2f}x images/s, "
        f"{ours['gflops_per_s'] / ref['gflops_per_s']:.2f}x GFLOP/s",
        "",
        f"generation: {ge['tiles']} tiles in {ge['wall_s']:.3f} s = {ge['tiles_per_s']:,.0f} tiles/s "
        f"({ge['gflops_per_s']:.2f} GFLOP/s; first pass with tracing {ge['first_pass_s']:.2f} s); "
        f"colourise {ge['colourise_s'] * 1e3:.1f} ms; generate + colourise {ge['generate_and_colourise_s']:.3f} s",
        f"generator called directly on the same {ge['tiles']} tiles (motifs mixed, batches of 256): "
        f"{ge['direct_call_s']:.3f} s = {ge['direct_call_tiles_per_s']:,.0f} tiles/s "
        f"({ge['direct_call_gflops_per_s']:.2f} GFLOP/s)",
        f"machine reference: numpy float32 {mm['n']}x{mm['n']} matmul {mm['gflops_per_s_median']:.1f} GFLOP/s "
        f"(best {mm['gflops_per_s_best']:.1f}); load after {mm['load_after'][0]}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--size", type=int, help="tile side in px (overrides the profile)")
    parser.add_argument("--batch", type=int, help="batch size (overrides the profile)")
    parser.add_argument("--tiles-per-class", type=int, help="corpus size per motif (overrides the profile)")
    parser.add_argument("--k-slots", type=int, default=3, help="paper + inks, as load_corpus's default")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per GAN")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first (>= 1: tracing)")
    parser.add_argument("--tiles", type=int, default=1000, help="tiles to generate, spread over all motifs")
    parser.add_argument("--matmul-n", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="result JSON (default bench/results/gan_<profile>_<timestamp>.json)")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be >= 1 (the first step traces the training function)")
    result = run(args)
    out = write_result(result, f"gan_{args.profile}", args.out)
    print()
    print(table(result))
    print(f"\nresults: {out}")
    return result


if __name__ == "__main__":
    main()
