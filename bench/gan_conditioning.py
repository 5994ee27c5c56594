"""Diagnostic: train the cpu profile in-process (no MLflow) and report per-class conditional accuracy.

Usage::

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/gan_conditioning.py [--epochs N] [--pretrain N] [--seed S] \
        [--batch B] [--base 4|8] [--lr LR] [--grid samples.png]

Uses the demo's corpus and split (procedural, cpu profile, seed 0) and the evaluation's judge classifier
(cached per profile and seed under $GAN_JUDGE_CACHE), so an experiment on the conditioning of the GAN takes
minutes instead of a whole demo night. ``--grid PATH`` writes the sample grid to look at. Not bit-identical
to the nightly ``train`` (no op determinism, pretraining outside an MLflow run), so confirm a setting there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from packaging_pipeline.gan.evaluation import evaluate_generator
from packaging_pipeline.gan.judge import (
    CLASSIFIER_EPOCHS,
    Judge,
    build_classifier,
    corpus_fingerprint,
    holdout_accuracy,
    train_classifier,
)
from packaging_pipeline.gan.model import ModelShape
from packaging_pipeline.gan.render import generate_separations, sample_grid
from packaging_pipeline.gan.training import (
    HOLDOUT_SHARE,
    PROFILES,
    build_gan,
    load_corpus,
    make_dataset,
    model_shape,
)


def judge(train, holdout, seed: int) -> Judge:  # noqa: ANN001
    """The evaluation's judge, trained once per corpus fingerprint and kept under $GAN_JUDGE_CACHE."""
    t0 = time.perf_counter()
    fingerprint = corpus_fingerprint(train, holdout, seed, CLASSIFIER_EPOCHS)
    cache = Path(os.environ.get("GAN_JUDGE_CACHE", "/tmp/gan-judge")) / f"{fingerprint[:16]}.weights.h5"
    if not cache.exists():
        classifier, features, accuracy = train_classifier(train, holdout, seed=seed)
        cache.parent.mkdir(parents=True, exist_ok=True)
        classifier.save_weights(cache)
        return Judge(classifier, features, accuracy, fingerprint, None, False, time.perf_counter() - t0)
    classifier, features = build_classifier(train.slots.shape[1], train.k_slots, len(train.class_names))
    classifier.load_weights(cache)
    return Judge(classifier, features, holdout_accuracy(classifier, holdout), fingerprint, None, True,
                 time.perf_counter() - t0)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--pretrain", type=int, help="discriminator motif pretraining epochs (default: profile's)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--base", type=int, default=ModelShape.base)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--mode-seeking", type=float, help="weight of the mode-seeking term (0: off)")
    parser.add_argument("--motif-weight", type=float, help="weight of the generator's auxiliary motif loss")
    parser.add_argument("--class-norm", choices=("on", "off"), help="class-conditional normalisation in G")
    parser.add_argument("--minibatch-std", choices=("on", "off"), help="the discriminator's minibatch stddev")
    parser.add_argument("--torus-shift", choices=("on", "off"), help="the generator's phase from its latent")
    parser.add_argument("--loss", choices=("bce", "hinge"), help="the adversarial loss")
    parser.add_argument("--spectral-norm", choices=("on", "off"), help="spectral normalisation in D")
    parser.add_argument("--ema", choices=("on", "off"), help="sample from a moving average of G's weights")
    parser.add_argument("--ema-decay", type=float, help="that average's decay per generator step")
    parser.add_argument("--ink-coverage", type=float,
                        help="weight of the pull of each class's ink coverage to the corpus's (0: off)")
    parser.add_argument("--save-generator", help="write the trained generator (.keras) here")
    parser.add_argument("--grid", help="write a PNG sample grid (one row per motif, tiled 2x2) here")
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    chosen = (("epochs", args.epochs), ("pretrain_epochs", args.pretrain), ("batch_size", args.batch),
              ("d_learning_rate", args.lr), ("g_learning_rate", args.lr), ("mode_seeking", args.mode_seeking),
              ("motif_weight", args.motif_weight),
              ("minibatch_std", None if args.minibatch_std is None else args.minibatch_std == "on"),
              ("class_norm", None if args.class_norm is None else args.class_norm == "on"),
              ("torus_shift", None if args.torus_shift is None else args.torus_shift == "on"),
              ("loss", args.loss), ("ema", None if args.ema is None else args.ema == "on"),
              ("ema_decay", args.ema_decay), ("ink_coverage_weight", args.ink_coverage),
              ("spectral_norm", None if args.spectral_norm is None else args.spectral_norm == "on"))  # fmt: skip
    overrides = {k: v for k, v in chosen if v is not None}
    profile = dataclasses.replace(profile, **overrides)
    corpus = load_corpus(None, profile, args.seed)
    train, holdout = corpus.split(HOLDOUT_SHARE, args.seed)

    the_judge = judge(train, holdout, args.seed)
    classifier, judge_accuracy, judge_s = the_judge.classifier, the_judge.holdout_accuracy, the_judge.seconds

    keras.utils.set_random_seed(args.seed)
    shape = dataclasses.replace(model_shape(corpus, profile), base=args.base)
    gan = build_gan(shape, profile, args.seed, jit=False, corpus=train)
    t0 = time.perf_counter()
    pre_acc = gan.pretrain_motif_head(train.one_hot(), train.labels, profile.pretrain_epochs, profile.batch_size,
                                      args.seed)  # fmt: skip
    pretrain_s = time.perf_counter() - t0
    head = keras.Model(gan.discriminator.inputs[0], gan.discriminator.get_layer("motif_logits").output)
    pre_holdout = float((np.asarray(head(holdout.one_hot(), training=False)).argmax(-1) == holdout.labels).mean())
    t0 = time.perf_counter()
    history = gan.fit(make_dataset(train, profile.batch_size, args.seed), epochs=profile.epochs, verbose=0)
    train_s = time.perf_counter() - t0
    d_holdout = float((np.asarray(head(holdout.one_hot(), training=False)).argmax(-1) == holdout.labels).mean())
    images = (len(train.labels) // profile.batch_size) * profile.batch_size * profile.epochs

    scores = evaluate_generator(gan.sampler, the_judge, holdout, seed=args.seed)
    # With a weight average, the last step's generator too: what the average itself changed.
    raw = evaluate_generator(gan.generator, the_judge, holdout, seed=args.seed) if profile.ema else None
    per_class = {}
    for c, name in enumerate(corpus.class_names):
        fake = generate_separations(gan.sampler, c, 32, seed=args.seed + c)
        predicted = np.asarray(classifier(fake, training=False)).argmax(-1)
        d_says = np.asarray(gan.discriminator([fake, np.full((32, 1), c, "int32")], training=False)[1]).argmax(-1)
        per_class[name] = {"accuracy": float((predicted == c).mean()), "d_head_on_fakes": float((d_says == c).mean()),
                           "predicted_as": np.bincount(predicted, minlength=len(corpus.class_names)).tolist()}
    if args.save_generator:
        gan.sampler.save(args.save_generator)
    if args.grid:
        from PIL import Image

        Image.fromarray(sample_grid(gan.sampler, corpus.class_names, seed=args.seed)).save(args.grid)
    print(json.dumps({
        "profile": dataclasses.asdict(profile), "judge_accuracy": judge_accuracy, "judge_s": round(judge_s, 1),
        "pretrain_s": round(pretrain_s, 1), "pretrain_train_accuracy": pre_acc, "d_head_holdout_after_pretrain":
        pre_holdout, "d_head_holdout_after_gan": d_holdout, "train_s": round(train_s, 1),
        "images_per_second": round(images / train_s, 1), "scores": scores, "scores_without_ema": raw,
        "per_class": per_class,
        "corpus_class_ink_coverage": dict(zip(corpus.class_names, gan.ink_targets, strict=True)),
        "final_losses": {k: float(v[-1]) for k, v in history.history.items()},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
