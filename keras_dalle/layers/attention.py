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
    for "off" (its on/off constants are not requantized). Decoding writes each step into a short
    row cache (`CachedMultiHeadAttention`), so this pass is over R slots, not the whole sequence.
    """
    if new.shape[2] != 1:
        raise ValueError(f"write_to_cache writes one step, got {new.shape[2]} (a prefill starts a cache, see `start_cache`)")
    cache_length = ops.shape(cache)[2]
    hit = ops.equal(ops.arange(cache_length), index)  # (S,)
    return ops.where(ops.reshape(hit, (cache_length, 1)), new, cache)  # (B, H, S, K)


def settle_into_cache(cache, row, first, stop, offset):
    """cache float [B, H, S, K] with positions `first` .. `stop - 1` taken from row [B, H, R, K], whose
    slot j holds position `offset + j` (offset <= first <= stop <= offset + R): one gather that
    lines the row up with the cache and one `where`, a pass over the cache per row, not per step.
    The gather and the bool `where` convert to builtin TFLite ops (int8 included) and to ONNX."""
    cache_length, row_length = ops.shape(cache)[2], row.shape[2]
    positions = ops.arange(cache_length)  # (S,)
    placed = ops.take(row, ops.clip(positions - offset, 0, row_length - 1), axis=2)  # (B, H, S, K)
    inside = ops.logical_and(positions >= first, positions < stop)  # (S,)
    return ops.where(ops.reshape(inside, (cache_length, 1)), placed, cache)


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

    A decoding cache has two parts: the settled cache (keys, values [B, H, S, K]), which a step only
    reads, and a row cache (row keys, row values [B, H, R, K]) of the last few steps, into whose slot
    `cache_index` the step writes; the caller moves a finished row into the settled cache
    (`settle_into_cache`). The step attends over both, S + R keys, as one softmax. So each step rewrites R
    slots instead of all S: outside XLA (the exported loops TF Serving, TFLite and ONNX run) the
    whole-cache `where` of every step took about 40% of the loop's time (2026-12-05).

    The cache is laid out heads first, [B, H, S, K], so the attention matmuls read it without
    transposes, and each layer's keys and values are separate tensors (no slicing or stacking
    of a shared cache per step: in the exported while loops those copies dominated the time).

    Args:
        num_heads: attention heads.
        key_dim: width of each head.

    Call arguments:
        x: float [B, T, D].
        attention_mask: bool [B or 1, T, S], True where a query may attend to a key
            (S = T without a cache; with one, [B or 1, 1, S + R]: the settled slots, then the row's).
        cache: (keys, values, row keys, row values): float [B, H, S, K] twice, then [B, H, R, K]
            twice; or None.
        cache_index: int scalar, the row cache slot of x's (one) step.
        new_cache_length: without a cache, start one of this length S (>= T) from x.
        new_cache_offset: where x's first step goes in that new cache (zeros before it).
        last_query_only: attend for x's last step only (the keys and values still come from
            every step): output [B, 1, D], and attention_mask is that query's row [B or 1, 1, S].
            A prefill's top layer needs no more: only its last output feeds the head.

    Returns the output [B, T or 1, D], and with a cache also the updated cache (its four tensors; a
    started one: (keys, values)).
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

    def _step_heads(self, x):
        """One step's [B, 1, H * K] as [B, H, 1, K]: with one step the transpose is a reshape. Fewer ops
        per decoding step, and the TFLite converter fails on the decoding loop when a step transposes
        (an "operand does not dominate this use" error, TF 2.21, 2026-12-05)."""
        return ops.reshape(x, (ops.shape(x)[0], self.num_heads, 1, self.key_dim))

    def call(
        self, x, attention_mask=None, cache=None, cache_index=None, new_cache_length=None, new_cache_offset=0,
        last_query_only=False,
    ):
        scale = ops.sqrt(ops.cast(self.key_dim, x.dtype))
        if cache is not None:
            return self._decode_step(x, attention_mask, cache, cache_index, scale)
        query = self._split_heads(self.query_dense(x[:, -1:] if last_query_only else x))  # (B, H, T or 1, K)
        key = self._split_heads(self.key_dense(x))
        value = self._split_heads(self.value_dense(x))
        if new_cache_length is not None:
            cache = tuple(start_cache(steps, new_cache_length, new_cache_offset) for steps in (key, value))  # (B, H, S, K)
        scores = ops.einsum("bhtk,bhsk->bhts", query, key) / scale
        weights = masked_softmax(ops.cast(scores, "float32"), attention_mask)  # (B, H, T, S)
        attended = ops.einsum("bhts,bhsk->bhtk", ops.cast(weights, value.dtype), value)  # (B, H, T, K)
        batch, steps = ops.shape(query)[0], ops.shape(query)[2]
        attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (batch, steps, self.num_heads * self.key_dim))
        output = self.output_dense(attended)  # (B, T, D)
        return output if cache is None else (output, cache)

    def _decode_step(self, x, attention_mask, cache, slot, scale):
        """One step x [B, 1, D] over the settled cache and the row cache, written at row `slot`."""
        query, key, value = (self._step_heads(dense(x)) for dense in (self.query_dense, self.key_dense, self.value_dense))
        keys, values, row_keys, row_values = cache
        row_keys = write_to_cache(row_keys, key, slot)  # (B, H, R, K)
        row_values = write_to_cache(row_values, value, slot)
        # The row's few slots as products and sums: outside XLA a batched matmul per head costs
        # more in launch than its work.
        row_scores = ops.sum(query * row_keys, axis=-1)  # (B, H, R)
        scores = ops.concatenate(
            [ops.einsum("bhtk,bhsk->bhts", query, keys), row_scores[:, :, None, :]], axis=-1
        ) / scale  # (B, H, 1, S + R)
        weights = ops.cast(masked_softmax(ops.cast(scores, "float32"), attention_mask), values.dtype)
        settled = keys.shape[2]
        attended = ops.einsum("bhts,bhsk->bhtk", weights[..., :settled], values) + ops.sum(
            weights[:, :, 0, settled:, None] * row_values, axis=2, keepdims=True
        )  # (B, H, 1, K)
        output = self.output_dense(ops.reshape(attended, (ops.shape(x)[0], 1, self.num_heads * self.key_dim)))  # (B, 1, D)
        return output, (keys, values, row_keys, row_values)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}
