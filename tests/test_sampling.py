import numpy as np
import pytest
import tensorflow as tf

from keras_dalle.sampling import noise_from_seeds, sample_token, sorts_short


def _draw(logits, noise, temperature=1.0, top_k=0, top_p=1.0, short_sort=False):
    return sample_token(
        tf.constant(logits, tf.float32), tf.constant(noise, tf.float32), temperature, top_k, top_p, short_sort
    ).numpy()


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


def _reference_draw(logits, noise, temperature, top_k, top_p):
    """The full-sort inverse CDF in numpy, one row at a time."""
    tokens = []
    for row, u in zip(logits / temperature, noise):
        order = np.argsort(-row, kind="stable")
        probs = np.exp(row[order] - row[order].max())
        probs /= probs.sum()
        limit = top_k if 0 < top_k < len(row) else len(row)
        keep = (np.arange(len(row)) < limit) & (np.cumsum(probs) - probs < top_p)
        cdf = np.cumsum(probs * keep)
        tokens.append(order[min(int(np.sum(cdf <= u * cdf[-1])), int(keep.sum()) - 1)])
    return np.array(tokens)


@pytest.mark.parametrize("short_sort", [False, True])
def test_both_sorts_draw_the_reference_tokens(short_sort):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2000, 512)).astype(np.float32)
    noise = rng.uniform(size=2000).astype(np.float32)
    # (16, 1): the shipped default; (64, 0.6): a short sort with a top-p cut; the last two sort all 512.
    for top_k, top_p in ((16, 1.0), (64, 0.6), (1, 1.0), (100, 1.0), (0, 0.8)):
        drawn = _draw(logits, noise, temperature=0.8, top_k=top_k, top_p=top_p, short_sort=short_sort and sorts_short(top_k))
        expected = _reference_draw(logits, noise, 0.8, top_k, top_p)
        assert np.mean(drawn != expected) <= 0.001, (top_k, top_p)  # float rounding at a boundary at most


def test_short_sort_is_chosen_only_when_every_row_allows_it():
    assert sorts_short(16) and sorts_short([1, 64]) and sorts_short(np.array([16, 16]))
    assert not sorts_short(0) and not sorts_short(65) and not sorts_short([16, 65]) and not sorts_short([0, 8])
