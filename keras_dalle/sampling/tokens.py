"""One image token from the generator's logits: the sampling settings, their checks, the noise, the
inverse-CDF draw with temperature, top-k, top-p and guidance, and image completion's kept tokens."""

import dataclasses

import numpy as np
import tensorflow as tf

SEED_DTYPE = "int64"


@dataclasses.dataclass(frozen=True)
class SettingRule:
    """The range of one sampling setting, which the Python checks and the exported graphs' asserts
    both read: `above` < value (or `above` <= value where `above_inclusive`), value <= `at_most`
    ("codebook": the model's codebook size; None: no upper end)."""

    name: str
    dtype: str  # the dtype every export takes the setting in (the SavedModel's `generate`, TFLite, ONNX)
    above: float
    above_inclusive: bool = False
    at_most: object = None
    note: str = ""

    def upper(self, codebook_size):
        return codebook_size if self.at_most == "codebook" else self.at_most

    def message(self, codebook_size):
        """What a value out of range is told, e.g. "top_p must be in (0, 1]"."""
        upper = self.upper(codebook_size)
        kind = "an int " if self.dtype.startswith("int") else ""
        if upper is None:
            text = f"{self.name} must be {'>=' if self.above_inclusive else '>'} {self.above:g}"
        else:
            text = f"{self.name} must be {kind}in {'[' if self.above_inclusive else '('}{self.above:g}, {upper:g}]"
        return f"{text} ({self.note})" if self.note else text

    def holds(self, value, codebook_size):
        """Whether a Python value is in range (ints only for an int setting)."""
        if self.dtype.startswith("int") and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)):
            return False
        upper = self.upper(codebook_size)
        above = value >= self.above if self.above_inclusive else value > self.above
        return bool(above and (upper is None or value <= upper))

    def graph_checks(self, values, codebook_size):
        """In-graph asserts of per-row values; a failing one raises InvalidArgument with `message`."""
        message = self.message(codebook_size)
        above = tf.debugging.assert_greater_equal if self.above_inclusive else tf.debugging.assert_greater
        checks = [above(values, tf.cast(self.above, values.dtype), message=message)]
        upper = self.upper(codebook_size)
        if upper is not None:
            checks.append(tf.debugging.assert_less_equal(values, tf.cast(upper, values.dtype), message=message))
        return checks


# The sampling settings in signature order: the one table of their dtypes and ranges.
SETTING_RULES = (
    SettingRule("temperature", "float32", 0.0),
    SettingRule("top_k", "int32", 0, above_inclusive=True, at_most="codebook", note="0 = no top-k filter"),
    SettingRule("top_p", "float32", 0.0, at_most=1.0),
    SettingRule("cfg_scale", "float32", 0.0, above_inclusive=True),
)
SETTING_DTYPES = {rule.name: rule.dtype for rule in SETTING_RULES}


def validate_sampling_arguments(temperature, top_k, top_p, cfg_scale, codebook_size):
    """Raises ValueError for settings outside their ranges (Python-side, before any graph runs)."""
    for rule, value in zip(SETTING_RULES, (temperature, top_k, top_p, cfg_scale)):
        if not rule.holds(value, codebook_size):
            raise ValueError(f"{rule.message(codebook_size)}, got {value!r}")


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
