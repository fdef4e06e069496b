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


def write_to_cache(cache, new, index):
    """cache float [B, H, S, K] with one step new [B, H, 1, K] written at position `index`.

    No slice update: `keras.ops.slice_update` lowers to XlaDynamicUpdateSlice, which TF Serving's
    GPU builds cannot run and tf2onnx has no handler for. A broadcast `where` (one pass over the
    cache) converts to builtin TFLite ops and to ONNX alike; its condition is a bool compare, not
    `cast(equal(...))`, which the TFLite converter turns into ONE_HOT, whose int8 version emits 0.5
    for "off" (its on/off constants are not requantized).
    """
    if new.shape[2] != 1:
        raise ValueError(f"write_to_cache writes one step, got {new.shape[2]} (a prefill starts a cache, see `start_cache`)")
    cache_length = ops.shape(cache)[2]
    hit = ops.equal(ops.arange(cache_length), index)  # (S,)
    return ops.where(ops.reshape(hit, (cache_length, 1)), new, cache)  # (B, H, S, K)


def start_cache(new, cache_length, offset=0):
    """A cache float [B, H, cache_length, K] holding new [B, H, T, K] at positions offset .. offset + T - 1,
    zeros elsewhere (one pad)."""
    return ops.pad(new, ((0, 0), (0, 0), (offset, cache_length - offset - new.shape[2]), (0, 0)))


@keras.saving.register_keras_serializable(package="keras_dalle")
class CachedMultiHeadAttention(keras.layers.Layer):
    """Multi-head self-attention; with a cache, new keys and values are written at `cache_index`.

    Three ways to call it: without a cache (training, the text encoder); with `new_cache_length`,
    which starts a cache from x's keys and values (a prefill: attention runs over x's own T keys,
    not the whole cache, and the cache is those keys padded with zeros, `start_cache`); with a cache and
    `cache_index`, which writes one step into it (decoding).

    The cache is laid out heads first, [B, H, S, K], so the attention matmuls read it without
    transposes, and each layer's keys and values are separate tensors (no slicing or stacking
    of a shared cache per step: in the exported while loops those copies dominated the time).

    Args:
        num_heads: attention heads.
        key_dim: width of each head.

    Call arguments:
        x: float [B, T, D].
        attention_mask: bool [B or 1, T, S], True where a query may attend to a key
            (S = T without a cache, S = the cache length with one).
        cache: (keys, values), each float [B, H, S, K], or None.
        cache_index: int scalar, the position of x's (one) step in the cache.
        new_cache_length: without a cache, start one of this length S (>= T) from x.
        new_cache_offset: where x's first step goes in that new cache (zeros before it).
        last_query_only: attend for x's last step only (the keys and values still come from
            every step): output [B, 1, D], and attention_mask is that query's row [B or 1, 1, S].
            A prefill's top layer needs no more: only its last output feeds the head.

    Returns the output [B, T or 1, D], and with a cache (given or started) also its updated (keys, values).
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
        x = ops.reshape(x, (batch, steps, self.num_heads, self.key_dim))  # (B, T, H, K)
        return ops.transpose(x, (0, 2, 1, 3))  # (B, H, T, K)

    def call(
        self, x, attention_mask=None, cache=None, cache_index=None, new_cache_length=None, new_cache_offset=0,
        last_query_only=False,
    ):
        query = self._split_heads(self.query_dense(x[:, -1:] if last_query_only else x))  # (B, H, T or 1, K)
        key = self._split_heads(self.key_dense(x))
        value = self._split_heads(self.value_dense(x))
        if cache is not None:
            key = write_to_cache(cache[0], key, cache_index)  # (B, H, S, K)
            value = write_to_cache(cache[1], value, cache_index)
            cache = (key, value)
        elif new_cache_length is not None:
            cache = tuple(start_cache(steps, new_cache_length, new_cache_offset) for steps in (key, value))  # (B, H, S, K)
        scores = ops.einsum("bhtk,bhsk->bhts", query, key) / ops.sqrt(ops.cast(self.key_dim, query.dtype))
        weights = masked_softmax(ops.cast(scores, "float32"), attention_mask)  # (B, H, T, S)
        attended = ops.einsum("bhts,bhsk->bhtk", ops.cast(weights, value.dtype), value)  # (B, H, T, K)
        batch, steps = ops.shape(query)[0], ops.shape(query)[2]
        attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (batch, steps, self.num_heads * self.key_dim))
        output = self.output_dense(attended)  # (B, T, D)
        return output if cache is None else (output, cache)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}
