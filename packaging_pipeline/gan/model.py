"""The pattern GAN: a conditional DCGAN that paints tileable ink separations.

The generator outputs, per pixel, a softmax over K slots (paper plus inks) for a requested motif
class. Every convolution pads circularly (``WrapPad2D``) and upsampling is nearest-neighbour, so the
generated tile is a function on a torus: opposite edges continue each other by construction and
a box panel can repeat the tile without a visible seam.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
from keras import layers, ops

from packaging_pipeline.gan.corpus import augment_tiles

GENERATOR_NAME = "pattern_generator"
DISCRIMINATOR_NAME = "pattern_discriminator"


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """What the networks look like; part of every logged run and of the checkpoint."""

    size: int = 32  # tile side in pixels; a power of two >= 8
    k_slots: int = 3  # paper + inks
    n_classes: int = 8
    latent_dim: int = 64
    filters: int = 32  # width of the narrowest layer; the widest has 4x
    base: int = 8  # side of the generator's first feature map, projected from noise and motif
    minibatch_std: bool = True  # the discriminator sees how much a batch varies (StyleGAN's minibatch stddev)
    class_norm: bool = True  # the generator's normalisations take scale and shift from the motif (as in BigGAN)
    torus_shift: bool = True  # the first two latent coordinates place the tile on the torus (TorusShift)
    spectral_norm: bool = False  # the discriminator's convolutions and realness head are spectrally normalised
    ema: bool = True  # a moving average of the generator's weights samples, is registered and ships (as in StyleGAN)

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"tile size {self.size} must be a power of two >= 8")
        if self.base < 4 or self.base & (self.base - 1) or self.base > self.size:
            raise ValueError(f"generator base {self.base} must be a power of two between 4 and the tile size")
        if self.torus_shift and self.latent_dim < 3:
            raise ValueError(f"latent_dim {self.latent_dim}: torus_shift reads two coordinates, keep at least one more")
        if not 2 <= self.k_slots <= 4:
            raise ValueError(f"k_slots={self.k_slots}: paper plus 1-3 inks")

    @property
    def upsamplings(self) -> int:
        return (self.size // 4).bit_length() - 1

    @property
    def generator_upsamplings(self) -> int:
        # Starting at 8x8 rather than 4x4 lets the projection place stripes, checks and chevrons directly;
        # from 4x4 the generator only reached blobby textures in a demo-sized training (conditional accuracy
        # 0.39 -> 0.64 on the cpu profile, bench/gan_conditioning.py).
        return (self.size // self.base).bit_length() - 1


@keras.saving.register_keras_serializable(package="packaging")
class WrapPad2D(layers.Layer):
    """Circular padding: the tile's last rows/columns pad its first, so convolutions see a torus."""

    def __init__(self, pad: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):  # noqa: ANN001, ANN201 - Keras tensors
        p = self.pad
        x = ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        grow = 2 * self.pad
        return (b, None if h is None else h + grow, None if w is None else w + grow, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="packaging")
class MinibatchStdDev(layers.Layer):
    """Appends one feature map: the spread of the batch's features, averaged (Karras et al., 2018).

    A generator that paints one pattern per motif gives a batch with almost no spread, which the
    discriminator can then see and punish; without it, every sample is judged alone and a single
    convincing tile per class is a stable answer.
    """

    def call(self, x):  # noqa: ANN001, ANN201 - Keras tensors
        mean = ops.mean(x, axis=0, keepdims=True)
        spread = ops.mean(ops.sqrt(ops.mean(ops.square(x - mean), axis=0) + 1e-8))
        tiled = ops.ones_like(x[..., :1]) * ops.cast(spread, x.dtype)
        return ops.concatenate([x, tiled], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], input_shape[-1] + 1)


@keras.saving.register_keras_serializable(package="packaging")
class TorusShift(layers.Layer):
    """Moves each tile on the torus by whole pixels read from the first two latent coordinates.

    A seamless tile has no preferred phase, and the corpus's tiles sit at uniformly random ones. The
    discriminator sees real and fake tiles through the same random shift, so nothing ever asks the
    generator for a phase: it paints every motif at one. Reading the phase from the latent (each
    coordinate through the normal CDF, so uniform over the tile) gives the generated tiles the corpus's
    phase distribution by construction, and leaves the convolutions to learn the structure.
    """

    def call(self, tile, noise):  # noqa: ANN001, ANN201 - Keras tensors
        import tensorflow as tf

        size = tile.shape[1]
        uniform = 0.5 * (1.0 + tf.math.erf(tf.cast(noise[:, :2], "float32") / math.sqrt(2.0)))
        shift = tf.cast(tf.floor(uniform * size), "int32") % size  # [batch, 2]: rows, columns
        index = (tf.range(size)[None, :] + shift[:, :1]) % size
        tile = tf.gather(tile, index, axis=1, batch_dims=1)
        index = (tf.range(size)[None, :] + shift[:, 1:]) % size
        return tf.gather(tile, index, axis=2, batch_dims=1)

    def compute_output_shape(self, tile_shape: tuple, noise_shape: tuple) -> tuple:
        return tile_shape


def _wrap_conv(x, filters: int, kernel: int = 3, strides: int = 1, name: str = "", sn: bool = False):  # noqa: ANN001, ANN202
    x = WrapPad2D(kernel // 2, name=f"{name}_wrap")(x)
    conv = layers.Conv2D(filters, kernel, strides=strides, padding="valid", name=f"{name}_conv")
    return _spectral(conv, sn, name)(x)


def _spectral(layer: layers.Layer, sn: bool, name: str) -> layers.Layer:
    """The layer, or (``sn``) the layer with its kernel kept at spectral norm 1 (Miyato et al., 2018).

    A Lipschitz-bounded discriminator cannot grow arbitrarily confident, so its gradients stay useful to
    the generator for longer.
    """
    return layers.SpectralNormalization(layer, name=f"{name}_sn") if sn else layer


def _normalise(x, motif, shape: ModelShape, name: str):  # noqa: ANN001, ANN202 - Keras tensors
    """BatchNorm, then (with ``class_norm``) a per-motif scale and shift: every layer knows the motif asked for."""
    if not shape.class_norm:
        return layers.BatchNormalization(name=f"{name}_bn")(x)
    width = x.shape[-1]
    x = layers.BatchNormalization(center=False, scale=False, name=f"{name}_bn")(x)
    gain = layers.Reshape((1, 1, width))(layers.Embedding(shape.n_classes, width, embeddings_initializer="zeros",
                                                          name=f"{name}_gain")(motif))  # fmt: skip
    bias = layers.Reshape((1, 1, width))(layers.Embedding(shape.n_classes, width, embeddings_initializer="zeros",
                                                          name=f"{name}_bias")(motif))  # fmt: skip
    return layers.Add(name=f"{name}_cbn")([x, layers.Multiply()([x, gain]), bias])


def build_generator(shape: ModelShape) -> keras.Model:
    """(noise, motif class) -> [size, size, k_slots] soft ink separation."""
    noise = keras.Input((shape.latent_dim,), name="noise")
    motif = keras.Input((1,), dtype="int32", name="motif")
    embedded = layers.Flatten()(layers.Embedding(shape.n_classes, shape.latent_dim, name="motif_embedding")(motif))
    x = layers.Concatenate()([noise, embedded])
    width = shape.filters * 4
    x = layers.Dense(shape.base * shape.base * width, use_bias=False, name="project")(x)
    x = layers.Reshape((shape.base, shape.base, width))(x)
    x = _normalise(x, motif, shape, "project")
    x = layers.ReLU()(x)
    for i in range(shape.generator_upsamplings):
        width = max(shape.filters, width // 2)
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}")(x)
        x = _wrap_conv(x, width, name=f"g{i}")
        x = _normalise(x, motif, shape, f"g{i}")
        x = layers.ReLU(name=f"g{i}_relu")(x)
    x = _wrap_conv(x, shape.k_slots, name="slots")
    # Softmax in float32 even under mixed precision: probabilities must sum to one.
    if shape.torus_shift:
        x = layers.Softmax(axis=-1, dtype="float32", name="separation_at_origin")(x)
        out = TorusShift(dtype="float32", name="separation")(x, noise)
    else:
        out = layers.Softmax(axis=-1, dtype="float32", name="separation")(x)
    return keras.Model([noise, motif], out, name=GENERATOR_NAME)


def build_discriminator(shape: ModelShape) -> keras.Model:
    """(separation, motif class) -> realness logit. Circular padding lets it see across seams.

    Conditioning is by projection (Miyato & Koyama, 2018): the logit adds the inner product of the
    image features with a class embedding, which makes "right texture, wrong motif" a clear fake.
    """
    tile = keras.Input((shape.size, shape.size, shape.k_slots), name="separation")
    motif = keras.Input((1,), dtype="int32", name="motif")
    x = tile
    width, sn = shape.filters, shape.spectral_norm
    for i in range(shape.upsamplings):
        # A stride-1 convolution before each downsampling: motifs differ in shapes a few pixels
        # wide, which a discriminator that only strides cannot tell apart.
        x = layers.LeakyReLU(0.2, name=f"d{i}a_lrelu")(_wrap_conv(x, width, name=f"d{i}a", sn=sn))
        x = _wrap_conv(x, width, strides=2, name=f"d{i}", sn=sn)
        x = layers.LeakyReLU(0.2, name=f"d{i}_lrelu")(x)
        width *= 2
    if shape.minibatch_std:
        x = layers.LeakyReLU(0.2, name="d_std_lrelu")(_wrap_conv(MinibatchStdDev(name="minibatch_std")(x), width // 2,
                                                                  name="d_std", sn=sn))  # fmt: skip
    h = layers.GlobalAveragePooling2D()(x)
    h = layers.Dropout(0.3)(h)
    unconditional = _spectral(layers.Dense(1, name="realness"), sn, "realness")(h)
    class_vector = layers.Flatten()(layers.Embedding(shape.n_classes, h.shape[-1], name="motif_projection")(motif))
    projection = layers.Dot(axes=1)([h, class_vector])
    out = layers.Activation("linear", dtype="float32", name="logit")(layers.Add()([unconditional, projection]))
    # An auxiliary motif classifier (AC-GAN): the generator is also rewarded when its tile is
    # recognisably the motif it was asked for, which a projection alone learns slowly.
    motif_logits = layers.Dense(shape.n_classes, dtype="float32", name="motif_logits")(h)
    return keras.Model([tile, motif], [out, motif_logits], name=DISCRIMINATOR_NAME)


class PatternGAN(keras.Model):
    """Owns both networks and both optimizers; trains with ``fit()`` through ``train_step``."""

    def __init__(
        self, shape: ModelShape, seed: int = 0, label_smoothing: float = 0.1, augment: bool = True,
        mode_seeking: float = 0.0, motif_weight: float = 1.0, loss: str = "bce", ema_decay: float = 0.999,
        ink_coverage_weight: float = 0.0, ink_targets: Any = None, **kwargs: Any,
    ):  # fmt: skip
        super().__init__(**kwargs)
        if loss not in ("bce", "hinge"):
            raise ValueError(f"GAN loss {loss!r}: bce or hinge")
        if ink_targets is not None and len(ink_targets) != shape.n_classes:
            raise ValueError(f"{len(ink_targets)} ink coverage targets for {shape.n_classes} classes")
        if ink_coverage_weight and ink_targets is None:
            raise ValueError("ink_coverage_weight needs the corpus's ink coverage per class (ink_targets)")
        # Each class's ink coverage in the corpus, which the generator's classes are pulled towards (class_ink_gap).
        self.ink_targets = None if ink_targets is None else tuple(float(t) for t in ink_targets)
        self.ink_coverage_weight = ink_coverage_weight
        self.adversarial_loss = loss
        self.ema_decay = ema_decay
        self.mode_seeking = mode_seeking
        self.motif_weight = motif_weight
        self.augment_tiles = augment
        self.shape = shape
        self.generator = build_generator(shape)
        # The average of the generator's recent weights, not the last step's: a GAN's generator oscillates
        # around what the discriminator currently rewards, and its average paints steadier motifs.
        self.generator_ema = build_generator(shape) if shape.ema else None
        self.discriminator = build_discriminator(shape)
        self.label_smoothing = label_smoothing
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real_score")
        self.diversity_tracker = keras.metrics.Mean(name="sample_spread")
        self.ink_gap_tracker = keras.metrics.Mean(name="ink_gap")

    @property
    def metrics(self) -> list:
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.diversity_tracker]
        return trackers + ([self.ink_gap_tracker] if self.ink_targets is not None else [])

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        jit_compile: bool | str = "auto",
    ) -> None:
        super().compile(jit_compile=jit_compile)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.motif_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build(self, input_shape: Any = None) -> None:
        self.generator.build(None)
        self.discriminator.build(None)
        if self.generator_ema is not None:
            self.generator_ema.set_weights(self.generator.get_weights())
        super().build(input_shape)

    @property
    def sampler(self) -> keras.Model:
        """The generator that paints: the weight average when the shape keeps one, else the training generator."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def _update_ema(self) -> None:
        """Move the averaged weights (BatchNorm statistics included) towards the generator's.

        The decay ramps up from 0 ((1 + t) / (10 + t), capped at ``ema_decay``), so a short training's
        average is not dominated by its random initial weights.
        """
        if self.generator_ema is None:
            return
        t = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for averaged, current in zip(self.generator_ema.weights, self.generator.weights, strict=True):
            averaged.assign(decay * averaged + (1.0 - decay) * ops.cast(current, averaged.dtype))

    def _d_loss(self, real_logits, fake_logits, real_target):  # noqa: ANN001, ANN202 - Keras tensors
        if self.adversarial_loss == "hinge":  # Lim & Ye 2017, as in SN-GAN and BigGAN with a projection D
            return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))
        return self.loss_fn(real_target, real_logits) + self.loss_fn(ops.zeros_like(fake_logits), fake_logits)

    def _g_loss(self, fake_logits):  # noqa: ANN001, ANN202 - Keras tensors
        if self.adversarial_loss == "hinge":
            return -ops.mean(fake_logits)
        return self.loss_fn(ops.ones_like(fake_logits), fake_logits)

    def pretrain_motif_head(
        self, tiles: Any, labels: Any, epochs: int, batch_size: int, seed: int, learning_rate: float = 1e-3
    ) -> float:
        """Teach the discriminator's trunk and motif head the motifs before the adversarial game starts.

        Without it the motif head is still near chance when the generator has already settled on a few
        textures, and the auxiliary loss then has nothing to pull it towards. Trained on the training split
        only, each epoch on a fresh torus shift/turn/mirror of every tile. Returns the last epoch's accuracy.
        """
        import numpy as np


        if epochs <= 0:
            return 0.0
        head = keras.Model(self.discriminator.inputs[0], self.discriminator.get_layer("motif_logits").output)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
        rng = np.random.default_rng(seed)
        accuracy = 0.0
        for _ in range(epochs):
            history = head.fit(augment_tiles(tiles, rng), labels, batch_size=batch_size, epochs=1, verbose=0)
            accuracy = float(history.history["accuracy"][-1])
        return accuracy

    def sample_noise(self, n: int):  # noqa: ANN201
        return keras.random.normal((n, self.shape.latent_dim), seed=self.seed_generator)

    def augment(self, tiles):  # noqa: ANN001, ANN201
        """A random shift on the torus, quarter turn and mirror, the same for the whole batch.

        None changes which motif a tile shows, and the discriminator sees real and fake tiles
        through the same transform (differentiable, as in DiffAugment), so it learns motifs
        rather than memorising a few hundred tiles, without teaching the generator the transform.
        """
        import tensorflow as tf

        if not self.augment_tiles:
            return tiles
        draw = keras.random.randint((4,), 0, 4 * self.shape.size, seed=self.seed_generator)
        tiles = tf.roll(tiles, shift=[draw[0] % self.shape.size, draw[1] % self.shape.size], axis=[1, 2])
        tiles = tf.image.rot90(tiles, k=draw[2] % 4)
        return tf.cond(draw[3] % 2 == 1, lambda: tf.reverse(tiles, axis=[2]), lambda: tiles)

    def train_step(self, data):  # noqa: ANN001, ANN201
        import tensorflow as tf

        real, motif = data
        batch = ops.shape(real)[0]
        motif = ops.reshape(ops.cast(motif, "int32"), (-1, 1))

        fake = self.generator([self.sample_noise(batch), motif], training=True)
        real_seen, fake_seen = self.augment(real), self.augment(fake)
        # One-sided label smoothing keeps the discriminator from becoming overconfident early.
        real_target = ops.ones((batch, 1)) * (1.0 - self.label_smoothing)
        with tf.GradientTape() as tape:
            real_logits, real_motif = self.discriminator([real_seen, motif], training=True)
            fake_logits, _ = self.discriminator([fake_seen, motif], training=True)
            d_loss = self._d_loss(real_logits, fake_logits, real_target)
            d_loss = d_loss + self.motif_loss_fn(motif, real_motif)
            scaled = self.d_optimizer.scale_loss(d_loss)
        grads = tape.gradient(scaled, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))

        # The generator's batch is pairs: two latents per motif, so the mode-seeking term can compare them.
        half = batch // 2
        pair_motif = ops.concatenate([motif[:half], motif[:half]], axis=0)
        z1, z2 = self.sample_noise(half), self.sample_noise(half)
        if self.shape.torus_shift:  # a pair shares its phase: the term then rewards different structure only
            z2 = ops.concatenate([z1[:, :2], z2[:, 2:]], axis=1)
        with tf.GradientTape() as tape:
            fake = self.generator([ops.concatenate([z1, z2], axis=0), pair_motif], training=True)
            fake_logits, fake_motif = self.discriminator([self.augment(fake), pair_motif], training=True)
            g_loss = self._g_loss(fake_logits)
            g_loss = g_loss + self.motif_weight * self.motif_loss_fn(pair_motif, fake_motif)
            diversity = mode_seeking_ratio(fake[:half], fake[half:], z1, z2)
            if self.mode_seeking:
                g_loss = g_loss + self.mode_seeking / (diversity + 1e-5)
            ink_gap = None if self.ink_targets is None else class_ink_gap(fake, pair_motif, self.ink_targets)
            if self.ink_coverage_weight:
                g_loss = g_loss + self.ink_coverage_weight * ink_gap
            scaled = self.g_optimizer.scale_loss(g_loss)
        grads = tape.gradient(scaled, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        self._update_ema()

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.diversity_tracker.update_state(diversity)
        if ink_gap is not None:
            self.ink_gap_tracker.update_state(ink_gap)
        return {m.name: m.result() for m in self.metrics}


def mode_seeking_ratio(fake_a, fake_b, z_a, z_b):  # noqa: ANN001, ANN201 - Keras tensors
    """How far apart two tiles of one motif are, per unit of latent distance (MSGAN, Mao et al. 2019).

    The generator is rewarded for a large ratio (its loss adds ``weight / ratio``), so a different
    latent must paint a visibly different tile: the cure for one pattern per motif.
    """
    image = ops.mean(ops.abs(ops.cast(fake_a, "float32") - ops.cast(fake_b, "float32")), axis=(1, 2, 3))
    latent = ops.mean(ops.abs(z_a - z_b), axis=1)
    return ops.mean(image / (latent + 1e-8))


def class_ink_gap(separations, motif, targets):  # noqa: ANN001, ANN201 - Keras tensors
    """Sum over the classes in a batch of (their tiles' mean ink coverage - the corpus's coverage of the class)².

    The guard against one class collapsing to solid ink or to blank paper, which the adversarial and motif
    losses let through (the 200-epoch base model of 2026-12-07 painted dots as solid ink, coverage 1.00
    against the corpus's 0.29). Coverage is :func:`packaging_pipeline.gan.corpus.ink_coverage`: the share of
    pixels whose most likely slot is an ink, as the tile prints. Argmax has no gradient, so the gradient is
    that of the expected share, 1 - p(paper) (a straight-through estimate); the value is the printed share.
    Squared, so the spread of a few tiles per class in one batch costs almost nothing and a collapse a lot.
    """
    p = ops.cast(separations, "float32")
    expected = 1.0 - p[..., 0]
    printed = ops.cast(ops.not_equal(ops.argmax(p, axis=-1), 0), "float32")
    per_tile = ops.mean(expected + ops.stop_gradient(printed - expected), axis=(1, 2))
    targets = ops.convert_to_tensor(targets, "float32")
    one_hot = ops.one_hot(ops.reshape(ops.cast(motif, "int32"), (-1,)), targets.shape[0])
    counts = ops.sum(one_hot, axis=0)
    mean = ops.sum(one_hot * per_tile[:, None], axis=0) / ops.maximum(counts, 1.0)
    return ops.sum(ops.where(counts > 0, ops.square(mean - targets), 0.0))


def model_flops_per_image(model: keras.Model) -> int:
    """Forward FLOPs of one image (2 per multiply-accumulate) in Dense, Conv2D and Conv2DTranspose layers.

    Counted from the layer shapes (channels last), so it needs no profiler and is the same on any device; the
    cheap rest (normalisation, activations, padding, upsampling, embeddings) is left out. Nested models count.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops_per_image(layer)
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Conv2DTranspose):  # not a Conv2D subclass; each input pixel scatters a kernel
            _, h, w, c_in = layer.input.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * c_in * kh * kw * layer.filters
        elif isinstance(layer, layers.Dense):
            total += 2 * math.prod(layer.input.shape[1:]) * layer.units
    return int(total)
