import numpy as np
import tensorflow as tf

import pytest

from keras_dalle.sampling import noise_from_seeds, sample_token, sorted_candidates


def _draw(logits, noise, temperature=1.0, top_k=0, top_p=1.0, candidates=None):
    logits, noise = tf.constant(logits, tf.float32), tf.constant(noise, tf.float32)
    return sample_token(logits, noise, temperature, top_k, top_p, candidates).numpy()


def test_inverse_cdf_follows_the_distribution():
    probs = np.array([0.1, 0.6, 0.3])
    noise = (np.arange(10000) + 0.5) / 10000
    tokens = _draw(np.tile(np.log(probs), (len(noise), 1)), noise)
    np.testing.assert_allclose(np.bincount(tokens, minlength=3) / len(noise), probs, atol=1e-3)


def test_top_k_top_p_and_greedy():
    logits = np.tile(np.log([0.05, 0.5, 0.25, 0.2]), (1000, 1))
    noise = (np.arange(1000) + 0.5) / 1000
    assert set(_draw(logits, noise, top_k=1)) == {1}
    assert set(_draw(logits, noise, top_k=2)) == {1, 2}
    assert set(_draw(logits, noise, top_p=0.7)) == {1, 2}  # 0.5 + 0.25 reaches 0.7
    assert set(_draw(logits, noise, top_p=0.3)) == {1}
    assert set(_draw(logits, noise)) == {0, 1, 2, 3}
    cold = _draw(logits, noise, temperature=0.05)
    assert np.mean(cold == 1) > 0.99


def test_noise_rows_depend_only_on_their_seed():
    together = noise_from_seeds([5, 6, 7], 16).numpy()
    alone = noise_from_seeds([6], 16).numpy()
    np.testing.assert_array_equal(together[1], alone[0])
    assert ((together >= 0) & (together < 1)).all() and not np.array_equal(together[0], together[1])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_sorting_only_the_largest_logits_draws_the_same_tokens(jit_compile):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 512))
    noise = rng.uniform(size=4000)
    top_k = rng.integers(1, 65, 4000)  # per row, all within the 64 candidates
    top_p = rng.choice([1.0, 0.9, 0.5], 4000)
    draw = tf.function(sample_token, jit_compile=jit_compile, reduce_retracing=True)
    args = [tf.constant(v, dtype) for v, dtype in ((logits, tf.float32), (noise, tf.float32))]
    settings = (tf.constant(0.8), tf.constant(top_k, tf.int32), tf.constant(top_p, tf.float32))
    full = draw(*args, *settings).numpy()
    partial = draw(*args, *settings, candidates=64).numpy()
    np.testing.assert_array_equal(partial, full)
    assert len(set(full)) > 400  # the draws spread over the codes, not a degenerate case


def test_sorted_candidates_only_when_every_top_k_fits():
    assert sorted_candidates(16, 64, 512) == 64
    assert sorted_candidates([1, 64], 64, 512) == 64
    assert sorted_candidates(0, 64, 512) is None  # top-k off: every code can be drawn
    assert sorted_candidates([16, 0], 64, 512) is None
    assert sorted_candidates(65, 64, 512) is None
    assert sorted_candidates(16, 64, 64) is None  # nothing to save
    assert sorted_candidates(16, 0, 512) is None  # turned off
