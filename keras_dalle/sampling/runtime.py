"""`TokenSampler`: the decoding loop for Python callers, compiled in chunks of token rows with the
key/value cache kept in variables between calls, a progress callback, and the prompt cut to its
real positions."""

import threading

import numpy as np
import tensorflow as tf

from keras_dalle.layers.masks import padding_mask
from keras_dalle.layers.tracing import tf_function
from keras_dalle.sampling.loop import DecodingLoop
from keras_dalle.sampling.tokens import noise_from_seeds, sort_for


def _store(variables, values):
    """Assigns each value to its variable (the key/value cache kept between `generate`'s calls)."""
    for variable, value in zip(variables, values):
        variable.assign(value)


def _read(variables):
    """The values of the key/value cache variables: a list of tensors."""
    return [variable.read_value() for variable in variables]


# `generate` runs the token loop in compiled calls and reports progress after each one. Each call
# covers whole rows of the token grid, at most `PROGRESS_UPDATES` calls per picture, and at least
# `MIN_TOKEN_ROWS_PER_CALL` tokens x batch rows: every call costs about 2.5 ms here (arguments,
# launch, and the key/value cache leaving the loop), so a batch-1 picture (about 60 ms in all)
# runs as one call; batch 16 with guidance (32 rows) as a prefill call and 4 loop calls, and the
# CLI's batches of 128 rows and more as a prefill call and 8 (`bench/sampling_speed.py`).
# Python callers make their noise with this compiled twin of `noise_from_seeds` (its map_fn takes
# about 11 ms for 16 rows eagerly, 0.5 ms compiled; 2026-12-05); the exports' graphs call the plain one.
compiled_noise_from_seeds = tf_function(noise_from_seeds, reduce_retracing=True)
PROGRESS_UPDATES = 8
MIN_TOKEN_ROWS_PER_CALL = 512

# A chunked `generate` prefills its prompts without the text positions that are padding in every
# row, cut at a multiple of this many positions (`prefill_length`), so its prefill call compiles
# once per multiple (at most L / 16 times) and its decoding loop once.
PREFILL_LENGTH_MULTIPLE = 16


def prefill_length(prompt_ids, multiple=PREFILL_LENGTH_MULTIPLE):
    """The text positions a prefill of prompt_ids [B, L] needs: the last real position of any row, plus
    one, rounded up to `multiple` (at least `multiple`, at most L). Positions after it are pads in every
    row: masked everywhere, so cutting them leaves the logits as they were."""
    text_length = prompt_ids.shape[1]
    real = np.asarray(padding_mask(prompt_ids)).any(axis=0)  # (L,): a real token in some row
    needed = int(np.flatnonzero(real)[-1]) + 1 if real.any() else 1
    return min(text_length, -(-needed // multiple) * multiple)


class TokenSampler(DecodingLoop):
    """`DecodingLoop` for Python callers: `generate` runs the loop in chunks (`chunk_tokens`), one
    compiled call each (with XLA by default: faster on CPU, as `bench/sampling_speed.py` measures),
    and calls `on_token(step, total)` after each chunk (for progress bars). Between its calls the
    key/value cache stays in tf.Variables, which XLA updates in place (`_cache_variables`). One
    chunked `generate` at a time runs per sampler (a lock), so threads may share a model.

    Args:
        conditioning, generator: as in `DecodingLoop`.
        jit_compile: compile `generate`'s functions with XLA.
        tokens_per_call: image tokens per compiled call of `generate` (None: `chunk_tokens`
            chooses by batch size).
    """

    def __init__(self, conditioning, generator, jit_compile=True, tokens_per_call=None):
        super().__init__(conditioning, generator)
        self.jit_compile = jit_compile
        self.tokens_per_call = tokens_per_call
        self._compiled = {}
        self._cache = None  # `generate`'s key/value cache variables, see `_cache_variables`
        self._cache_lock = threading.Lock()  # one `generate` at a time writes the cache

    def _functions(self, guidance, sort):
        """`generate`'s compiled functions for one guidance and sort setting: (whole, start, advance).

        `prefix` comes in as trailing arguments (given tokens, keep) when completing, else none.
        The key/value cache lives in `cache` (tf.Variables) between calls, not in the returned state:
        XLA updates a variable's buffer in place, while a cache passed in and out as tensors is
        copied at every call. `whole` (all tokens in one call) keeps the cache inside its loop: a
        cache that leaves the loop costs about 0.1 ms per token at batch 1. `start` is the prefill
        alone, with no loop, so chunked calls compile the decoding loop once (in `advance`): each
        compiled copy of it costs tens of MB of peak memory while XLA compiles it (so the sort is chosen
        here, not with a `tf.cond` that would compile both; `sort` as in `sample_token`).
        """
        if (guidance, sort) not in self._compiled:

            def split(settings_and_prefix):
                return settings_and_prefix[:5], settings_and_prefix[5:] or None

            def whole(condition, *settings_and_prefix):  # all N tokens -> int32 [B, N]
                settings, prefix = split(settings_and_prefix)
                return self.generate_in_graph(condition, *settings, guidance, prefix, sort=sort)

            def start(condition, cache, *settings_and_prefix):  # token 0 -> (token, tokens, text_mask)
                settings, prefix = split(settings_and_prefix)
                *state, values = self.start(condition, *settings, guidance, prefix, sort=sort)
                _store(cache, values)
                return tuple(state)

            def advance(first, stop, state, cache, *settings_and_prefix):  # tokens first .. stop - 1
                settings, prefix = split(settings_and_prefix)
                *state, values = self.advance_until(
                    first, stop, (*state, _read(cache)), *settings, guidance, prefix, sort=sort
                )
                _store(cache, values)
                return tuple(state)

            self._compiled[guidance, sort] = tuple(
                tf_function(f, jit_compile=self.jit_compile) for f in (whole, start, advance)
            )
        return self._compiled[guidance, sort]

    def chunk_tokens(self, rows):
        """Image tokens per compiled call of `generate` for `rows` batch rows (guidance rows included):
        `tokens_per_call` if set, else whole rows of the token grid, at most `PROGRESS_UPDATES` calls
        per picture and at least `MIN_TOKEN_ROWS_PER_CALL` tokens x rows per call."""
        if self.tokens_per_call:
            return min(self.tokens_per_call, self.image_length)
        grid = int(round(self.image_length**0.5))
        grid_rows = max(-(-grid // PROGRESS_UPDATES), -(-MIN_TOKEN_ROWS_PER_CALL // (rows * grid)))
        return min(grid * grid_rows, self.image_length)

    def _cache_variables(self, rows):
        """The key/value cache of `generate` for `rows` rows: tf.Variables, kept for the next call
        with as many rows (making its 4 * num_layers variables costs a few ms), replaced otherwise. So
        a sampler holds one cache between calls: rows x 1.2 MB for `small`."""
        if self._cache is None or self._cache[0].shape[0] != rows:
            self._cache = None  # frees the old cache before the new one is allocated
            dtype = self.generator.compute_dtype  # keys and values come out in it (bfloat16 under mixed precision)
            self._cache = [
                tf.Variable(tf.zeros(zeros.shape, dtype), trainable=False) for zeros in self.generator.empty_cache(rows)
            ]
        return self._cache

    def prompt_positions(self, prompt_ids, rows):
        """The prompt positions `generate` runs prompt_ids [B, L] over, at `rows` batch rows: all L when
        one call makes the pictures (`chunk_tokens`; a batch-1 prefill is a few ms, and each new
        length would compile the whole loop again, 2-3 s), else `prefill_length`."""
        if self.chunk_tokens(rows) == self.image_length:
            return prompt_ids.shape[1]
        return prefill_length(prompt_ids)

    def tracing_count(self):
        """How many times the compiled functions of `generate` were traced (for retracing checks)."""
        return sum(f.experimental_get_tracing_count() for functions in self._compiled.values() for f in functions)

    def generate(self, condition, noise, temperature, top_k, top_p, cfg_scale, on_token=None, prefix=None):
        """All N tokens for `condition` (see `DecodingLoop`), `chunk_tokens(rows)` per compiled call: int32 [B, N].

        In several calls, the first (the prefill) runs the prompts without their common trailing
        padding (`prompt_positions`): it compiles once per prompt length rounded up to
        `PREFILL_LENGTH_MULTIPLE`, the decoding loop once per batch size."""
        guidance = cfg_scale != 1.0
        whole, start, advance = self._functions(guidance, sort_for(top_k, top_p))
        prefix = tuple(prefix or ())
        settings = (
            noise,
            tf.constant(temperature, tf.float32),
            tf.constant(top_k, tf.int32),
            tf.constant(top_p, tf.float32),
            tf.constant(cfg_scale, tf.float32),
        )
        prompt_ids = self.conditioning.ids(condition)
        rows = prompt_ids.shape[0] * (2 if guidance else 1)
        chunk = self.chunk_tokens(rows)
        if chunk == self.image_length:  # one call: no state outside it, so no lock
            tokens = whole(condition, *settings, *prefix)
        else:
            with self._cache_lock:
                cache = self._cache_variables(rows)
                cut = self.conditioning.with_ids(condition, prompt_ids[:, : self.prompt_positions(prompt_ids, rows)])
                state = start(cut, cache, *settings, *prefix)  # the prefill and token 0
                step = 1
                while step < self.image_length:  # calls end on multiples of `chunk`
                    stop = min(self.image_length, (step // chunk + 1) * chunk)
                    state = advance(tf.constant(step), tf.constant(stop), state, cache, *settings, *prefix)
                    if on_token and stop < self.image_length:
                        on_token(stop, self.image_length)
                    step = stop
                tokens = state[1]
        if on_token:
            on_token(self.image_length, self.image_length)
        return tokens
