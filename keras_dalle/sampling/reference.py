"""The uncached reference the tests hold the decoding loop to: every token recomputed from the whole
sequence, no key/value cache."""

import tensorflow as tf

from keras_dalle.sampling.conditioning import condition_rows
from keras_dalle.sampling.tokens import guided, kept_or_drawn, one_hot, sample_token


def recompute_step(
    loop, step, tokens, text_states, text_mask, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None
):
    """Draws token `step` of `loop` (a `DecodingLoop`) by running the whole sequence, no cache
    (`loop.encode_prompts` gives the condition states): tokens int32 [B, N] -> tokens with position `step` set."""
    feed = tf.concat([tokens, tokens], axis=0) if guidance else tokens
    logits = tf.gather(loop.generator(text_states, text_mask, feed), step, axis=1)  # (B or 2B, K)
    token = sample_token(guided(logits, cfg_scale, guidance), tf.gather(noise, step, axis=1), temperature, top_k, top_p)
    token = kept_or_drawn(token, step, prefix)
    return tokens + one_hot(step, loop.image_length)[None, :] * token[:, None]


def generate_uncached(loop, condition, noise, temperature, top_k, top_p, cfg_scale, prefix=None):
    """Reference without a cache: recomputes the whole sequence for every token. int32 [B, N]."""
    guidance = cfg_scale != 1.0
    text_states, text_mask = loop.encode_prompts(condition, guidance)
    tokens = tf.zeros((condition_rows(condition), loop.image_length), tf.int32)
    for step in range(loop.image_length):
        tokens = recompute_step(
            loop, step, tokens, text_states, text_mask, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix
        )
    return tokens
