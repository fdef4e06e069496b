"""The decoding loop: prefill, one step per image token over the key/value cache, all of it in
`tf.while_loop`s (rows, and tokens within a row) with ops every export accepts (see the package docstring)."""

import tensorflow as tf

from keras_dalle.layers.tracing import TracingSwitch
from keras_dalle.sampling.conditioning import concat_rows, condition_rows
from keras_dalle.sampling.tokens import guided, kept_or_drawn, one_hot, sample_token


def _carried(value, step):
    """`value` again, through an op the converters cannot fold away (step >= 1 inside the loop)."""
    if value.dtype == tf.bool:
        return value & (step > 0)
    return value * tf.cast(step > 0, value.dtype)


_carry_settled = TracingSwitch()


def no_pass_through_cache():
    """Within this block, the decoding loops traced carry the settled key/value cache through the
    token loop by `_carried` as well, so that no WHILE output is the very tensor of its input:
    TFLite's int8 calibrator crashes on such outputs (tensorflow/tensorflow#75140). It costs a pass
    over the settled cache per token, which the other exports skip (the full-int8 TFLite export
    traces its graph in this block)."""
    return _carry_settled.on()


class DecodingLoop:
    """The in-graph decoding loop over a key/value cache, with a model's conditioning and generator:
    what every export runs, and what `TokenSampler` compiles.

    `start` runs the condition once (prefill) and draws the first token; `advance` feeds one token
    and draws the next; `advance_until` loops `advance` in one `tf.while_loop`; `begin` is `start`
    then `advance_until`. `generate_in_graph` is the whole sequence in one `begin` (for export).
    A condition is what the conditioning takes (`conditioning.py`): prompt ids int32 [B, T] for
    the text-to-image model, (prompt ids, image embedding) for the unCLIP decoder.

    Every method takes an optional `prefix` = (given tokens int32 [B, N], keep int32 [B]) for image
    completion: row b keeps the first keep[b] given tokens and draws the rest (`kept_or_drawn`). The
    kept tokens still run through the generator, one step each, to fill the key/value cache.

    Args:
        conditioning: a `TextConditioning` or `EmbeddingConditioning`.
        generator: a `Generator` whose text length is the conditioning's C positions.
    """

    def __init__(self, conditioning, generator):
        self.conditioning = conditioning
        self.generator = generator
        self.image_length = generator.image_length

    def _with_null_conditions(self, condition, guidance):
        """[conditions ; null conditions] for guidance, else the conditions: [B or 2B] rows."""
        if not guidance:
            return condition
        return concat_rows(condition, self.conditioning.null(condition_rows(condition), condition))

    def encode_prompts(self, condition, guidance):
        """Condition states [B or 2B, C, D] and mask [B or 2B, C] of the conditions (then the null
        conditions, for guidance)."""
        return self.conditioning.encode(self._with_null_conditions(condition, guidance))

    def start(self, condition, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"):
        """Prefill and first token: -> state (token, tokens, text_mask, cache). `sort` as in `sample_token`.

        The condition's prompt ids [B, T]: T = L, or fewer when trailing positions that are padding
        in every row are cut (`prefill_length`: the prefill then runs fewer positions, see
        `Generator.prefill`).

        With guidance the B null-condition rows are one condition: the prefill runs it once, as row
        B + 1 of the batch, and its cache is copied to B rows (the rows part ways from the first
        image token on). One batch, so XLA compiles one prefill.
        """
        with_null = concat_rows(condition, self.conditioning.null(1, condition)) if guidance else condition  # B or B+1 rows
        logits, cache = self.generator.prefill(*self.conditioning.encode(with_null))
        if guidance:
            batch = condition_rows(condition)

            def with_null_rows(values):  # [B + 1, ...] -> [2B, ...]: the last row (the null condition's) B times
                multiples = tf.concat([[batch], tf.ones([len(values.shape) - 1], tf.int32)], axis=0)
                return tf.concat([values[:-1], tf.tile(values[-1:], multiples)], axis=0)

            logits, cache = with_null_rows(logits), [with_null_rows(values) for values in cache]
        text_mask = self.generator.text_mask_for_cache(
            self.conditioning.mask(self._with_null_conditions(condition, guidance))
        )  # (B or 2B, C)
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
        """Draws tokens `first` .. `stop - 1` (1 <= first < stop <= N): state -> state.

        Two nested `tf.while_loop`s: one per cache row (`Generator.row_length` tokens), and in it
        one per token; after each row's tokens the row is settled into the cache
        (`Generator.settle_row`), also when `stop` ends a call inside a row.

        Every value a loop reads is a loop variable that the body writes back through `_carried`,
        so no loop output is the very tensor of its input: TFLite's int8 calibrator crashes on
        such pass-through WHILE outputs (tensorflow/tensorflow#75140). The token loop only reads
        the settled cache and passes it through, except within `no_pass_through_cache()`.
        """
        row_length = self.generator.row_length
        carry_settled = _carry_settled.active
        settings = tuple(tf.convert_to_tensor(s) for s in (noise, temperature, top_k, top_p, cfg_scale, *(prefix or ())))

        def token_body(step, row_stop, token, tokens, text_mask, cache, *settings):
            sampling, carried_prefix = settings[:5], tuple(settings[5:]) or None
            token, tokens, text_mask, cache = self.advance(
                step, (token, tokens, text_mask, cache), *sampling, guidance, prefix=carried_prefix, sort=sort
            )
            if carry_settled:  # entries 4i and 4i + 1: layer i's settled keys and values, which a step only reads
                cache = [_carried(values, step) if i % 4 < 2 else values for i, values in enumerate(cache)]
            return (
                step + 1, _carried(row_stop, step), token, tokens, _carried(text_mask, step), cache,
                *(_carried(s, step) for s in settings),
            )

        def row_body(step, stop, token, tokens, text_mask, cache, *settings):
            row_stop = tf.minimum(stop, (step // row_length + 1) * row_length)
            step, _, token, tokens, text_mask, cache, *settings = tf.while_loop(
                lambda step, row_stop, *_: step < row_stop,
                token_body,
                (step, row_stop, token, tokens, text_mask, cache, *settings),
                maximum_iterations=row_length,
            )
            cache = self.generator.settle_row(step - 1, cache)
            return (
                step, _carried(stop, step), token, tokens, _carried(text_mask, step), cache,
                *(_carried(s, step) for s in settings),
            )

        loop = tf.while_loop(
            lambda step, stop, *_: step < stop,
            row_body,
            (tf.convert_to_tensor(first, tf.int32), tf.convert_to_tensor(stop, tf.int32), *state, *settings),
            maximum_iterations=self.image_length,
        )
        return tuple(loop[2:6])

    def begin(self, condition, stop, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix=None, sort="full"):
        """`start`, then tokens 1 .. `stop - 1` (1 <= stop <= N): -> state."""
        settings = (noise, temperature, top_k, top_p, cfg_scale)
        state = self.start(condition, *settings, guidance, prefix=prefix, sort=sort)
        return self.advance_until(1, stop, state, *settings, guidance, prefix=prefix, sort=sort)

    def generate_in_graph(
        self, condition, noise, temperature, top_k, top_p, cfg_scale, guidance=True, prefix=None, sort="full"
    ):
        """All N tokens inside one `tf.while_loop`: int32 [B, N]. The exports' graph (the full sort,
        see `sample_token`); `generate` compiles the one its settings allow (`sort_for`)."""
        return self.begin(
            condition, self.image_length, noise, temperature, top_k, top_p, cfg_scale, guidance, prefix, sort
        )[1]
