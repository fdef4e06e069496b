"""`ContrastiveScorer`: pictures and prompts in one latent space (the CLIP idea).

An image tower (the visual encoder's design: CNN, then a Transformer over the grid, mean-pooled)
and a text tower (a byte Transformer, mean-pooled over non-pad positions, projected) each end in
an l2-normalised embedding of `embed_dim`. Their dot product is a cosine similarity: the score of
a (picture, prompt) pair. Training is symmetric InfoNCE over the batch with a learnable
temperature, as in CLIP, with two changes for captioned data:
- Pairs with the same caption are all positives (shapes captions repeat within a batch; CLIP's
  one-hot targets would push apart pictures that match the same caption).
- Optional hard negatives: a second caption per picture that is wrong in one attribute
  (`keras_dalle.data.grammar.one_attribute_changed` for shapes captions), added as extra
  candidate captions in the picture-to-caption direction.
"""

import math

import keras
import tensorflow as tf
from keras import ops

from keras_dalle.layers.masks import padding_mask
from keras_dalle.models.generation import prompt_list
from keras_dalle.models.image_codec import VisualEncoder, to_unit_range
from keras_dalle.models.image_tokenizer import validate_images
from keras_dalle.models.text_to_image import TextEncoder
from keras_dalle.models.trainable import TrainableModel
from keras_dalle.text.byte_tokenizer import VOCAB_SIZE, ByteTokenizer

MAX_LOGIT_SCALE = 100.0  # CLIP clips its learned inverse temperature here


def l2_normalize(x):
    """Rows of x [..., E] scaled to unit length."""
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


def soft_cross_entropy(logits, targets):
    """Mean cross-entropy of logits [B, C] against target distributions [B, C]."""
    return -ops.mean(ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1))


def same_rows(a, b):
    """float [A, B]: 1 where row i of ids a [A, L] equals row j of ids b [B, L]."""
    return ops.cast(ops.all(ops.equal(a[:, None, :], b[None, :, :]), axis=-1), "float32")


@keras.saving.register_keras_serializable(package="keras_dalle")
class ContrastiveScorer(TrainableModel):
    """Scores how well pictures match prompts: cosine similarity in a shared latent space.

    `fit(dataset)` takes (caption strings [B], uint8 pictures [B, S, S, 3]) batches, or
    ((captions, hard-negative captions), pictures). Sizes have no defaults: they come from a
    preset (`keras_dalle.presets`, stage "scorer").

    Args:
        image_size: picture side S.
        downsample_factor, channels: the image tower's CNN (one width per halving).
        image_layers, image_heads, image_width: the image tower's Transformer.
        text_length: prompt ids per caption (longer prompts are truncated).
        text_width, text_layers, text_heads: the text tower's Transformer.
        embed_dim: width of the shared latent space.
        initial_temperature: the softmax temperature at the start (learned from there).

    Example:
        >>> scorer = keras.saving.load_model("shapes_scorer.keras")
        >>> scorer.score(pictures, ["a red circle"] * len(pictures))  # float32 [B], cosines in [-1, 1]
    """

    def __init__(
        self,
        *,
        image_size,
        downsample_factor,
        channels,
        image_layers,
        image_heads,
        image_width,
        text_length,
        text_width,
        text_layers,
        text_heads,
        embed_dim,
        initial_temperature=0.07,
        **kwargs,
    ):
        super().__init__(("loss", "accuracy", "hard_negative_accuracy"), **kwargs)
        if not 0 < initial_temperature <= 1:
            raise ValueError(f"initial_temperature must be in (0, 1], got {initial_temperature}")
        self.image_size = image_size
        self.downsample_factor = downsample_factor
        self.channels = tuple(channels)
        self.image_layers = image_layers
        self.image_heads = image_heads
        self.image_width = image_width
        self.text_length = text_length
        self.text_width = text_width
        self.text_layers = text_layers
        self.text_heads = text_heads
        self.embed_dim = embed_dim
        self.initial_temperature = initial_temperature
        self.text_tokenizer = ByteTokenizer(text_length, name="text_tokenizer")
        self.image_encoder = VisualEncoder(
            image_size, downsample_factor, channels, image_layers, image_heads, image_width, embed_dim, name="image_encoder"
        )
        self.text_encoder = TextEncoder(VOCAB_SIZE, text_length, text_width, text_layers, text_heads, name="text_encoder")
        self.text_projection = keras.layers.Dense(embed_dim, name="text_projection")

    def build(self, input_shape=None):
        self.log_logit_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(1 / self.initial_temperature)), name="log_logit_scale"
        )
        self.embed_image_pixels(ops.zeros((1, self.image_size, self.image_size, 3)))
        self.embed_ids(ops.zeros((1, self.text_length), "int32"))
        self.built = True

    @property
    def build_input_shape(self):
        return (None, self.image_size, self.image_size, 3)

    def call(self, pixels):
        """Unit image embeddings of float pixels in [-1, 1]: [B, S, S, 3] -> [B, E]."""
        return self.embed_image_pixels(pixels)

    @property
    def main_weights(self):
        return self.trainable_weights

    def check_fits(self, model):
        """Raises ValueError unless this scorer takes the pictures `model` (a `KerasDALLE`) makes."""
        if self.image_size != model.image_size:
            raise ValueError(f"the scorer takes {self.image_size}-pixel pictures, the model makes {model.image_size}")

    @property
    def logit_scale(self):
        """The learned inverse temperature, at most `MAX_LOGIT_SCALE`."""
        return ops.exp(ops.minimum(self.log_logit_scale, math.log(MAX_LOGIT_SCALE)))

    def embed_image_pixels(self, pixels):
        """float pictures [B, S, S, 3] in [-1, 1] -> unit embeddings [B, E]."""
        latents = self.image_encoder(pixels)  # (B, g, g, E)
        # float32 under mixed precision too: the similarities meet the float32 logit scale.
        return l2_normalize(ops.cast(ops.mean(latents, axis=(1, 2)), "float32"))

    def embed_ids(self, ids, training=False):
        """Prompt ids int [B, L] -> unit embeddings [B, E] (mean over the non-pad positions)."""
        states = self.text_encoder(ids, training=training)  # (B, L, D)
        mask = ops.cast(padding_mask(ids), states.dtype)[:, :, None]  # (B, L, 1)
        pooled = ops.sum(states * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)  # (B, D)
        return l2_normalize(ops.cast(self.text_projection(pooled), "float32"))

    def _ids(self, captions):
        if captions.dtype == tf.string:
            return self.text_tokenizer(captions)
        return ops.cast(captions, "int32")

    def embed_images(self, images):
        """uint8 pictures [B, S, S, 3] -> unit embeddings float32 numpy [B, E]."""
        validate_images(images, self.image_size)
        return ops.convert_to_numpy(self.embed_image_pixels(to_unit_range(ops.convert_to_tensor(images))))

    def embed_text(self, prompts):
        """Prompt strings -> unit embeddings float32 numpy [len(prompts), E]."""
        return ops.convert_to_numpy(self.embed_ids(self.text_tokenizer(tf.constant(prompt_list(prompts)))))

    def score(self, images, prompts):
        """Cosine similarity of picture i with prompt i: float32 numpy [B] (one prompt scores every picture)."""
        image_embeddings = self.embed_images(images)
        prompts = prompt_list(prompts)
        if len(prompts) not in (1, len(image_embeddings)):
            raise ValueError(f"give one prompt or one per picture: {len(prompts)} prompts for {len(image_embeddings)} pictures")
        text_embeddings = self.embed_text(prompts)
        return (image_embeddings * text_embeddings).sum(axis=-1)

    def contrastive_loss(self, data, training=False):
        """Symmetric InfoNCE of a batch and its metrics {loss, accuracy[, hard_negative_accuracy]}."""
        captions, images = data
        negatives = None
        if isinstance(captions, (tuple, list)):
            captions, negatives = captions
        ids = self._ids(captions)  # (B, L)
        image_embeddings = self.embed_image_pixels(to_unit_range(images))  # (B, E)
        text_embeddings = self.embed_ids(ids, training=training)  # (B, E)
        scale = self.logit_scale
        logits = scale * ops.matmul(image_embeddings, ops.transpose(text_embeddings))  # (B, B) picture x caption
        matches = same_rows(ids, ids)  # (B, B): pictures whose captions are equal are all positives
        image_to_text, image_targets = logits, matches
        values = {}
        if negatives is not None:
            negative_ids = self._ids(negatives)
            negative_logits = scale * ops.matmul(image_embeddings, ops.transpose(self.embed_ids(negative_ids, training)))
            image_to_text = ops.concatenate([logits, negative_logits], axis=1)  # (B, 2B)
            # A negative caption can equal another picture's true caption: then it is a positive.
            image_targets = ops.concatenate([matches, same_rows(ids, negative_ids)], axis=1)
            own = ops.diagonal(logits) > ops.diagonal(negative_logits)
            values["hard_negative_accuracy"] = ops.mean(ops.cast(own, "float32"))
        loss = 0.5 * (
            soft_cross_entropy(image_to_text, image_targets / ops.sum(image_targets, axis=1, keepdims=True))
            + soft_cross_entropy(ops.transpose(logits), matches / ops.sum(matches, axis=1, keepdims=True))
        )
        best = ops.argmax(image_to_text, axis=1)
        right = ops.take_along_axis(image_targets, best[:, None], axis=1)[:, 0]
        return loss, {"loss": loss, "accuracy": ops.mean(right), **values}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, values = self.contrastive_loss(data, training=True)
        self.main_update(tape, loss)
        return self.update_trackers(values)

    def test_step(self, data):
        return self.update_trackers(self.contrastive_loss(data)[1])

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "downsample_factor": self.downsample_factor,
            "channels": list(self.channels),
            "image_layers": self.image_layers,
            "image_heads": self.image_heads,
            "image_width": self.image_width,
            "text_length": self.text_length,
            "text_width": self.text_width,
            "text_layers": self.text_layers,
            "text_heads": self.text_heads,
            "embed_dim": self.embed_dim,
            "initial_temperature": self.initial_temperature,
        }
