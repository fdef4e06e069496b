"""`DiffusionPrior`: a caption -> an image embedding of a frozen contrastive scorer (DALL-E 2's
diffusion prior), so that text-to-image can go through the unCLIP decoder.

As in the paper, a Transformer reads [the caption's token states, its text embedding z_t, the
diffusion timestep, the noised image embedding, a query] and predicts the clean image embedding
from the query's output, trained on mean squared error; sampling draws two candidates and keeps
the one closer to z_t. Embeddings are unit vectors scaled by sqrt(E) while diffusing (per-dimension
variance about 1, as DALLE2-pytorch scales them), cosine noise schedule (Nichol and Dhariwal 2021),
deterministic DDIM steps when sampling. The caption is dropped (`text_dropout`) for classifier-free
guidance. The caption's states come from the scorer's own text encoder (frozen): the prior trains
the rest.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_dalle.layers.composite import CompositeLayer
from keras_dalle.layers.masks import padding_mask
from keras_dalle.layers.position_embedding import PositionEmbedding
from keras_dalle.layers.transformer import TransformerBlock
from keras_dalle.models.generation import Compiled, check_positive_int, picture_seeds, prompt_list
from keras_dalle.models.image_codec import to_unit_range
from keras_dalle.models.scorer import ContrastiveScorer, l2_normalize
from keras_dalle.models.trainable import TrainableModel

EXTRA_POSITIONS = 4  # text embedding, timestep, noised image embedding, query


def cosine_alpha_bars(timesteps, offset=0.008):
    """The cosine schedule's cumulative signal fractions alpha_bar(t), t = 1 .. T: float64 [T] in
    (0, 1), each step's beta at most 0.999."""
    f = lambda t: math.cos((t / timesteps + offset) / (1 + offset) * math.pi / 2) ** 2  # noqa: E731
    betas = np.minimum([1 - f(t + 1) / f(t) for t in range(timesteps)], 0.999)
    return np.cumprod(1 - betas)


@keras.saving.register_keras_serializable(package="keras_dalle")
class PriorNetwork(CompositeLayer):
    """The denoiser: (caption states [B, L, Dt], caption mask [B, L], text embedding [B, E], noised
    image embedding [B, E], timestep int [B]) -> predicted clean image embedding [B, E] (scaled).

    Args:
        embed_dim: E.
        text_length: L.
        timesteps: T, the diffusion steps of training.
        width, num_layers, num_heads: the Transformer.
        dropout: dropout rate.
    """

    def __init__(self, embed_dim, text_length, timesteps, width, num_layers, num_heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.text_length = text_length
        self.timesteps = timesteps
        self.width = width
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.text_projection = keras.layers.Dense(width, name="text_projection")
        self.text_embedding_in = keras.layers.Dense(width, name="text_embedding_in")
        self.noised_in = keras.layers.Dense(width, name="noised_in")
        self.time_embedding = keras.layers.Embedding(timesteps, width, name="time_embedding")
        self.query_embedding = keras.layers.Embedding(1, width, name="query_embedding")
        self.positions = PositionEmbedding(text_length + EXTRA_POSITIONS, name="positions")
        self.blocks = [TransformerBlock(num_heads, dropout=dropout, name=f"block_{i}") for i in range(num_layers)]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.out = keras.layers.Dense(embed_dim, dtype="float32", name="out")

    def call(self, text_states, text_mask, text_embedding, noised, timestep, training=None):
        batch = ops.shape(noised)[0]
        tokens = ops.stack(
            [
                self.text_embedding_in(text_embedding),
                self.time_embedding(timestep),
                self.noised_in(noised),
                ops.broadcast_to(self.query_embedding(ops.zeros((1,), "int32")), (batch, self.width)),
            ],
            axis=1,
        )  # (B, 4, D)
        x = self.positions(ops.concatenate([self.text_projection(text_states), ops.cast(tokens, text_states.dtype)], axis=1))
        visible = ops.concatenate([text_mask, ops.ones((batch, EXTRA_POSITIONS), "bool")], axis=1)  # (B, L + 4)
        mask = visible[:, None, :] | ops.zeros((1, ops.shape(x)[1], 1), "bool")  # (B, L + 4, L + 4)
        for block in self.blocks:
            x = block(x, attention_mask=mask, training=training)
        return self.out(self.norm(x[:, -1]))  # (B, E): the query's output

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "text_length": self.text_length,
            "timesteps": self.timesteps,
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="keras_dalle")
class DiffusionPrior(TrainableModel):
    """Caption -> unit image embedding of `scorer` (frozen). `fit` takes (caption, uint8 image)
    batches; `sample(prompts)` draws embeddings for the unCLIP decoder.

    Args:
        scorer: a trained `ContrastiveScorer`.
        width, num_layers, num_heads: the denoiser's Transformer (sizes come from a preset).
        timesteps: diffusion steps of training (T).
        sample_steps: DDIM steps when sampling.
        text_dropout: probability of training without the caption (for guidance).
        candidates: embeddings drawn per prompt when sampling; the one nearest z_t is kept.
        cfg_scale: classifier-free guidance of sampling (1 = off).
        dropout: dropout in the Transformer.
        seed: seed of the training noise and dropout.
    """

    def __init__(
        self, scorer, *, width, num_layers, num_heads, timesteps=1000, sample_steps=64, text_dropout=0.1, candidates=2,
        cfg_scale=1.0, dropout=0.0, seed=None, **kwargs,
    ):
        super().__init__(("loss",), **kwargs)
        if isinstance(scorer, dict):
            scorer = keras.saving.deserialize_keras_object(scorer)
        if not isinstance(scorer, ContrastiveScorer):
            raise ValueError(f"scorer must be a ContrastiveScorer, got {type(scorer).__name__}")
        if not 1 <= sample_steps <= timesteps:
            raise ValueError(f"sample_steps must be in 1..timesteps ({timesteps}), got {sample_steps}")
        if not 0 <= text_dropout < 1:
            raise ValueError(f"text_dropout must be in [0, 1), got {text_dropout}")
        self.scorer = scorer
        self.scorer.trainable = False
        self.width = width
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.timesteps = timesteps
        self.sample_steps = sample_steps
        self.text_dropout = text_dropout
        self.candidates = check_positive_int(candidates, "candidates")
        self.cfg_scale = cfg_scale
        self.dropout = dropout
        self.seed = seed
        self.embed_dim = scorer.embed_dim
        self.scale = math.sqrt(scorer.embed_dim)
        self.alpha_bars = cosine_alpha_bars(timesteps)
        self.network = PriorNetwork(
            scorer.embed_dim, scorer.text_length, timesteps, width, num_layers, num_heads, dropout, name="network"
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._denoise = Compiled(ddim_step(self.network))

    @property
    def main_weights(self):
        return self.network.trainable_weights

    def build(self, input_shape=None):
        if not self.scorer.built:
            self.scorer.build()
        ids = ops.zeros((1, self.scorer.text_length), "int32")
        embedding = ops.zeros((1, self.embed_dim))
        self.network(self.scorer.text_encoder(ids), padding_mask(ids), embedding, embedding, ops.zeros((1,), "int32"))
        self.built = True

    def _text(self, ids):
        """(caption states [B, L, Dt], mask [B, L], unit text embedding [B, E]) from the frozen scorer."""
        states = ops.stop_gradient(self.scorer.text_encoder(ids))
        return states, padding_mask(ids), ops.stop_gradient(self.scorer.embed_ids(ids))

    def _ids(self, captions):
        return self.scorer.text_tokenizer(captions) if captions.dtype == tf.string else ops.cast(captions, "int32")

    def _loss(self, captions, images, training):
        ids = self._ids(captions)
        target = ops.stop_gradient(self.scorer.embed_image_pixels(to_unit_range(images))) * self.scale  # (B, E)
        states, mask, text_embedding = self._text(ids)
        batch = ops.shape(target)[0]
        if training:
            dropped = keras.random.uniform((batch,), seed=self.seed_generator) < self.text_dropout
            mask = mask & ~dropped[:, None]
            text_embedding = ops.where(dropped[:, None], ops.zeros_like(text_embedding), text_embedding)
        timestep = keras.random.randint((batch,), 0, self.timesteps, seed=self.seed_generator)
        alpha_bar = ops.take(ops.convert_to_tensor(self.alpha_bars, "float32"), timestep)[:, None]  # (B, 1)
        noise = keras.random.normal(ops.shape(target), seed=self.seed_generator)
        noised = ops.sqrt(alpha_bar) * target + ops.sqrt(1 - alpha_bar) * noise
        predicted = self.network(states, mask, text_embedding, noised, timestep, training=training)
        return ops.mean(ops.square(predicted - target))

    def train_step(self, data):
        captions, images = data
        with tf.GradientTape() as tape:
            loss = self._loss(captions, images, training=True)
        self.main_update(tape, loss)
        return self.update_trackers({"loss": loss})

    def test_step(self, data):
        return self.update_trackers({"loss": self._loss(*data, training=False)})

    def sample(self, prompts, seed=None, candidates=None, cfg_scale=None):
        """Unit image embeddings for prompts: float32 numpy [len(prompts), E]. Each prompt draws
        `candidates` (default: the model's) from seeded Gaussian noise (prompt i, candidate c: seed
        + i + c * len(prompts)) through `sample_steps` DDIM steps and keeps the one with the
        highest cosine to its text embedding."""
        prompts = prompt_list(prompts)
        candidates = check_positive_int(self.candidates if candidates is None else candidates, "candidates")
        cfg_scale = float(self.cfg_scale if cfg_scale is None else cfg_scale)
        if cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {cfg_scale}")
        count = len(prompts)
        ids = tf.tile(self.scorer.text_tokenizer(tf.constant(prompts)), [candidates, 1])  # (C * P, L), candidate-major
        states, mask, text_embedding = self._text(ids)
        seeds = picture_seeds(seed, count * candidates)
        x = np.stack([np.random.default_rng(int(s)).standard_normal(self.embed_dim) for s in seeds]).astype(np.float32)
        x = tf.constant(x)
        schedule = np.linspace(self.timesteps - 1, 0, self.sample_steps).round().astype(int)
        guided = cfg_scale != 1.0  # at 1 the guided mix is the conditional prediction: half the rows to run
        for index, timestep in enumerate(schedule):
            previous = self.alpha_bars[schedule[index + 1]] if index + 1 < len(schedule) else 1.0
            x, clean = self._denoise(
                states, mask, text_embedding, x, tf.fill([count * candidates], int(timestep)),
                tf.constant(self.alpha_bars[timestep], tf.float32), tf.constant(previous, tf.float32),
                tf.constant(cfg_scale, tf.float32), guided,
            )
        embeddings = np.asarray(l2_normalize(clean)).reshape(candidates, count, self.embed_dim)
        closeness = np.sum(embeddings * np.asarray(text_embedding).reshape(candidates, count, -1), axis=-1)  # (C, P)
        return embeddings[closeness.argmax(axis=0), np.arange(count)]

    def get_config(self):
        return {
            **super().get_config(),
            "scorer": keras.saving.serialize_keras_object(self.scorer),
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "timesteps": self.timesteps,
            "sample_steps": self.sample_steps,
            "text_dropout": self.text_dropout,
            "candidates": self.candidates,
            "cfg_scale": self.cfg_scale,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def ddim_step(network):
    """One DDIM step of a prior's network, for `Compiled`: (caption states, mask, text embedding, x at one
    timestep, timestep, alpha_bar, previous alpha_bar, cfg_scale, guided) -> (x at the next timestep,
    the predicted clean embedding). `guided` (a Python bool, one trace each): the conditional and
    unconditional predictions mixed by cfg_scale; otherwise the conditional alone (what cfg_scale 1
    mixes to), at half the rows: 32 prompts of the shapes prior (64 steps, 2 candidates) took 24-47 s
    against 73-95 s through the guided rows (2026-12-05, a machine shared with two trainings)."""

    def step(states, mask, text_embedding, x, timestep, alpha_bar, previous_alpha_bar, cfg_scale, guided):
        if guided:
            batch = tf.shape(x)[0]
            both = lambda a, b: tf.concat([a, b], axis=0)  # noqa: E731  conditional rows, then unconditional
            predicted = network(
                both(states, states), both(mask, tf.zeros_like(mask)), both(text_embedding, tf.zeros_like(text_embedding)),
                both(x, x), both(timestep, timestep),
            )
            conditional, unconditional = predicted[:batch], predicted[batch:]
            clean = unconditional + cfg_scale * (conditional - unconditional)
        else:
            clean = network(states, mask, text_embedding, x, timestep)
        noise = (x - tf.sqrt(alpha_bar) * clean) / tf.sqrt(1 - alpha_bar)
        return tf.sqrt(previous_alpha_bar) * clean + tf.sqrt(1 - previous_alpha_bar) * noise, clean

    return step
