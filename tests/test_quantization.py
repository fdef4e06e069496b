"""Full-integer TFLite: the attention layer's graph must survive int8 (mask fill, cache write, row settling)."""

import contextlib
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dalle.layers.attention import CachedMultiHeadAttention, masked_softmax, settle_into_cache

HEADS, KEY_DIM, WIDTH, CACHE, ROW = 2, 8, 16, 12, 4


def test_masked_softmax_matches_minus_infinity_masking():
    rng = np.random.default_rng(0)
    scores = rng.normal(scale=4.0, size=(2, HEADS, 3, CACHE)).astype(np.float32)
    mask = rng.random((2, 3, CACHE)) < 0.6
    mask[..., 0] = True  # every query sees a key
    reference = tf.nn.softmax(tf.where(mask[:, None], scores, -np.inf), axis=-1).numpy()
    weights = keras.ops.convert_to_numpy(masked_softmax(scores, mask))
    np.testing.assert_allclose(weights, reference, atol=1e-7)
    assert (weights[~np.broadcast_to(mask[:, None], weights.shape)] < 1e-12).all()


def test_settle_into_cache_copies_exactly_the_row_positions_asked_for():
    rng = np.random.default_rng(2)
    cache = rng.normal(size=(1, HEADS, CACHE, KEY_DIM)).astype(np.float32)
    row = rng.normal(size=(1, HEADS, ROW, KEY_DIM)).astype(np.float32)
    settled = keras.ops.convert_to_numpy(settle_into_cache(cache, row, 6, 8, 5))  # positions 6, 7 = row slots 1, 2
    expected = cache.copy()
    expected[:, :, 6:8] = row[:, :, 1:3]
    np.testing.assert_array_equal(settled, expected)


def _relative_rms(actual, expected):
    return float(np.sqrt(np.mean((actual - expected) ** 2)) / np.sqrt(np.mean(expected**2)))


@pytest.mark.parametrize("steps", [1, 3], ids=["decode-step", "prefill"])
def test_int8_cached_attention_tracks_float(steps):
    """Attention with a key/value cache and a padding mask, converted to full int8.

    One step writes into a given row cache and attends over it and the settled cache, whose row is
    then settled (decoding); several start a cache (a prefill: x's keys and values padded with
    zeros, the top block attending for its last query only). Fails if the cache write becomes
    TFLite's ONE_HOT (whose int8 "off" value dequantizes to 0.5, halving the cache) or if masked
    scores use a huge constant (every real score then lands in one int8 step and attention turns
    uniform).
    """
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(0)
    layer = CachedMultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM)
    layer.build((1, steps, WIDTH))
    rng = np.random.default_rng(1)
    prefill = steps > 1

    def decode_state():
        offset = int(rng.integers(2, CACHE - ROW + 1))  # the row's first position in the cache
        slot = int(rng.integers(0, ROW))
        cache = rng.normal(size=(2, 1, HEADS, CACHE, KEY_DIM)).astype(np.float32)
        cache[:, :, :, offset:] = 0.0  # not settled yet
        row_cache = rng.normal(size=(2, 1, HEADS, ROW, KEY_DIM)).astype(np.float32)
        row_cache[:, :, :, slot:] = 0.0  # not written yet
        settled = np.arange(CACHE) < offset
        settled[1] = False  # a padding key
        visible = np.concatenate([settled, np.arange(ROW) <= slot])[None]  # (1, S + R)
        return {
            "x": rng.normal(size=(1, 1, WIDTH)).astype(np.float32),
            "cache": cache,
            "row_cache": row_cache,
            "slot": np.array(slot, np.int32),
            "offset": np.array(offset, np.int32),
            "mask": visible[None],
        }

    def prefill_state():
        visible = np.ones((1, steps), bool)  # the last query's row
        visible[:, 1] = False  # a padding key
        return {"x": rng.normal(size=(1, steps, WIDTH)).astype(np.float32), "mask": visible[None]}

    if prefill:
        make_state = prefill_state

        def step(x, mask):
            output, (keys, values) = layer(x, attention_mask=mask, new_cache_length=CACHE, last_query_only=True)
            return {"output": output, "cache": tf.stack([keys, values])}

        signature = [
            tf.TensorSpec((1, steps, WIDTH), tf.float32, name="x"),
            tf.TensorSpec((1, 1, steps), tf.bool, name="mask"),
        ]
    else:
        make_state = decode_state

        def step(x, cache, row_cache, slot, offset, mask):
            output, (keys, values, row_keys, row_values) = layer(
                x, attention_mask=mask, cache=(cache[0], cache[1], row_cache[0], row_cache[1]), cache_index=slot
            )
            settled = [settle_into_cache(c, r, offset, offset + slot + 1, offset) for c, r in ((keys, row_keys), (values, row_values))]
            return {"output": output, "cache": tf.stack(settled)}

        signature = [
            tf.TensorSpec((1, 1, WIDTH), tf.float32, name="x"),
            tf.TensorSpec((2, 1, HEADS, CACHE, KEY_DIM), tf.float32, name="cache"),  # settled keys, values
            tf.TensorSpec((2, 1, HEADS, ROW, KEY_DIM), tf.float32, name="row_cache"),  # the row's keys, values
            tf.TensorSpec((), tf.int32, name="slot"),
            tf.TensorSpec((), tf.int32, name="offset"),
            tf.TensorSpec((1, 1, CACHE + ROW), tf.bool, name="mask"),
        ]

    archive = keras.export.ExportArchive()
    archive.track(layer)
    archive.add_endpoint("serving_default", step, input_signature=signature)
    calibration = [make_state() for _ in range(40)]
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(calibration)
        run = Interpreter(model_content=converter.convert()).get_signature_runner()
    for state in (make_state() for _ in range(10)):
        expected = step(**state)
        result = run(**state)
        assert _relative_rms(result["cache"], expected["cache"].numpy()) < 0.05
        assert _relative_rms(result["output"], expected["output"].numpy()) < 0.1


def test_one_hot_lookups_equal_the_gather():
    """Inside `one_hot_lookups()` (the int8 export), `OneHotEmbedding` gives the same outputs and
    gradients as `keras.layers.Embedding` with the same table; it saves as itself."""
    from keras_dalle.layers.embedding import OneHotEmbedding, one_hot_lookups

    lookup, gather = OneHotEmbedding(9, 4), keras.layers.Embedding(9, 4)
    ids = np.array([[0, 8, 3], [3, 3, 1]])
    lookup.build(ids.shape), gather.build(ids.shape)
    gather.embeddings.assign(lookup.embeddings)
    weights = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 4)), tf.float32)
    outputs, gradients = [], []
    for layer, one_hot in ((lookup, True), (lookup, False), (gather, False)):
        with tf.GradientTape() as tape, (one_hot_lookups() if one_hot else contextlib.nullcontext()):
            output = layer(ids)
            loss = tf.reduce_sum(output * weights)
        outputs.append(keras.ops.convert_to_numpy(output))
        gradients.append(tf.convert_to_tensor(tape.gradient(loss, layer.embeddings)).numpy())
    for output, gradient in zip(outputs[:2], gradients[:2]):
        np.testing.assert_array_equal(output, outputs[2])
        np.testing.assert_allclose(gradient, gradients[2], atol=1e-6)
    restored = keras.layers.deserialize(keras.layers.serialize(lookup))
    assert type(restored) is OneHotEmbedding and restored.get_config() == lookup.get_config()
