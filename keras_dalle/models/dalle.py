"""`KerasDALLE`: the user-facing text-to-image model (prompt in, pictures out)."""

import logging

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_dalle.data.images import pictures_from
from keras_dalle.models.adversarial import AdversarialModel, straight_through_gumbel_softmax
from keras_dalle.models.generation import (
    Compiled, check_positive_int, keep_best_candidates, picture_seeds, prompt_list, row_seeds,
)
from keras_dalle.models.image_codec import to_uint8, to_unit_range
from keras_dalle.models.image_tokenizer import ImageTokenizer, hinge_discriminator_loss
from keras_dalle.models.text_to_image import Generator, TextConditionalDiscriminator, TextEncoder
from keras_dalle.sampling import (
    SETTING_DTYPES, TextConditioning, TokenSampler, compiled_noise_from_seeds, validate_sampling_arguments,
)
from keras_dalle.sampling import reference
from keras_dalle.text.byte_tokenizer import VOCAB_SIZE, ByteTokenizer

logger = logging.getLogger("keras_dalle")


@keras.saving.register_keras_serializable(package="keras_dalle")
class KerasDALLE(AdversarialModel):
    """Text-to-image: byte tokenizer, frozen image tokenizer, text encoder, autoregressive generator.

    `fit(dataset)` takes (caption string, uint8 image) batches. Each step encodes the pictures
    to tokens with the frozen image tokenizer, replaces a fraction `caption_dropout` of the
    captions by the null caption (for classifier-free guidance), updates the text-conditional
    discriminator (when `adversarial_weight > 0`, from step `adversarial_start`), then the text encoder and generator on
    teacher-forced cross-entropy plus `adversarial_weight` times the adversarial loss of
    pictures decoded from straight-through Gumbel-softmax samples of the generator's logits.

    Sizes (and the adversarial start) have no defaults: they come from a preset
    (`keras_dalle.presets`), the one place they are written. `image_grid_positions` defaults to
    False only so that models saved before it existed load as they were; presets turn it on.

    Args:
        image_tokenizer: a trained `ImageTokenizer` (frozen here).
        text_length: prompt ids per caption (longer prompts are truncated).
        text_width, text_layers, text_heads: the text encoder.
        width, generator_layers, generator_heads: the generator.
        dropout: dropout in both Transformers.
        word_attention, sentence_layers, word_positions: how the text encoder sees words (see `TextEncoder`).
        image_grid_positions: row and column embeddings for image tokens in the generator.
        caption_dropout: probability of training on the null caption.
        adversarial_weight: lambda of the adversarial term; 0 trains without a discriminator.
        adversarial_start: step from which the discriminator and its term are on.
        gumbel_temperature: temperature of the Gumbel-softmax relaxation.
        discriminator_channels: widths of the discriminator's CNN.
        temperature, top_k, top_p, cfg_scale: default sampling settings (used by exports too).
        seed: seed of caption dropout and Gumbel noise.

    Example:
        >>> model = keras.saving.load_model("shapes_small.keras")
        >>> images = model.generate(["a big red circle in the top left"], num_images=4, seed=0)
        >>> images.shape, images.dtype
        ((4, 32, 32, 3), dtype('uint8'))
    """

    def __init__(
        self,
        image_tokenizer,
        *,
        text_length,
        text_width,
        text_layers,
        text_heads,
        width,
        generator_layers,
        generator_heads,
        discriminator_channels,
        adversarial_start,
        image_grid_positions=False,
        dropout=0.0,
        word_attention=False,
        sentence_layers=0,
        word_positions=False,
        caption_dropout=0.1,
        adversarial_weight=0.05,
        gumbel_temperature=1.0,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        cfg_scale=3.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            ("loss", "cross_entropy", "token_accuracy", "generator_adversarial_loss", "discriminator_loss"), **kwargs
        )
        if isinstance(image_tokenizer, dict):
            image_tokenizer = keras.saving.deserialize_keras_object(image_tokenizer)
        if not isinstance(image_tokenizer, ImageTokenizer):
            raise ValueError(f"image_tokenizer must be an ImageTokenizer, got {type(image_tokenizer).__name__}")
        if not 0 <= caption_dropout < 1:
            raise ValueError(f"caption_dropout must be in [0, 1), got {caption_dropout}")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        validate_sampling_arguments(temperature, top_k, top_p, cfg_scale, image_tokenizer.codebook_size)
        self.image_tokenizer = image_tokenizer
        self.image_tokenizer.trainable = False
        self.text_length = text_length
        self.text_width = text_width
        self.text_layers = text_layers
        self.text_heads = text_heads
        self.width = width
        self.generator_layers = generator_layers
        self.generator_heads = generator_heads
        self.dropout = dropout
        self.word_attention = word_attention
        self.sentence_layers = sentence_layers
        self.word_positions = word_positions
        self.image_grid_positions = image_grid_positions
        self.caption_dropout = caption_dropout
        self.adversarial_weight = adversarial_weight
        self.adversarial_start = adversarial_start
        self.gumbel_temperature = gumbel_temperature
        self.discriminator_channels = tuple(discriminator_channels)
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.cfg_scale = cfg_scale
        self.seed = seed

        self.image_size = image_tokenizer.image_size
        self.grid_size = image_tokenizer.grid_size
        self.image_length = self.grid_size**2
        self.codebook_size = image_tokenizer.codebook_size
        self.text_tokenizer = ByteTokenizer(text_length, name="text_tokenizer")
        self.text_encoder = TextEncoder(
            VOCAB_SIZE, text_length, text_width, text_layers, text_heads, dropout, word_attention, sentence_layers,
            word_positions, name="text_encoder",
        )
        self.conditioning = self._conditioning()
        self.generator = Generator(
            self.codebook_size, text_length + self.condition_prefix_positions, self.image_length, width, generator_layers,
            generator_heads, dropout, image_grid_positions=image_grid_positions, name="generator",
        )
        self.discriminator = (
            TextConditionalDiscriminator(discriminator_channels, VOCAB_SIZE, name="discriminator")
            if adversarial_weight > 0
            else None
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.sampler = TokenSampler(self.conditioning, self.generator)
        self._compiled_decode = Compiled(self.images_from_tokens)
        self._compiled_prompt_ids = Compiled(self._repeated_prompt_ids)
        self._warned_truncated = set()  # prompts already warned about: a training's tuning prompts recur every epoch

    # Positions before the caption's in the generator's condition (the unCLIP decoder's embedding prefix).
    condition_prefix_positions = 0

    def _conditioning(self):
        """What the generator is conditioned on: captions (`TextConditioning`)."""
        return TextConditioning(self.text_encoder, self.text_tokenizer.null_ids)

    @property
    def main_weights(self):
        """Text encoder and generator: the weights `optimizer` trains."""
        return self.text_encoder.trainable_weights + self.generator.trainable_weights

    def build(self, input_shape=None):
        if not self.image_tokenizer.built:
            self.image_tokenizer.build((None, self.image_size, self.image_size, 3))
        tokens = ops.zeros((1, self.image_length), "int32")
        self.call((self.conditioning.null(1), tokens))
        if self.discriminator is not None:
            self.discriminator(ops.zeros((1, self.image_size, self.image_size, 3)), ops.zeros((1, self.text_length), "int32"))

    def call(self, inputs, training=False):
        """Teacher-forced logits: (condition, image tokens int [B, N]) -> float [B, N, K]; the condition
        is caption ids int [B, L] (see `keras_dalle.sampling.conditioning`)."""
        condition, image_tokens = inputs
        states, mask = self.conditioning.encode(condition, training=training)
        return self.generator(states, mask, image_tokens, training=training)

    def image_tokens(self, images):
        """uint8 pictures [B, S, S, 3] -> flat int32 tokens [B, N] from the frozen image tokenizer."""
        return ops.reshape(self.image_tokenizer.encode(images), (-1, self.image_length))

    def images_from_tokens(self, tokens):
        """Flat tokens int [B, N] -> uint8 pictures [B, S, S, 3] (a tensor; graph-safe, used by the exports)."""
        codes = self.image_tokenizer.quantizer.lookup(ops.reshape(tokens, (-1, self.grid_size, self.grid_size)))
        return to_uint8(self.image_tokenizer.decoder(codes))

    def _pixels_from_logits(self, logits):
        """Straight-through Gumbel-softmax picks, decoded by the frozen decoder: [B, N, K] -> [B, S, S, 3]."""
        picks = straight_through_gumbel_softmax(logits, self.gumbel_temperature, self.seed_generator)
        codes = ops.einsum("bnk,kd->bnd", picks, self.image_tokenizer.quantizer.normalized_codebook())
        return self.image_tokenizer.decoder(ops.reshape(codes, (-1, self.grid_size, self.grid_size, codes.shape[-1])))

    def caption_ids(self, captions):
        """Caption strings [B] -> ids [B, L]; ids pass through (datasets tokenized ahead, e.g. for XLA)."""
        if captions.dtype == tf.string:
            return self.text_tokenizer(captions)
        return ops.cast(captions, "int32")

    def _drop_captions(self, caption_ids):
        batch = ops.shape(caption_ids)[0]
        dropped = keras.random.uniform((batch,), seed=self.seed_generator) < self.caption_dropout
        return ops.where(dropped[:, None], self.text_tokenizer.null_ids(batch), caption_ids)

    @staticmethod
    def _token_metrics(targets, logits):
        """Teacher-forced cross-entropy and argmax accuracy of logits [B, N, K] against targets [B, N]."""
        cross_entropy = ops.mean(ops.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        accuracy = ops.mean(ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(targets, "int64")), "float32"))
        return cross_entropy, accuracy

    def condition(self, captions, images, training=False):
        """The condition of a training batch: caption ids [B, L], some of them the null caption when
        `training` (caption dropout, for classifier-free guidance)."""
        caption_ids = self.caption_ids(captions)
        return self._drop_captions(caption_ids) if training else caption_ids

    def train_step(self, data, adversarial=True):
        """One step; `adversarial` adds the discriminator update and term (`fit` passes it from `adversarial_start` on)."""
        captions, images = data
        condition = self.condition(captions, images, training=True)
        caption_ids = self.conditioning.ids(condition)
        targets = self.image_tokens(images)  # (B, N)
        with tf.GradientTape() as tape:
            logits = self((condition, targets), training=True)  # (B, N, K)
            cross_entropy, accuracy = self._token_metrics(targets, logits)
            loss = cross_entropy
            if adversarial and self.discriminator is not None:
                fake = self._pixels_from_logits(logits)
                with tape.stop_recording():
                    discriminator_loss = self._discriminator_step(to_unit_range(images), ops.stop_gradient(fake), caption_ids)
                generator_adversarial_loss = -ops.mean(self.discriminator(fake, caption_ids))
                loss = loss + self.adversarial_weight * generator_adversarial_loss
            else:
                discriminator_loss = generator_adversarial_loss = ops.zeros(())
        self.main_update(tape, loss)
        values = {
            "loss": loss,
            "cross_entropy": cross_entropy,
            "token_accuracy": accuracy,
            "generator_adversarial_loss": generator_adversarial_loss,
            "discriminator_loss": discriminator_loss,
        }
        return self.update_trackers(values)

    def _discriminator_step(self, real, fake, caption_ids):
        """Hinge update: (real, caption) is real; (generated, caption) and (real, another caption) are fake."""
        mismatched = ops.roll(caption_ids, 1, axis=0)

        def loss():
            real_logits = self.discriminator(real, caption_ids)
            fake_logits = ops.concatenate([self.discriminator(fake, caption_ids), self.discriminator(real, mismatched)], 0)
            return hinge_discriminator_loss(real_logits, fake_logits)

        return self.discriminator_update(loss)

    def test_step(self, data):
        captions, images = data
        targets = self.image_tokens(images)
        cross_entropy, accuracy = self._token_metrics(targets, self((self.condition(captions, images), targets)))
        return self.update_trackers({"cross_entropy": cross_entropy, "token_accuracy": accuracy})

    def _repeated_prompt_ids(self, prompts, num_images):
        """(ids int32 [P * num_images, L], each prompt's rows together; byte lengths int32 [P])."""
        ids, lengths = self.text_tokenizer.ids_and_lengths(prompts)  # (P, L), (P,)
        return tf.repeat(ids, num_images, axis=0), lengths

    def _prompt_ids(self, prompts, num_images):
        prompts = prompt_list(prompts)
        ids, lengths = self._compiled_prompt_ids(tf.constant(prompts), tf.constant(num_images))
        for prompt, length in zip(prompts, lengths.numpy()):
            if length == 0:
                raise ValueError(f"prompt {prompt!r} is empty once normalized")
            if length > self.text_length and prompt not in self._warned_truncated:
                self._warned_truncated.add(prompt)
                logger.warning(
                    "prompt %r is %d bytes; truncated to the model's %d", prompt, length, self.text_length
                )
        return ids  # (P * num_images, L)

    def check_keep_rows(self, keep_rows):
        """Raises ValueError unless `keep_rows` is an int in 1 .. grid_size - 1."""
        rows = self.grid_size
        if isinstance(keep_rows, bool) or not isinstance(keep_rows, (int, np.integer)) or not 1 <= keep_rows < rows:
            raise ValueError(
                f"keep_rows must be an int in 1..{rows - 1} (rows of the {rows} x {rows} token grid kept from the top), "
                f"got {keep_rows!r}"
            )

    def completion_prefix(self, image, keep_rows, prompt_count, num_images):
        """What image completion keeps: (given tokens int32 [P * num_images, N], keep int32 [P * num_images])
        for `prompt_count` (P) prompts, or None without an image.

        `image`: one picture for every prompt or one per prompt, in any form `pictures_from` takes
        (resized and center-cropped to the model's size). `keep_rows`: rows of the token grid kept
        from the top, 1 .. grid_size - 1.
        """
        if image is None:
            if keep_rows is not None:
                raise ValueError("keep_rows applies to image completion: give an image too")
            return None
        self.check_keep_rows(keep_rows)
        rows = self.grid_size
        pictures = pictures_from(image, self.image_size)  # (1 or P, S, S, 3)
        if len(pictures) not in (1, prompt_count):
            raise ValueError(f"give one image, or one per prompt ({prompt_count}); got {len(pictures)}")
        tokens = self.image_tokens(pictures)  # (1 or P, N)
        given = tf.repeat(tokens, num_images if len(pictures) > 1 else prompt_count * num_images, axis=0)
        return given, tf.fill([prompt_count * num_images], int(keep_rows) * rows)

    def generate_tokens(
        self, prompts, num_images=1, temperature=None, top_k=None, top_p=None, cfg_scale=None, seed=None,
        on_token=None, use_cache=True, image=None, keep_rows=None,
    ):
        """Image tokens for prompts: int32 [len(prompts) * num_images, N], pictures of one prompt together.

        Settings left as None take the model's defaults. `seed` makes the result reproducible
        (picture i uses seed + i, so it can be made again alone); `on_token(step, total)` is
        called after each row of the token grid (step tokens drawn); `use_cache=False`
        recomputes the whole sequence at every step (a slow reference). `image` and `keep_rows`:
        image completion (`completion_prefix`); the first keep_rows rows are the image's tokens.
        """
        settings = self._settings(temperature, top_k, top_p, cfg_scale)
        check_positive_int(num_images, "num_images")
        prompt_ids = self._prompt_ids(prompts, num_images)
        prefix = self.completion_prefix(image, keep_rows, len(prompt_ids) // num_images, num_images)
        return self.sample_tokens(
            self.prompt_condition(prompt_ids), **settings, seed=seed, on_token=on_token, use_cache=use_cache, prefix=prefix
        )

    def prompt_condition(self, prompt_ids):
        """The condition that draws pictures of prompts alone: here their ids [B, L]."""
        return prompt_ids

    def _settings(self, temperature, top_k, top_p, cfg_scale):
        """The sampling settings of a call, None taking the model's default; checked."""
        given = dict(temperature=temperature, top_k=top_k, top_p=top_p, cfg_scale=cfg_scale)
        settings = {**self.sampling_defaults(), **{k: v for k, v in given.items() if v is not None}}
        validate_sampling_arguments(*(settings[k] for k in SETTING_DTYPES), self.codebook_size)
        return settings

    def sample_tokens(
        self, condition, temperature=None, top_k=None, top_p=None, cfg_scale=None, seed=None, on_token=None,
        use_cache=True, prefix=None,
    ):
        """Image tokens int32 [B, N] for a condition of B rows (`self.conditioning`'s: caption ids
        [B, L] here), one picture per row; settings and the rest as in `generate_tokens`, except
        that `seed` may also be B ints, one per row (`row_seeds`); `prefix` as `completion_prefix` returns it."""
        settings = self._settings(temperature, top_k, top_p, cfg_scale)
        temperature, top_k, top_p, cfg_scale = (settings[k] for k in SETTING_DTYPES)
        rows = self.conditioning.ids(condition).shape[0]
        noise = compiled_noise_from_seeds(tf.constant(row_seeds(seed, rows)), self.image_length)
        if use_cache:
            return self.sampler.generate(condition, noise, temperature, top_k, top_p, cfg_scale, on_token, prefix)
        return reference.generate_uncached(self.sampler, condition, noise, temperature, top_k, top_p, cfg_scale, prefix)

    def sampling_defaults(self):
        """The model's default sampling settings {temperature, top_k, top_p, cfg_scale}: the one source
        that `generate`, the exports (SavedModel `sampling_defaults` signature, TFLite sidecar) and the
        serving client read."""
        return {name: getattr(self, name) for name in SETTING_DTYPES}

    picture_seeds = staticmethod(picture_seeds)

    def generate(
        self, prompts, num_images=1, temperature=None, top_k=None, top_p=None, cfg_scale=None, seed=None, on_token=None,
        candidates=1, scorer=None, return_scores=False, image=None, keep_rows=None,
    ):
        """Pictures for prompts: uint8 numpy [len(prompts) * num_images, S, S, 3].

        Args:
            prompts: a string or a list of strings (empty prompts are an error; prompts longer
                than `text_length` bytes are truncated with a warning).
            num_images: pictures per prompt.
            temperature: > 0; lower is more conservative.
            top_k: keep the k most likely tokens (0 keeps all; 1 is greedy).
            top_p: keep the smallest set of tokens whose probability reaches top_p, in (0, 1].
            cfg_scale: classifier-free guidance, >= 0 (1 = off, higher follows the prompt more).
            seed: an int for reproducible pictures (picture i uses seed + i).
            on_token: optional callback(step, total) after each row of image tokens (step of total drawn).
            candidates: draw this many pictures for each one returned and keep the one `scorer`
                rates highest (reranking, as DALL-E did with CLIP). Candidate 0 of picture i is the
                picture plain generation makes (seed + i); candidate c uses seed + i + c * pictures.
                All candidates run as one batch.
            scorer: a `ContrastiveScorer` for the model's picture size (needed for candidates > 1).
            return_scores: also return the kept pictures' scores, float32 [len(prompts) * num_images].
            image: image completion: a picture to continue, for every prompt or one per prompt
                (uint8 [S, S, 3] or [P, S, S, 3], any size or mode, a PIL image or a list of them;
                resized and center-cropped like training data).
            keep_rows: with `image`, how many rows of its token grid (from the top) to keep,
                1 .. grid_size - 1; the model draws the rest under the prompt.
        """
        check_positive_int(candidates, "candidates")
        if scorer is None and (candidates > 1 or return_scores):
            raise ValueError("reranking candidates (or returning scores) needs a scorer: pass scorer=ContrastiveScorer")
        if scorer is not None:
            scorer.check_fits(self)
        prompts = prompt_list(prompts)
        base = int(self.picture_seeds(seed, 1)[0])  # one base for every candidate, also when seed is None
        if image is not None and candidates > 1:
            image = pictures_from(image, self.image_size)
            image = np.tile(image, (candidates if len(image) > 1 else 1, 1, 1, 1))  # one per prompt of prompts * candidates
        tokens = self.generate_tokens(
            prompts * candidates, num_images, temperature, top_k, top_p, cfg_scale, base, on_token, image=image, keep_rows=keep_rows
        )
        pictures = self.decode_tokens(tokens)  # (C * P * num_images, S, S, 3), candidate-major
        if scorer is None:
            return pictures
        count = len(prompts) * num_images
        scores = scorer.score(pictures, [p for p in prompts * candidates for _ in range(num_images)]).reshape(candidates, count)
        kept, kept_scores = keep_best_candidates(pictures, scores)
        return (kept, kept_scores) if return_scores else kept

    def decode_tokens(self, tokens):
        """Flat image tokens int [B, N] -> uint8 numpy pictures [B, S, S, 3] (one compiled call)."""
        return np.asarray(self._compiled_decode(ops.convert_to_tensor(tokens, "int32")))

    def get_config(self):
        return {
            **super().get_config(),
            "image_tokenizer": keras.saving.serialize_keras_object(self.image_tokenizer),
            "text_length": self.text_length,
            "text_width": self.text_width,
            "text_layers": self.text_layers,
            "text_heads": self.text_heads,
            "width": self.width,
            "generator_layers": self.generator_layers,
            "generator_heads": self.generator_heads,
            "dropout": self.dropout,
            "word_attention": self.word_attention,
            "sentence_layers": self.sentence_layers,
            "word_positions": self.word_positions,
            "image_grid_positions": self.image_grid_positions,
            "caption_dropout": self.caption_dropout,
            "adversarial_weight": self.adversarial_weight,
            "adversarial_start": self.adversarial_start,
            "gumbel_temperature": self.gumbel_temperature,
            "discriminator_channels": list(self.discriminator_channels),
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "cfg_scale": self.cfg_scale,
            "seed": self.seed,
        }
