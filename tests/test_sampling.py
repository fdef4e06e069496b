import numpy as np
import pytest
import tensorflow as tf

from keras_dalle.sampling import noise_from_seeds, sample_token, sort_for


def _draw(logits, noise, temperature=1.0, top_k=0, top_p=1.0, sort="full"):
    return sample_token(
        tf.constant(logits, tf.float32), tf.constant(noise, tf.float32), temperature, top_k, top_p, sort
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
    """The inverse CDF in numpy, one row at a time: filtered rows in descending order (a full sort),
    unfiltered rows (top-k 0, top-p 1) in code order."""
    tokens = []
    for row, u in zip(logits / temperature, noise):
        order = np.argsort(-row, kind="stable") if (top_k, top_p) != (0, 1.0) else np.arange(len(row))
        probs = np.exp(row[order] - row.max())
        probs /= probs.sum()
        limit = top_k if 0 < top_k < len(row) else len(row)
        keep = (np.arange(len(row)) < limit) & (np.cumsum(probs) - probs < top_p)
        cdf = np.cumsum(probs * keep)
        tokens.append(order[min(int(np.sum(cdf <= u * cdf[-1])), int(keep.sum()) - 1)])
    return np.array(tokens)


# (16, 1): the shipped default; (64, 0.6): a short sort with a top-p cut; (1, 1), (100, 1) and
# (0, 0.8) sort all 512; (0, 1): no filter, drawn in code order.
SETTINGS = ((16, 1.0), (64, 0.6), (1, 1.0), (100, 1.0), (0, 0.8), (0, 1.0))


@pytest.mark.parametrize("sort", ["full", "cheapest"])
def test_every_sort_draws_the_reference_tokens(sort):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2000, 512)).astype(np.float32)
    noise = rng.uniform(size=2000).astype(np.float32)
    for top_k, top_p in SETTINGS:
        chosen = sort_for(top_k, top_p) if sort == "cheapest" else "full"
        drawn = _draw(logits, noise, temperature=0.8, top_k=top_k, top_p=top_p, sort=chosen)
        expected = _reference_draw(logits, noise, 0.8, top_k, top_p)
        assert np.mean(drawn != expected) <= 0.001, (top_k, top_p, chosen)  # float rounding at a boundary at most


def test_rows_with_their_own_settings_draw_as_if_alone():
    """The exports' full sort with per-row settings: each row draws what a batch of its own setting
    draws, and unfiltered rows what the sort-free draw `generate` compiles for them gives (so one
    seed gives one picture in Python and in the exports)."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (len(SETTINGS) * 50, 512)).astype(np.float32)
    noise = rng.uniform(size=len(logits)).astype(np.float32)
    top_k, top_p = (np.repeat(np.array(column), 50) for column in zip(*SETTINGS))
    together = _draw(logits, noise, top_k=top_k.astype(np.int32), top_p=top_p.astype(np.float32))
    for index, (k, p) in enumerate(SETTINGS):
        rows = slice(50 * index, 50 * (index + 1))
        np.testing.assert_array_equal(together[rows], _draw(logits[rows], noise[rows], top_k=k, top_p=p), str((k, p)))
    unfiltered_rows = slice(50 * SETTINGS.index((0, 1.0)), None)
    np.testing.assert_array_equal(together[unfiltered_rows], _draw(logits[unfiltered_rows], noise[unfiltered_rows], sort="none"))


def test_the_cheapest_sort_is_chosen_only_when_every_row_allows_it():
    assert sort_for(0, 1.0) == "none" and sort_for([0, 0], [1.0, 1.0]) == "none"
    assert sort_for(16, 1.0) == sort_for([1, 64], 0.9) == sort_for(np.array([16, 16]), 1.0) == "short"
    for top_k, top_p in ((0, 0.9), (65, 1.0), ([16, 65], 1.0), ([0, 8], 1.0), ([0, 0], [1.0, 0.5])):
        assert sort_for(top_k, top_p) == "full", (top_k, top_p)
    with pytest.raises(ValueError, match="sort must be one of"):
        _draw(np.zeros((1, 4)), [0.5], sort="partial")
