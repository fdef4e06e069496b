"""`UnCLIPDecoder`: pictures drawn from a contrastive scorer's image embedding (DALL-E 2's decoder,
autoregressive here), and the operations that embedding space gives: variations, text edits and
interpolations; with a `DiffusionPrior` (`prior.py`), text-to-image through the embedding space.

DALL-E 2 (Ramesh et al. 2022, "unCLIP") decodes pictures from CLIP image embeddings; its decoder
projects the embedding into a few extra context tokens. Here the frozen scorer's unit image
embedding becomes `embedding_positions` condition states before the caption's
(`EmbeddingPrefix`, `EmbeddingConditioning`), so the generator, its key/value cache and the
decoding loop are the text-to-image model's. Training drops the caption (`caption_dropout`, 0.5
as in the paper) and the embedding (`embedding_dropout`, 0.1: a zero embedding) independently;
both dropped is the null condition that classifier-free guidance contrasts with. With
`embedding_noise` it also trains on embeddings moved off their points (noise augmentation, as
Stable unCLIP conditions on noised CLIP embeddings), so it sees more of the sphere than its
training pictures' embeddings: edits and interpolations decode points between them. With
`embedding_mixing` some training embeddings are moved part of the way (less than half) toward
another picture's of the batch, the target still the first picture: points between two pictures
are taught to decode as the nearer one (on shapes it left interpolation midpoints' blends as they
were, 44% valid against 41% without it: docs/usage.md).

The noise of an autoregressive picture is its sampling noise, so "the same noise" is the same seed
(there is no DDIM inversion to make): edits and interpolations draw every picture of a call from
one seed.
"""

import keras
import numpy as np
from keras import ops

from keras_dalle.data.images import pictures_from
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.generation import check_positive_int, keep_best_candidates, picture_seeds, prompt_list, row_seeds
from keras_dalle.models.image_codec import to_unit_range
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.models.text_to_image import EmbeddingPrefix
from keras_dalle.sampling import EmbeddingConditioning


def slerp(start, end, amount):
    """Spherical interpolation between unit vectors start and end [E] at `amount` (a float or floats
    [T]) in [0, 1]: unit vectors [E] or [T, E]. Nearly equal or opposite vectors fall back to the
    normalized linear interpolation."""
    amount = np.asarray(amount, np.float64)[..., None]
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    angle = np.arccos(np.clip(np.dot(start, end), -1.0, 1.0))
    if np.sin(angle) < 1e-6:
        mixed = (1 - amount) * start + amount * end
    else:
        mixed = (np.sin((1 - amount) * angle) * start + np.sin(amount * angle) * end) / np.sin(angle)
    return (mixed / np.linalg.norm(mixed, axis=-1, keepdims=True)).astype(np.float32)


def slerp_rows(start, end, amount):
    """Row-wise spherical interpolation of unit vectors start and end [B, E] (tensors) at amounts [B]
    in [0, 1]: unit vectors [B, E]. Nearly equal or opposite rows fall back to the normalized linear
    interpolation. The graph twin of `slerp` (training and the exports' signatures use it)."""
    angle = ops.arccos(ops.clip(ops.sum(start * end, axis=-1, keepdims=True), -1.0, 1.0))  # (B, 1)
    amount = ops.expand_dims(amount, -1)
    sine = ops.sin(angle)
    degenerate = sine < 1e-6
    spherical = (ops.sin((1 - amount) * angle) * start + ops.sin(amount * angle) * end) / ops.where(degenerate, 1.0, sine)
    mixed = ops.where(degenerate, (1 - amount) * start + amount * end, spherical)
    return ops.normalize(mixed, axis=-1)


# `embedding_mixing` moves an embedding at most this far toward its partner's (slerp amount): the
# target picture stays the nearer one.
MAX_MIXING_AMOUNT = 0.5


@keras.saving.register_keras_serializable(package="keras_dalle")
class UnCLIPDecoder(KerasDALLE):
    """A `KerasDALLE` conditioned on an image embedding of a frozen `ContrastiveScorer` as well as
    (optionally) a caption. `fit` takes (caption, uint8 image) batches like `KerasDALLE`; each step
    embeds the pictures with the scorer.

    Args:
        image_tokenizer: a trained `ImageTokenizer` (frozen).
        scorer: a trained `ContrastiveScorer` for the same picture size (frozen).
        embedding_positions: condition positions made from the embedding (DALL-E 2: 4).
        embedding_dropout: probability of training on the zero embedding.
        embedding_noise: the largest norm of the Gaussian vector added to a training embedding
            before it is put back on the unit sphere (0: none); each picture's norm is drawn
            uniformly from [0, embedding_noise], so clean embeddings are trained too.
        embedding_mixing: the probability that a training picture's embedding is moved toward the
            next picture's of the batch by a slerp amount drawn uniformly from [0, 0.5) (0: never),
            its caption and target picture unchanged.
        caption_dropout: probability of training on the null caption (default 0.5).
        Other arguments as in `KerasDALLE`; the adversarial term is not supported (weight 0).

    Example:
        >>> pictures = decoder.vary(picture, num_images=4, seed=0)  # (4, S, S, 3) uint8, like `picture`
        >>> edited = decoder.edit(picture, "a red circle", "a blue circle", amount=0.4, seed=0)
    """

    def __init__(
        self, image_tokenizer, scorer, *, embedding_positions=4, embedding_dropout=0.1, embedding_noise=0.0, embedding_mixing=0.0,
        caption_dropout=0.5, **kwargs,
    ):
        if isinstance(scorer, dict):
            scorer = keras.saving.deserialize_keras_object(scorer)
        if not isinstance(scorer, ContrastiveScorer):
            raise ValueError(f"scorer must be a ContrastiveScorer, got {type(scorer).__name__}")
        if not 0 <= embedding_dropout < 1:
            raise ValueError(f"embedding_dropout must be in [0, 1), got {embedding_dropout}")
        if not embedding_noise >= 0:
            raise ValueError(f"embedding_noise must be >= 0, got {embedding_noise}")
        if not 0 <= embedding_mixing <= 1:
            raise ValueError(f"embedding_mixing must be in [0, 1], got {embedding_mixing}")
        if kwargs.get("adversarial_weight", 0) != 0:
            raise ValueError("the unCLIP decoder trains without the adversarial term: adversarial_weight must be 0")
        # Read by `_conditioning` and the generator's condition length, both made in KerasDALLE.__init__.
        self.embedding_positions = embedding_positions
        self.embedding_dim = scorer.embed_dim
        super().__init__(image_tokenizer, caption_dropout=caption_dropout, **{**kwargs, "adversarial_weight": 0.0})
        scorer.check_fits(self)
        self.scorer = scorer
        self.scorer.trainable = False
        self.embedding_dropout = embedding_dropout
        self.embedding_noise = embedding_noise
        self.embedding_mixing = embedding_mixing

    @property
    def condition_prefix_positions(self):
        return self.embedding_positions

    def _conditioning(self):
        self.embedding_prefix = EmbeddingPrefix(self.embedding_positions, self.text_width, name="embedding_prefix")
        return EmbeddingConditioning(
            self.text_encoder, self.text_tokenizer.null_ids, self.embedding_prefix, self.embedding_dim
        )

    @property
    def main_weights(self):
        """Text encoder, embedding prefix and generator: the weights `optimizer` trains."""
        return super().main_weights + self.embedding_prefix.trainable_weights

    def build(self, input_shape=None):
        if not self.scorer.built:
            self.scorer.build()
        super().build(input_shape)

    def embeddings_of_pixels(self, images):
        """uint8 pictures [B, S, S, 3] (tensors) -> the scorer's unit image embeddings float32 [B, E]."""
        return ops.stop_gradient(self.scorer.embed_image_pixels(to_unit_range(images)))

    def condition(self, captions, images, training=False):
        """(caption ids [B, L], image embedding [B, E]) of a batch; when `training`, embeddings are
        mixed (`embedding_mixing`) and noised (`embedding_noise`), and captions dropped to the null
        caption and embeddings to zero, each on its own draw."""
        caption_ids = super().condition(captions, images, training)
        embeddings = self.embeddings_of_pixels(images)
        if training:
            batch = ops.shape(embeddings)[0]
            if self.embedding_mixing:
                mixed = keras.random.uniform((batch,), seed=self.seed_generator) < self.embedding_mixing
                amounts = keras.random.uniform((batch,), maxval=MAX_MIXING_AMOUNT, seed=self.seed_generator)
                # The partner: the next picture of the batch (the data is shuffled).
                embeddings = slerp_rows(embeddings, ops.roll(embeddings, -1, axis=0), ops.where(mixed, amounts, 0.0))
            if self.embedding_noise:
                norms = keras.random.uniform((batch, 1), maxval=self.embedding_noise, seed=self.seed_generator)
                # A standard normal vector [B, E] over sqrt(E) has norm about 1.
                directions = keras.random.normal(ops.shape(embeddings), seed=self.seed_generator) / self.embedding_dim**0.5
                embeddings = ops.normalize(embeddings + norms * directions, axis=-1)
            dropped = keras.random.uniform((batch,), seed=self.seed_generator) < self.embedding_dropout
            embeddings = ops.where(dropped[:, None], ops.zeros_like(embeddings), embeddings)
        return caption_ids, embeddings

    def prompt_condition(self, prompt_ids):
        """Prompts alone (`generate`): their ids with the zero embedding, which embedding dropout trains."""
        return prompt_ids, ops.zeros((ops.shape(prompt_ids)[0], self.embedding_dim), "float32")

    def image_embeddings(self, image):
        """Pictures in any form `pictures_from` takes -> their unit embeddings float32 numpy [B, E]."""
        return self.scorer.embed_images(pictures_from(image, self.image_size))

    def text_edit_direction(self, from_caption, to_caption):
        """The unit direction from one caption's text embedding to another's, float32 numpy [E]
        (DALL-E 2's text diff: normalize(z_t(to) - z_t(from)))."""
        texts = self.scorer.embed_text([from_caption, to_caption]).astype(np.float64)
        difference = texts[1] - texts[0]
        norm = np.linalg.norm(difference)
        if norm < 1e-6:
            raise ValueError(f"{from_caption!r} and {to_caption!r} embed alike: there is no direction between them")
        return (difference / norm).astype(np.float32)

    def draw_from_embeddings(
        self, embeddings, prompts=None, num_images=1, seed=None, on_token=None, use_cache=True, candidates=1, **settings
    ):
        """Pictures from unit image embeddings [B, E]: uint8 numpy [B * num_images, S, S, 3], the
        pictures of one embedding together. `prompts`: None (the null caption), one prompt for every
        embedding, or one per embedding. `seed` as in `KerasDALLE.sample_tokens` (an int: picture i
        uses seed + i; or one int per picture); settings (temperature, top_k, top_p, cfg_scale) as
        in `KerasDALLE.generate`. `candidates`: draw this many pictures for each one returned and
        keep the one whose scorer embedding lies nearest (cosine) the embedding it was drawn from;
        candidate 0 is the picture drawn without reranking, candidate c of a picture with seed s
        uses s + c * B * num_images; all candidates run as one batch."""
        check_positive_int(num_images, "num_images")
        check_positive_int(candidates, "candidates")
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must be [B, {self.embedding_dim}], got shape {embeddings.shape}")
        count = len(embeddings)
        rows = count * num_images
        if prompts is None:
            ids = self.text_tokenizer.null_ids(rows * candidates)
        else:
            prompts = prompt_list(prompts)
            if len(prompts) not in (1, count):
                raise ValueError(f"give one prompt or one per embedding: {len(prompts)} prompts for {count} embeddings")
            ids = self._prompt_ids(prompts * (count if len(prompts) == 1 else 1) * candidates, num_images)
        targets = np.repeat(embeddings, num_images, axis=0)  # (rows, E): the embedding each picture is drawn from
        seeds = row_seeds(seed, rows)
        seeds = np.concatenate([seeds + c * rows for c in range(candidates)])  # (C * rows,), candidate-major
        condition = (ids, ops.convert_to_tensor(np.tile(targets, (candidates, 1))))
        tokens = self.sample_tokens(condition, **settings, seed=seeds, on_token=on_token, use_cache=use_cache)
        pictures = self.decode_tokens(tokens)  # (C * rows, S, S, 3)
        if candidates == 1:
            return pictures
        similarity = np.sum(self.scorer.embed_images(pictures).reshape(candidates, rows, -1) * targets, axis=-1)  # (C, rows)
        return keep_best_candidates(pictures, similarity)[0]

    def draw_from_prompts(self, prompts, prior, num_images=1, seed=None, on_token=None, **settings):
        """Text-to-image through `prior` (a `DiffusionPrior` on the decoder's scorer): each picture's
        embedding drawn by the prior from its prompt (prior seed = picture seed), then the picture
        from that embedding and the prompt. uint8 [len(prompts) * num_images, S, S, 3]."""
        if prior.embed_dim != self.embedding_dim:
            raise ValueError(f"the prior draws {prior.embed_dim}-dimensional embeddings, the decoder reads {self.embedding_dim}")
        check_positive_int(num_images, "num_images")
        prompts = prompt_list(prompts)
        rows = [prompt for prompt in prompts for _ in range(num_images)]
        base = int(picture_seeds(seed, 1)[0])  # one base for the prior and the decoder, also when seed is None
        embeddings = prior.sample(rows, seed=base)
        return self.draw_from_embeddings(embeddings, rows, 1, base, on_token, **settings)

    def vary(self, image, num_images=4, prompt=None, seed=None, candidates=1, **settings):
        """Variations: pictures drawn from each given picture's embedding, uint8 [B * num_images, S, S, 3]
        (`image`: one or B pictures in any form `pictures_from` takes; `prompt` optionally adds a caption;
        `candidates` > 1 keeps, of that many drawn, the one whose embedding lies nearest the picture's)."""
        return self.draw_from_embeddings(self.image_embeddings(image), prompt, num_images, seed, candidates=candidates, **settings)

    def edit(
        self, image, from_caption, to_caption, amount=0.3, num_images=1, prompt=None, seed=None, candidates=1, **settings
    ):
        """A text edit of one picture: its embedding turned toward `to_caption` and away from
        `from_caption` by `amount` in [0, 1] (DALL-E 2 used 0 to 0.5), slerp(z_image, direction,
        amount). `amount` may be a list (one picture each, drawn with the same noise, so the rows
        show the edit growing). `candidates` > 1 keeps, of that many drawn, the one whose embedding
        lies nearest the edited embedding. Returns uint8 [len(amounts) * num_images, S, S, 3]."""
        amounts = np.atleast_1d(np.asarray(amount, np.float64))
        if amounts.ndim != 1 or not np.all((amounts >= 0) & (amounts <= 1)):
            raise ValueError(f"amount must be in [0, 1] (or a list of such), got {amount!r}")
        embedding = self._one_embedding(image, "edit")
        embeddings = slerp(embedding, self.text_edit_direction(from_caption, to_caption), amounts)
        seeds = self._shared_seeds(seed, len(amounts), num_images)
        return self.draw_from_embeddings(embeddings, prompt, num_images, seeds, candidates=candidates, **settings)

    def interpolate(self, image_a, image_b, steps=5, prompt=None, seed=None, **settings):
        """`steps` pictures from slerp(z_a, z_b, theta), theta from 0 to 1, all drawn with the same
        noise: uint8 [steps, S, S, 3]."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an int >= 2, got {steps!r}")
        start, end = self._one_embedding(image_a, "interpolate"), self._one_embedding(image_b, "interpolate")
        embeddings = slerp(start, end, np.linspace(0.0, 1.0, steps))
        return self.draw_from_embeddings(embeddings, prompt, 1, self._shared_seeds(seed, steps, 1), **settings)

    def _one_embedding(self, image, operation):
        embeddings = self.image_embeddings(image)
        if len(embeddings) != 1:
            raise ValueError(f"{operation} takes one picture, got {len(embeddings)}")
        return embeddings[0]

    @staticmethod
    def _shared_seeds(seed, count, num_images):
        """Per-picture seeds where picture j of every one of `count` embeddings shares seed + j."""
        return np.tile(picture_seeds(seed, num_images), count)

    def get_config(self):
        return {
            **super().get_config(),
            "scorer": keras.saving.serialize_keras_object(self.scorer),
            "embedding_positions": self.embedding_positions,
            "embedding_dropout": self.embedding_dropout,
            "embedding_noise": self.embedding_noise,
            "embedding_mixing": self.embedding_mixing,
        }
