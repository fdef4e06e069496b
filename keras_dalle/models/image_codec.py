"""The image tokenizer's parts: visual encoder (CNN + Transformer), vector quantizer, CNN decoder.

Pixels travel as float in [-1, 1]; `to_unit_range` and `to_uint8` convert at the edges.
"""

import math

import keras
from keras import ops

from keras_dalle.layers.composite import CompositeLayer
from keras_dalle.layers.convolution import ResidualBlock, apply_strided_convolutions, group_count, strided_convolutions
from keras_dalle.layers.replicas import concat_over_replicas, sum_over_replicas
from keras_dalle.layers.position_embedding import GridPositionEmbedding
from keras_dalle.layers.transformer import TransformerBlock


def to_unit_range(images):
    """uint8 [..., 3] in 0..255 -> float32 in [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


def to_uint8(pixels):
    """float in [-1, 1] -> uint8 in 0..255 (clipped, rounded)."""
    return ops.cast(ops.round(ops.clip((pixels + 1.0) * 127.5, 0.0, 255.0)), "uint8")


def _levels(downsample_factor, channels):
    levels = int(round(math.log2(downsample_factor)))
    if 2**levels != downsample_factor or levels < 1:
        raise ValueError(f"downsample_factor must be a power of two >= 2, got {downsample_factor}")
    if len(channels) != levels:
        raise ValueError(f"channels needs one width per downsampling level ({levels}), got {list(channels)}")
    return levels


@keras.saving.register_keras_serializable(package="keras_dalle")
class VisualEncoder(CompositeLayer):
    """CNN stem that downsamples by `downsample_factor`, then a Transformer over the token grid.

    Args:
        image_size: input side S.
        downsample_factor: S / grid side (a power of two); one width in `channels` per halving.
        channels: CNN widths, one per level.
        transformer_layers, transformer_heads, transformer_width: the grid Transformer.
        code_dim: width of the output latents (the codebook's dimension).

    Call: float [B, S, S, 3] in [-1, 1] -> latents float [B, S/f, S/f, code_dim].
    """

    def __init__(
        self,
        image_size,
        downsample_factor,
        channels,
        transformer_layers,
        transformer_heads,
        transformer_width,
        code_dim,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.downsample_factor = downsample_factor
        self.channels = tuple(channels)
        self.transformer_layers = transformer_layers
        self.transformer_heads = transformer_heads
        self.transformer_width = transformer_width
        self.code_dim = code_dim
        levels = _levels(downsample_factor, self.channels)
        self.grid_size = image_size // downsample_factor
        self.stem = keras.layers.Conv2D(self.channels[0], 3, padding="same", name="stem")
        self.cnn = []
        for level in range(levels):
            width = self.channels[level]
            self.cnn.append(ResidualBlock(width, name=f"block_{level}"))
            self.cnn.append(keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"down_{level}"))
        self.cnn.append(ResidualBlock(self.channels[-1], name=f"block_{levels}"))
        self.to_width = keras.layers.Dense(transformer_width, name="to_width")
        self.positions = GridPositionEmbedding(self.grid_size, self.grid_size, name="positions")
        self.blocks = [TransformerBlock(transformer_heads, name=f"transformer_{i}") for i in range(transformer_layers)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.to_latent = keras.layers.Dense(code_dim, name="to_latent")

    def call(self, pixels):
        x = self.stem(pixels)  # (B, S, S, C0)
        for layer in self.cnn:
            x = layer(x)  # ... -> (B, h, w, C_last)
        x = self.positions(self.to_width(x))  # (B, h, w, W)
        batch = ops.shape(x)[0]
        x = ops.reshape(x, (batch, self.grid_size * self.grid_size, self.transformer_width))  # (B, h*w, W)
        for block in self.blocks:
            x = block(x)
        x = self.to_latent(self.norm(x))  # (B, h*w, D)
        return ops.reshape(x, (batch, self.grid_size, self.grid_size, self.code_dim))  # (B, h, w, D)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "downsample_factor": self.downsample_factor,
            "channels": list(self.channels),
            "transformer_layers": self.transformer_layers,
            "transformer_heads": self.transformer_heads,
            "transformer_width": self.transformer_width,
            "code_dim": self.code_dim,
        }


@keras.saving.register_keras_serializable(package="keras_dalle")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-code lookup over an l2-normalized codebook, with straight-through gradients.

    Latents and codes are l2-normalized, so "nearest" is the highest cosine similarity; this
    keeps codes in use. Codes that no latent chose for `dead_code_steps` steps are restarted
    at random latents of the current batch (`restart_dead_codes`, called by the train step).

    Args:
        codebook_size: K codes.
        code_dim: D, the width of each code.
        dead_code_steps: steps without use after which a code is restarted.
        seed: seed of the restart draws.

    Call: latents float [B, h, w, D] -> dict with "quantized" (the straight-through codes,
    [B, h, w, D]), "indices" (int32 [B, h, w]), "latents" (normalized latents) and "codes"
    (normalized chosen codes); `commitment_loss`-style terms are computed from the last two.
    """

    def __init__(self, codebook_size, code_dim, dead_code_steps=200, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.codebook_size = codebook_size
        self.code_dim = code_dim
        self.dead_code_steps = dead_code_steps
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if input_shape[-1] != self.code_dim:
            raise ValueError(f"latents have width {input_shape[-1]}, the codebook {self.code_dim}")
        self.codebook = self.add_weight(
            shape=(self.codebook_size, self.code_dim), initializer="random_normal", name="codebook"
        )
        # The step at which each code was last chosen (never: far in the past) and last restarted
        # (counted from step 0, so a code gets `dead_code_steps` steps before its first restart).
        self.last_chosen = self.add_weight(
            shape=(self.codebook_size,),
            initializer=keras.initializers.Constant(-1e9),
            trainable=False,
            name="last_chosen",
            aggregation="mean",
        )
        self.last_restarted = self.add_weight(
            shape=(self.codebook_size,), initializer="zeros", trainable=False, name="last_restarted", aggregation="mean"
        )

    def normalized_codebook(self):
        return ops.normalize(self.codebook, axis=-1)  # (K, D)

    def call(self, latents):
        latents = ops.normalize(latents, axis=-1)  # (B, h, w, D)
        codebook = self.normalized_codebook()
        # top_k(k=1), not argmax: Keras's TF argmax guards against -0.0 with a BitwiseAnd op, which
        # TFLite has no builtin for (the `complete` signature encodes pictures on the phone). Both
        # pick the lowest index on ties, so the tokens are the same.
        similarity = ops.einsum("bhwd,kd->bhwk", latents, codebook)  # (B, h, w, K)
        indices = ops.cast(ops.top_k(similarity, k=1, sorted=False)[1][..., 0], "int32")
        codes = ops.take(codebook, indices, axis=0)  # (B, h, w, D)
        quantized = latents + ops.stop_gradient(codes - latents)
        return {"quantized": quantized, "indices": indices, "latents": latents, "codes": codes}

    def lookup(self, indices):
        """Codes of token ids: int [B, h, w] -> float [B, h, w, D]."""
        return ops.take(self.normalized_codebook(), indices, axis=0)

    def restart_dead_codes(self, indices, latents, step):
        """Marks the chosen codes as used at `step`; moves codes unused for too long onto random latents."""
        # Over the global batch, so every replica makes the same bookkeeping and the same restarts.
        flat_latents = concat_over_replicas(ops.reshape(latents, (-1, self.code_dim)))  # (N, D)
        counts = sum_over_replicas(ops.sum(ops.one_hot(ops.reshape(indices, (-1,)), self.codebook_size), axis=0))  # (K,)
        chosen = counts > 0
        step = ops.cast(step, "float32")
        last_chosen = ops.where(chosen, step, self.last_chosen)
        dead = step - ops.maximum(last_chosen, self.last_restarted) >= self.dead_code_steps
        picks = keras.random.randint(
            (self.codebook_size,), 0, ops.shape(flat_latents)[0], seed=self.seed_generator
        )
        replacements = ops.take(ops.stop_gradient(flat_latents), picks, axis=0)  # (K, D)
        self.codebook.assign(ops.where(dead[:, None], replacements, self.codebook))
        self.last_chosen.assign(last_chosen)
        self.last_restarted.assign(ops.where(dead, step, self.last_restarted))

    def usage(self, step, window):
        """Fraction of codes chosen within the last `window` steps."""
        return ops.mean(ops.cast(ops.cast(step, "float32") - self.last_chosen < window, "float32"))

    def get_config(self):
        return {
            **super().get_config(),
            "codebook_size": self.codebook_size,
            "code_dim": self.code_dim,
            "dead_code_steps": self.dead_code_steps,
            "seed": self.seed,
        }


def perplexity(indices, codebook_size):
    """exp(entropy) of the code histogram of a batch: 1 (one code) up to codebook_size (uniform)."""
    probs = ops.mean(ops.one_hot(ops.reshape(indices, (-1,)), codebook_size), axis=0)
    return ops.exp(-ops.sum(probs * ops.log(probs + 1e-10)))


@keras.saving.register_keras_serializable(package="keras_dalle")
class ImageDecoder(CompositeLayer):
    """CNN from quantized latents back to pixels, mirroring the encoder's CNN.

    Args:
        downsample_factor: the encoder's factor; one upsampling per halving.
        channels: the encoder's widths (used in reverse).

    Call: float [B, h, w, D] -> pixels float [B, h*f, w*f, 3] (about [-1, 1]).
    """

    def __init__(self, downsample_factor, channels, **kwargs):
        super().__init__(**kwargs)
        self.downsample_factor = downsample_factor
        self.channels = tuple(channels)
        levels = _levels(downsample_factor, self.channels)
        self.stem = keras.layers.Conv2D(self.channels[-1], 3, padding="same", name="stem")
        self.cnn = [ResidualBlock(self.channels[-1], name=f"block_{levels}")]
        for level in reversed(range(levels)):
            width = self.channels[level]
            self.cnn.append(keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_{level}"))
            self.cnn.append(keras.layers.Conv2D(width, 3, padding="same", name=f"up_conv_{level}"))
            self.cnn.append(ResidualBlock(width, name=f"block_{level}"))
        self.norm = keras.layers.GroupNormalization(group_count(self.channels[0]), name="norm")
        self.to_pixels = keras.layers.Conv2D(3, 3, padding="same", dtype="float32", name="to_pixels")  # float32 under mixed precision

    def call(self, codes):
        x = self.stem(codes)  # (B, h, w, C_last)
        for layer in self.cnn:
            x = layer(x)  # ... -> (B, S, S, C0)
        return self.to_pixels(keras.activations.silu(self.norm(x)))  # (B, S, S, 3)

    def get_config(self):
        return {**super().get_config(), "downsample_factor": self.downsample_factor, "channels": list(self.channels)}


@keras.saving.register_keras_serializable(package="keras_dalle")
class PatchDiscriminator(CompositeLayer):
    """PatchGAN: strided 4x4 convolutions to a grid of real/fake logits, one per image patch.

    Args:
        channels: widths of the strided convolutions (each halves the resolution).

    Call: pixels float [B, S, S, 3] -> logits float [B, S / 2^len(channels), ..., 1].
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(channels)
        self.convs, self.norms = strided_convolutions(self.channels)
        self.to_logits = keras.layers.Conv2D(1, 3, padding="same", dtype="float32", name="to_logits")

    def call(self, pixels):
        x = apply_strided_convolutions(self.convs, self.norms, pixels)
        return self.to_logits(x)

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels)}
