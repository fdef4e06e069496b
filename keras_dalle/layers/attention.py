"""Multi-head attention with an optional key/value cache for step-by-step decoding."""

import keras
from keras import ops


MASKED_SCORE_MARGIN = 30.0  # masked keys score this far below the row's lowest score: weight < e^-30 each


def masked_softmax(scores, attention_mask=None):
    """Softmax over the last axis of scores [B, H, T, S], ignoring keys where attention_mask [B or 1, T, S] is False.

    Masked keys get the row's lowest score minus `MASKED_SCORE_MARGIN`, not a large constant:
    full-integer TFLite quantizes each tensor with one calibrated range, and a -1e9 fill puts
    every real score into the same int8 step (uniform attention). This keeps the softmax input
    within the scores' own range plus the margin.
    """
    if attention_mask is not None:
        floor = ops.min(scores, axis=-1, keepdims=True) - MASKED_SCORE_MARGIN  # (B, H, T, 1)
        scores = ops.where(attention_mask[:, None, :, :], scores, floor)
    return ops.softmax(scores, axis=-1)


@keras.saving.register_keras_serializable(package="keras_dalle")
class CachedMultiHeadAttention(keras.layers.Layer):
    """Multi-head self-attention; with a cache, new keys and values are written at `cache_index`.

    The cache write is a one-hot blend (built with `equal`), not a slice update, so the same graph converts to
    builtin TFLite ops and to ONNX (see shared/notes/deploy-facts.md).

    Args:
        num_heads: attention heads.
        key_dim: width of each head.

    Call arguments:
        x: float [B, T, D].
        attention_mask: bool [B or 1, T, S], True where a query may attend to a key
            (S = T without a cache, S = the cache length with one).
        cache: float [B, 2, S, H, K] keys and values, or None.
        cache_index: int scalar, the position of x's first step in the cache.

    Returns the output [B, T, D], and with a cache also the updated cache.
    """

    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim

    def build(self, input_shape):
        width = input_shape[-1]
        inner = self.num_heads * self.key_dim
        self.query_dense = keras.layers.Dense(inner, name="query")
        self.key_dense = keras.layers.Dense(inner, name="key")
        self.value_dense = keras.layers.Dense(inner, name="value")
        self.output_dense = keras.layers.Dense(width, name="output")
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (inner,))

    def _split_heads(self, x):
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, steps, self.num_heads, self.key_dim))  # (B, T, H, K)

    def call(self, x, attention_mask=None, cache=None, cache_index=None):
        query = self._split_heads(self.query_dense(x))
        key = self._split_heads(self.key_dense(x))
        value = self._split_heads(self.value_dense(x))
        if cache is not None:
            cache_length = ops.shape(cache)[2]
            positions = cache_index + ops.arange(ops.shape(x)[1])  # (T,)
            # where, not cast(equal): the converter turns cast(equal(range, i)) into ONE_HOT, whose int8
            # version emits 0.5 for "off" (its on/off constants are not requantized).
            write = ops.where(ops.equal(positions[:, None], ops.arange(cache_length)[None, :]), 1.0, 0.0)  # (T, S)
            write = ops.cast(write, key.dtype)
            keep = (1.0 - ops.sum(write, axis=0))[None, :, None, None]  # (1, S, 1, 1)
            key = cache[:, 0] * keep + ops.einsum("ts,bthk->bshk", write, key)  # (B, S, H, K)
            value = cache[:, 1] * keep + ops.einsum("ts,bthk->bshk", write, value)
            cache = ops.stack([key, value], axis=1)
        scores = ops.einsum("bthk,bshk->bhts", query, key) / ops.sqrt(ops.cast(self.key_dim, query.dtype))
        weights = masked_softmax(ops.cast(scores, "float32"), attention_mask)  # (B, H, T, S)
        attended = ops.einsum("bhts,bshk->bthk", ops.cast(weights, value.dtype), value)  # (B, T, H, K)
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        output = self.output_dense(ops.reshape(attended, (batch, steps, self.num_heads * self.key_dim)))
        return output if cache is None else (output, cache)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}
