import numpy as np
import tensorflow as tf

from keras_dalle.sampling import noise_from_seeds, sample_token


def _draw(logits, noise, temperature=1.0, top_k=0, top_p=1.0):
    return sample_token(tf.constant(logits, tf.float32), tf.constant(noise, tf.float32), temperature, top_k, top_p).numpy()


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
