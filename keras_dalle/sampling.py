"""Sampling image tokens from the text-to-image model: one graph for Python, SavedModel and TFLite.

Randomness comes in as `noise`, uniform [B, N] in [0, 1): one number per image token, turned
into a token by inverse-CDF sampling over the filtered distribution. The graph itself has no
random op, so it converts to builtin TFLite ops and to ONNX (no stateless random ops, no
Multinomial seed attributes), and the same noise gives the same tokens everywhere. Python
callers and the SavedModel make the noise from seeds with `noise_from_seeds`; app code can
make it with any uniform generator.

Ops used: top_k, softmax, cumsum, comparisons, casts and sums (one-hot vectors are built as
`range == index`, which tf2onnx converts inside loops too); the key/value cache is written
with `where` and started by the prefill as its keys and values padded with zeros (see
`keras_dalle.layers.attention.write_to_cache` and `start_cache`).
"""

import threading

import numpy as np
import tensorflow as tf

from keras_dalle.layers.masks import padding_mask

# The sampling settings in signature order, with the dtypes every export takes them in (the
# SavedModel's `generate`, TFLite, ONNX) and clients send; seeds are int64.
SETTING_DTYPES = {"temperature": "float32", "top_k": "int32", "top_p": "float32", "cfg_scale": "float32"}
SEED_DTYPE = "int64"


def validate_sampling_arguments(temperature, top_k, top_p, cfg_scale, codebook_size):
    """Raises ValueError for settings outside their ranges (Python-side, before any graph runs)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not isinstance(top_k, int) or not 0 <= top_k <= codebook_size:
        raise ValueError(f"top_k must be an int in [0, {codebook_size}] (0 = no top-k filter), got {top_k!r}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not cfg_scale >= 0:
        raise ValueError(f"cfg_scale must be >= 0, got {cfg_scale}")


def noise_from_seeds(seeds, length):
    """Uniform noise [B, length] in [0, 1), row i from integer seeds[i] alone (stateless, reproducible).

    Row-wise seeds make a picture reproducible on its own: picture i of a batch made with seeds
    s_0..s_B is the picture made alone with seed s_i.
    """
    seeds = tf.cast(tf.reshape(seeds, (-1,)), tf.int64)
    return tf.map_fn(
        lambda s: tf.random.stateless_uniform((length,), seed=tf.stack([s, tf.zeros((), tf.int64)])),
        seeds,
        fn_output_signature=tf.float32,
    )


def one_hot(index, depth, dtype=tf.int32):
    """`range(depth) == index` as `dtype`: a scalar index gives [depth], indices [B] give [B, depth]."""
    index = tf.convert_to_tensor(index, tf.int32)
    return tf.cast(tf.equal(tf.range(depth), tf.expand_dims(index, -1)), dtype)


def per_row(value, dtype):
    """A setting given as a scalar or per row [B], shaped to broadcast against [B, K]: (1 or B, 1)."""
    return tf.reshape(tf.cast(value, dtype), (-1, 1))


# `generate` with every row's top-k at most this sorts only this many of the largest logits: the
# tokens ranked below can never be drawn.
SHORT_SORT = 64
SORTS = ("full", "short", "none")


def unfiltered(top_k, top_p):
    """Rows with no filter (top-k 0 and top-p 1): `sample_token` draws them in code order, no sort."""
    return (top_k == 0) & (top_p >= 1.0)


def sort_for(top_k, top_p):
    """The cheapest `sample_token` sort that top-k and top-p settings (numbers or one per row) allow:
    "none" where every row is unfiltered, "short" where every row's top-k is in 1..`SHORT_SORT`,
    else "full". All three draw the same tokens for the same settings and noise."""
    top_k, top_p = np.asarray(top_k), np.asarray(top_p)
    if np.all(unfiltered(top_k, top_p)):
        return "none"
    return "short" if np.all((top_k > 0) & (top_k <= SHORT_SORT)) else "full"


def sample_token(logits, noise, temperature, top_k, top_p, sort="full"):
    """Draws one token per row by inverse-CDF over the temperature-scaled, top-k and top-p filtered logits.

    logits float [B, K], noise float [B] in [0, 1); temperature (> 0), top_k (0 = all, 1 =
    greedy) and top_p (in (0, 1]) are scalars or per-row [B] -> int32 [B].

    Filtered rows walk the logits in descending order; unfiltered rows (`unfiltered`: top-k 0 and
    top-p 1) walk them in code order, which needs no sort and draws from the same distribution.
    The sort of all K per step is the costliest op of an XLA-compiled decoding step at batch 16,
    so `generate` compiles only the sort its settings need (`sort_for`, chosen in Python, so each
    compiled loop holds one):
    - "full": sorts all K, then puts unfiltered rows back in code order (two per-row `where`s), so
      they go through the same arithmetic as with "none". The exports' graph: it takes top-k and
      top-p as inputs, and a `tf.cond` inside the token loop becomes an ONNX If inside a Loop that
      onnxruntime refuses ("Loop subgraph input 0 has unknown shape");
    - "short" (every row's top-k in 1..`SHORT_SORT`): sorts only the `SHORT_SORT` largest, their
      probabilities normalised over all K codes so top-p cuts at the same mass;
    - "none" (every row unfiltered): no sort.
    The three give the same tokens for the same settings (float rounding aside; none differed in
    10,000 test draws), so one seed draws one picture in Python and in every export.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    codebook_size = logits.shape[-1]
    scaled = logits / per_row(temperature, logits.dtype)
    top_k, top_p = per_row(top_k, tf.int32), per_row(top_p, scaled.dtype)
    limit = tf.where(top_k > 0, top_k, codebook_size)  # (1 or B, 1)
    short = sort == "short" and codebook_size > SHORT_SORT
    count = SHORT_SORT if short else codebook_size
    code_order = tf.range(codebook_size)[None, :]  # (1, K)
    if sort == "none":
        ordered_logits, ordered_ids = scaled, code_order
    else:
        ordered_logits, ordered_ids = tf.math.top_k(scaled, k=count)  # (B, count), descending
        if sort == "full":
            in_code_order = tf.reshape(unfiltered(top_k, top_p), (-1, 1))  # (1 or B, 1)
            ordered_logits = tf.where(in_code_order, scaled, ordered_logits)
            ordered_ids = tf.where(in_code_order, code_order, ordered_ids)
    if short:  # normalised over all K codes, so top-p cuts at the full sort's mass
        probs = tf.exp(ordered_logits - tf.reduce_logsumexp(scaled, axis=-1, keepdims=True))
    else:
        probs = tf.nn.softmax(ordered_logits, axis=-1)
    mass_before = tf.cumsum(probs, axis=-1, exclusive=True)
    keep = (tf.range(count)[None, :] < limit) & (mass_before < top_p)  # rank 0 is always kept
    cdf = tf.cumsum(probs * tf.cast(keep, probs.dtype), axis=-1)  # (B, count)
    below = tf.cast(cdf <= noise[:, None] * cdf[:, -1:], tf.int32)
    kept = tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1)
    position = tf.minimum(tf.reduce_sum(below, axis=-1), kept - 1)  # (B,)
    return tf.reduce_sum(one_hot(position, count) * ordered_ids, axis=-1)


def guided(logits, cfg_scale, guidance):
    """Classifier-free guidance: rows [conditional ; null] -> null + cfg_scale * (conditional - null).

    cfg_scale is a scalar or per row [B].
    """
    if not guidance:
        return logits
    conditional, null = tf.split(logits, 2, axis=0)
    return null + per_row(cfg_scale, logits.dtype) * (conditional - null)


def kept_or_drawn(token, step, prefix):
    """Image completion: `prefix` = (given tokens int32 [B, N], keep int32 [B]); row b keeps given
    token `step` while step < keep[b], else takes the drawn `token` [B]. No prefix: `token`."""
    if prefix is None:
        return token
    given, keep = prefix
    return tf.where(step < keep, tf.gather(given, step, axis=1), token)


def _carried(value, step):
    """`value` again, through an op the converters cannot fold away (step >= 1 inside the loop)."""
    if value.dtype == tf.bool:
        return value & (step > 0)
    return value * tf.cast(step > 0, value.dtype)


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


class TokenSampler:
    """Generates image tokens with a model's text encoder and generator over a key/value cache.

    `start` runs the prompt once (prefill) and draws the first token; `advance` feeds one token
    and draws the next; `advance_until` loops `advance` in one `tf.while_loop`; `begin` is `start`
    then `advance_until`. `generate_in_graph` is the whole sequence in one `begin` (for export).
    `generate` runs the same loop in chunks (`chunk_tokens`), one compiled call each (with XLA by
    default: faster on CPU, as `bench/sampling_speed.py` measures), and calls
    `on_token(step, total)` after each chunk (for progress bars). Between its calls the key/value
    cache stays in tf.Variables, which XLA updates in place (`_cache_variables`). One chunked
    `generate` at a time runs per sampler (a lock), so threads may share a model.

    Every method takes an optional `prefix` = (given tokens int32 [B, N], keep int32 [B]) for image
    completion: row b keeps the first keep[b] given tokens and draws the rest (`kept_or_drawn`). The
    kept tokens still run through the generator, one step each, to fill the key/value cache.

    Args:
        text_encoder: a `TextEncoder`.
        generator: a `Generator`.
        null_ids: function batch_size -> null caption ids [batch_size, L].
        jit_compile: compile `generate`'s functions with XLA.
        tokens_per_call: image tokens per compiled call of `generate` (None: `chunk_tokens`
            chooses by batch size).
    """

    def __init__(self, text_encoder, generator, null_ids, jit_compile=True, tokens_per_call=None):
        self.text_encoder = text_encoder
        self.generator = generator
        self.null_ids = null_ids
        self.jit_compile = jit_compile
        self.image_length = generator.image_length
        self.tokens_per_call = tokens_per_call
        self._compiled = {}
        self._cache = None  # `generate`'s key/value cache variables, see `_cache_variables`
        self._cache_lock = threading.Lock()  # one `generate` at a time writes the cache

    def _null_ids(self, batch_size, length):
        """The null caption's ids [batch_size, length] (its first `length` positions: a null id, then pads)."""
        return self.null_ids(batch_size)[:, :length]

    def _with_null_captions(self, prompt_ids, guidance):
        """[prompts ; null captions] for guidance, else the prompts: ids [B or 2B, T]."""
        if not guidance:
            return prompt_ids
        return tf.concat([prompt_ids, self._null_ids(tf.shape(prompt_ids)[0], prompt_ids.shape[1])], axis=0)

    def encode_prompts(self, prompt_ids, guidance):
        """Text states [B or 2B, L, D] and padding mask [B or 2B, L] of the prompts (then the null
        captions, for guidance)."""
        ids = self._with_null_captions(prompt_ids, guidance)
        return self.text_encoder(ids), padding_mask(ids)

    def start(self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"):
        """Prefill and first token: -> state (token, tokens, text_mask, cache). `sort` as in `sample_token`.

        prompt_ids [B, T]: T = L, or fewer when trailing positions that are padding in every row
        are cut (`prefill_length`: the prefill then runs T positions, see `Generator.prefill`).

        With guidance the B null-caption rows are one caption: the prefill runs it once, as row
        B + 1 of the prompts' batch, and its cache is copied to B rows (the rows part ways from the
        first image token on). One batch, so XLA compiles one prefill.
        """
        text_steps = prompt_ids.shape[1]
        ids = tf.concat([prompt_ids, self._null_ids(1, text_steps)], axis=0) if guidance else prompt_ids  # (B or B+1, T)
        logits, cache = self.generator.prefill(self.text_encoder(ids), padding_mask(ids))
        if guidance:
            batch = tf.shape(prompt_ids)[0]

            def with_null_rows(values):  # [B + 1, ...] -> [2B, ...]: the last row (the null caption's) B times
                multiples = tf.concat([[batch], tf.ones([len(values.shape) - 1], tf.int32)], axis=0)
                return tf.concat([values[:-1], tf.tile(values[-1:], multiples)], axis=0)

            logits, cache = with_null_rows(logits), [with_null_rows(values) for values in cache]
        text_mask = self.generator.text_mask_for_cache(padding_mask(self._with_null_captions(prompt_ids, guidance)))  # (B or 2B, L)
        token = sample_token(guided(logits, cfg_scale, guidance), noise[:, 0], temperature, top_k, top_p, sort)
        token = kept_or_drawn(token, 0, prefix)
        tokens = one_hot(0, self.image_length)[None, :] * token[:, None]  # (B, N)
        return token, tokens, text_mask, cache

    def advance(self, step, state, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"):
        """Feeds token `step - 1` and draws token `step` (1..N-1): state -> state."""
        token, tokens, text_mask, cache = state
        feed = tf.concat([token, token], axis=0) if guidance else token
        logits, cache = self.generator.decode_step(feed, step, text_mask, cache)
        token = sample_token(
            guided(logits, cfg_scale, guidance), tf.gather(noise, step, axis=1), temperature, top_k, top_p, sort
        )
        token = kept_or_drawn(token, step, prefix)
        tokens = tokens + one_hot(step, self.image_length)[None, :] * token[:, None]
        return token, tokens, text_mask, cache

    def advance_until(
        self, first, stop, state, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"
    ):
        """Draws tokens `first` .. `stop - 1` (1 <= first < stop <= N) in one `tf.while_loop`: state -> state.

        Every value the loop reads is a loop variable that the body writes back through
        `_carried`, so no loop output is the very tensor of its input: TFLite's int8 calibrator
        crashes on such pass-through WHILE outputs (tensorflow/tensorflow#75140).
        """
        settings = tuple(tf.convert_to_tensor(s) for s in (noise, temperature, top_k, top_p, cfg_scale, *(prefix or ())))

        def body(step, token, tokens, text_mask, cache, *settings):
            sampling, carried_prefix = settings[:5], tuple(settings[5:]) or None
            token, tokens, text_mask, cache = self.advance(
                step, (token, tokens, text_mask, cache), *sampling, guidance, prefix=carried_prefix, sort=sort
            )
            return (step + 1, token, tokens, _carried(text_mask, step), cache, *(_carried(s, step) for s in settings))

        loop = tf.while_loop(
            lambda step, *_: step < stop,
            body,
            (tf.convert_to_tensor(first, tf.int32), *state, *settings),
            maximum_iterations=self.image_length,
        )
        return tuple(loop[1:5])

    def begin(self, prompt_ids, stop, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"):
        """`start`, then tokens 1 .. `stop - 1` (1 <= stop <= N): -> state."""
        settings = (noise, temperature, top_k, top_p, cfg_scale)
        state = self.start(prompt_ids, *settings, guidance, prefix=prefix, sort=sort)
        return self.advance_until(1, stop, state, *settings, guidance, prefix=prefix, sort=sort)

    def generate_in_graph(
        self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale, guidance=True, prefix=None, sort="full"
    ):
        """All N tokens inside one `tf.while_loop`: int32 [B, N]. The exports' graph (the full sort,
        see `sample_token`); `generate` compiles the one its settings allow (`sort_for`)."""
        return self.begin(
            prompt_ids, self.image_length, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix, sort
        )[1]

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

            def whole(ids, *settings_and_prefix):  # all N tokens -> int32 [B, N]
                settings, prefix = split(settings_and_prefix)
                return self.generate_in_graph(ids, *settings, guidance, prefix, sort=sort)

            def start(ids, cache, *settings_and_prefix):  # token 0 -> (token, tokens, text_mask)
                settings, prefix = split(settings_and_prefix)
                *state, values = self.start(ids, *settings, guidance, prefix, sort=sort)
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
                tf.function(f, jit_compile=self.jit_compile) for f in (whole, start, advance)
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
        with as many rows (making 2 * num_layers variables costs about 3 ms), replaced otherwise. So
        a sampler holds one cache between calls: rows x 1.2 MB for `small`."""
        if self._cache is None or self._cache[0].shape[0] != rows:
            self._cache = None  # frees the old cache before the new one is allocated
            dtype = self.generator.compute_dtype  # keys and values come out in it (bfloat16 under mixed precision)
            self._cache = [
                tf.Variable(tf.zeros(zeros.shape, dtype), trainable=False) for zeros in self.generator.empty_cache(rows)
            ]
        return self._cache

    def prompt_positions(self, prompt_ids, rows):
        """The text positions `generate` runs prompt_ids [B, L] over, at `rows` batch rows: all L when
        one call makes the pictures (`chunk_tokens`; a batch-1 prefill is a few ms, and each new
        length would compile the whole loop again, 2-3 s), else `prefill_length`."""
        if self.chunk_tokens(rows) == self.image_length:
            return prompt_ids.shape[1]
        return prefill_length(prompt_ids)

    def tracing_count(self):
        """How many times the compiled functions of `generate` were traced (for retracing checks)."""
        return sum(f.experimental_get_tracing_count() for functions in self._compiled.values() for f in functions)

    def generate(self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale, on_token=None, prefix=None):
        """All N tokens, `chunk_tokens(rows)` per compiled call: int32 [B, N].

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
        rows = prompt_ids.shape[0] * (2 if guidance else 1)
        chunk = self.chunk_tokens(rows)
        if chunk == self.image_length:  # one call: no state outside it, so no lock
            tokens = whole(prompt_ids, *settings, *prefix)
        else:
            with self._cache_lock:
                cache = self._cache_variables(rows)
                ids = prompt_ids[:, : self.prompt_positions(prompt_ids, rows)]
                state = start(ids, cache, *settings, *prefix)  # the prefill and token 0
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

    def recompute_step(
        self, step, tokens, text_states, text_mask, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None
    ):
        """Draws token `step` by running the whole sequence, no cache (`encode_prompts` gives the
        text): tokens int32 [B, N] -> tokens with position `step` set."""
        feed = tf.concat([tokens, tokens], axis=0) if guidance else tokens
        logits = tf.gather(self.generator(text_states, text_mask, feed), step, axis=1)  # (B or 2B, K)
        token = sample_token(guided(logits, cfg_scale, guidance), tf.gather(noise, step, axis=1), temperature, top_k, top_p)
        token = kept_or_drawn(token, step, prefix)
        return tokens + one_hot(step, self.image_length)[None, :] * token[:, None]

    def generate_uncached(self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale, prefix=None):
        """Reference without a cache: recomputes the whole sequence for every token. int32 [B, N]."""
        guidance = cfg_scale != 1.0
        text_states, text_mask = self.encode_prompts(prompt_ids, guidance)
        tokens = tf.zeros((tf.shape(prompt_ids)[0], self.image_length), tf.int32)
        for step in range(self.image_length):
            tokens = self.recompute_step(
                step, tokens, text_states, text_mask, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix
            )
        return tokens
