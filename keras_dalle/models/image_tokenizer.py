"""The image tokenizer: pictures to discrete tokens and back, trained adversarially with `model.fit`."""

import keras
import tensorflow as tf
from keras import ops

from keras_dalle.models.image_codec import (
    ImageDecoder,
    PatchDiscriminator,
    VectorQuantizer,
    VisualEncoder,
    perplexity,
    to_uint8,
    to_unit_range,
)
from keras_dalle.models.adversarial import AdversarialModel

# Codebook usage counts codes chosen within this many recent steps.
USAGE_WINDOW = 100
METRICS = (
    "loss",
    "reconstruction_loss",
    "quantizer_loss",
    "generator_adversarial_loss",
    "discriminator_loss",
    "psnr",
    "perplexity",
    "codebook_usage",
)


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge loss of the discriminator: push real logits above 1 and fake ones below -1."""
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def psnr(images, reconstructions):
    """Mean PSNR in dB of uint8 pictures against their reconstructions (both uint8 [B, S, S, 3])."""
    error = ops.cast(images, "float32") - ops.cast(reconstructions, "float32")
    mse = ops.mean(ops.square(error), axis=(1, 2, 3))
    return ops.mean(10.0 * ops.log(255.0**2 / ops.maximum(mse, 1e-10)) / ops.log(10.0))


def validate_images(images, image_size):
    """Raises ValueError unless `images` is [B, image_size, image_size, 3]."""
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise ValueError(f"images must have rank 4 [batch, height, width, 3], got shape {shape}")
    if shape[-1] != 3:
        raise ValueError(f"images must have 3 channels (RGB), got {shape[-1]} in shape {shape}")
    if shape[1] != image_size or shape[2] != image_size:
        raise ValueError(f"images must be {image_size} x {image_size}, got {shape[1]} x {shape[2]}")


@keras.saving.register_keras_serializable(package="keras_dalle")
class ImageTokenizer(AdversarialModel):
    """Visual encoder + vector quantizer + CNN decoder, with a patch discriminator for training.

    `encode` turns uint8 pictures into int32 tokens [B, h, w]; `decode` turns tokens back into
    uint8 pictures. `fit` trains with a custom step: the discriminator first (hinge loss, its
    own optimizer), then encoder, quantizer and decoder on reconstruction (L1 + L2), quantizer
    (codebook + commitment) and, from `adversarial_start` on, `adversarial_weight` times the
    adversarial loss. `adversarial_weight=0` trains without a discriminator.

    Sizes (and the adversarial start) have no defaults: they come from a preset
    (`keras_dalle.presets`), the one place they are written.

    Args:
        image_size, downsample_factor, channels, transformer_layers, transformer_heads,
        transformer_width: see `VisualEncoder`.
        codebook_size, code_dim, dead_code_steps: see `VectorQuantizer`.
        discriminator_channels: see `PatchDiscriminator`.
        commitment_cost: weight of the commitment term.
        adversarial_weight: lambda of the adversarial term (0 switches it off).
        adversarial_start: training step at which the discriminator and its term switch on.
        seed: seed of the codebook restarts.

    Example:
        >>> tokenizer = ImageTokenizer(**keras_dalle.presets.preset("tiny", "image_tokenizer"))
        >>> tokenizer.compile(optimizer=keras.optimizers.Adam(2e-4), d_optimizer=keras.optimizers.Adam(2e-4))
        >>> tokenizer.fit(dataset_of_captions_and_images, epochs=1)
        >>> tokens = tokenizer.encode(images)           # int32 [B, h, w]
        >>> pictures = tokenizer.decode(tokens)         # uint8 [B, S, S, 3]
    """

    def __init__(
        self,
        *,
        image_size,
        downsample_factor,
        channels,
        transformer_layers,
        transformer_heads,
        transformer_width,
        codebook_size,
        code_dim,
        discriminator_channels,
        adversarial_start,
        commitment_cost=0.25,
        adversarial_weight=0.1,
        dead_code_steps=200,
        seed=None,
        **kwargs,
    ):
        super().__init__(METRICS, **kwargs)
        if image_size % downsample_factor:
            raise ValueError(f"image_size {image_size} must be divisible by downsample_factor {downsample_factor}")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        self.image_size = image_size
        self.downsample_factor = downsample_factor
        self.channels = tuple(channels)
        self.transformer_layers = transformer_layers
        self.transformer_heads = transformer_heads
        self.transformer_width = transformer_width
        self.codebook_size = codebook_size
        self.code_dim = code_dim
        self.discriminator_channels = tuple(discriminator_channels)
        self.commitment_cost = commitment_cost
        self.adversarial_weight = adversarial_weight
        self.adversarial_start = adversarial_start
        self.dead_code_steps = dead_code_steps
        self.seed = seed
        self.grid_size = image_size // downsample_factor

        self.encoder = VisualEncoder(
            image_size, downsample_factor, channels, transformer_layers, transformer_heads, transformer_width,
            code_dim, name="encoder",
        )
        self.quantizer = VectorQuantizer(codebook_size, code_dim, dead_code_steps, seed, dtype="float32", name="quantizer")  # exact distances
        self.decoder = ImageDecoder(downsample_factor, channels, name="decoder")
        self.discriminator = (
            PatchDiscriminator(discriminator_channels, name="discriminator") if adversarial_weight > 0 else None
        )

    @property
    def build_input_shape(self):
        return (None, self.image_size, self.image_size, 3)

    def build(self, input_shape=None):
        # Run once on zeros so every sub-layer, the discriminator included, has its weights.
        zeros = ops.zeros((1, self.image_size, self.image_size, 3))
        self.call(zeros)
        if self.discriminator is not None:
            self.discriminator(zeros)

    def call(self, pixels, training=False):
        """Reconstructs float pixels in [-1, 1]: [B, S, S, 3] -> [B, S, S, 3]."""
        quantized = self.quantizer(self.encoder(pixels, training=training))
        return self.decoder(quantized["quantized"], training=training)

    def encode(self, images):
        """uint8 pictures [B, S, S, 3] -> int32 tokens [B, h, w]."""
        images = ops.convert_to_tensor(images)
        validate_images(images, self.image_size)
        return self.quantizer(self.encoder(to_unit_range(images)))["indices"]

    def decode(self, tokens):
        """int tokens [B, h, w] -> uint8 pictures [B, S, S, 3]."""
        tokens = ops.convert_to_tensor(tokens)
        if len(tokens.shape) != 3:
            raise ValueError(f"tokens must have rank 3 [batch, {self.grid_size}, {self.grid_size}], got {tokens.shape}")
        return to_uint8(self.decoder(self.quantizer.lookup(ops.cast(tokens, "int32"))))

    @property
    def main_weights(self):
        """Encoder, quantizer and decoder: the weights `optimizer` trains."""
        return self.encoder.trainable_weights + self.quantizer.trainable_weights + self.decoder.trainable_weights

    def _forward_with_losses(self, images):
        """Forward pass with every loss term; images uint8 [B, S, S, 3]."""
        pixels = to_unit_range(images)
        quantized = self.quantizer(self.encoder(pixels, training=True))
        reconstruction = self.decoder(quantized["quantized"], training=True)
        error = pixels - reconstruction
        reconstruction_loss = ops.mean(ops.abs(error)) + ops.mean(ops.square(error))
        latents, codes = quantized["latents"], quantized["codes"]
        codebook_loss = ops.mean(ops.square(ops.stop_gradient(latents) - codes))
        commitment_loss = ops.mean(ops.square(latents - ops.stop_gradient(codes)))
        quantizer_loss = codebook_loss + self.commitment_cost * commitment_loss
        return pixels, reconstruction, quantized, reconstruction_loss, quantizer_loss

    def train_step(self, data, adversarial=True):
        """One step; `adversarial` adds the discriminator update and term (`fit` passes it from `adversarial_start` on)."""
        images = data[-1] if isinstance(data, (tuple, list)) else data  # (caption, image) or image
        step = self.optimizer.iterations
        with tf.GradientTape() as tape:
            pixels, reconstruction, quantized, reconstruction_loss, quantizer_loss = self._forward_with_losses(images)
            loss = reconstruction_loss + quantizer_loss
            if adversarial and self.discriminator is not None:
                with tape.stop_recording():
                    discriminator_loss = self._discriminator_step(pixels, reconstruction)
                generator_adversarial_loss = -ops.mean(self.discriminator(reconstruction, training=True))
                loss = loss + self.adversarial_weight * generator_adversarial_loss
            else:
                discriminator_loss = generator_adversarial_loss = ops.zeros(())
        self.main_update(tape, loss)
        self.quantizer.restart_dead_codes(quantized["indices"], quantized["latents"], step)
        values = {
            "loss": loss,
            "reconstruction_loss": reconstruction_loss,
            "quantizer_loss": quantizer_loss,
            "generator_adversarial_loss": generator_adversarial_loss,
            "discriminator_loss": discriminator_loss,
            "psnr": psnr(images, to_uint8(reconstruction)),
            "perplexity": perplexity(quantized["indices"], self.codebook_size),
            "codebook_usage": self.quantizer.usage(step, USAGE_WINDOW),
        }
        return self.update_trackers(values)

    def _discriminator_step(self, pixels, reconstruction):
        """One discriminator update on real pictures and (detached) reconstructions."""
        fake = ops.stop_gradient(reconstruction)
        return self.discriminator_update(
            lambda: hinge_discriminator_loss(
                self.discriminator(pixels, training=True), self.discriminator(fake, training=True)
            )
        )

    def test_step(self, data):
        images = data[-1] if isinstance(data, (tuple, list)) else data
        _, reconstruction, quantized, reconstruction_loss, quantizer_loss = self._forward_with_losses(images)
        values = {
            "loss": reconstruction_loss + quantizer_loss,
            "reconstruction_loss": reconstruction_loss,
            "quantizer_loss": quantizer_loss,
            "psnr": psnr(images, to_uint8(reconstruction)),
            "perplexity": perplexity(quantized["indices"], self.codebook_size),
        }
        return self.update_trackers(values)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "downsample_factor": self.downsample_factor,
            "channels": list(self.channels),
            "transformer_layers": self.transformer_layers,
            "transformer_heads": self.transformer_heads,
            "transformer_width": self.transformer_width,
            "codebook_size": self.codebook_size,
            "code_dim": self.code_dim,
            "discriminator_channels": list(self.discriminator_channels),
            "commitment_cost": self.commitment_cost,
            "adversarial_weight": self.adversarial_weight,
            "adversarial_start": self.adversarial_start,
            "dead_code_steps": self.dead_code_steps,
            "seed": self.seed,
        }
