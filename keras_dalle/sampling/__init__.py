"""Sampling image tokens from the text-to-image model: one graph for Python, SavedModel and TFLite.

`tokens` draws one token from logits, `conditioning` turns what a picture is conditioned on
(prompt ids, or prompt ids and an image embedding) into the generator's condition states, `loop` runs the decoding loop in the graph (`DecodingLoop`,
what the exports run), `runtime` compiles it for Python callers (`TokenSampler`), and `reference`
is the uncached reference the tests hold it to.

Randomness comes in as `noise`, uniform [B, N] in [0, 1): one number per image token, turned
into a token by inverse-CDF sampling over the filtered distribution. The graph itself has no
random op, so it converts to builtin TFLite ops and to ONNX (no stateless random ops, no
Multinomial seed attributes), and the same noise gives the same tokens everywhere. Python
callers and the SavedModel make the noise from seeds with `noise_from_seeds`; app code can
make it with any uniform generator.

Ops used: top_k, softmax, cumsum, comparisons, casts and sums (one-hot vectors are built as
`range == index`, which tf2onnx converts inside loops too); the key/value cache is started by
the prefill as its keys and values padded with zeros, each step writes into a short row cache
with `where`, and each finished row is moved into the settled cache by a gather and a `where`
(see `keras_dalle.layers.attention.write_to_cache`, `settle_into_cache` and `start_cache`).
"""

from keras_dalle.sampling.conditioning import EmbeddingConditioning, TextConditioning  # noqa: F401
from keras_dalle.sampling.loop import DecodingLoop  # noqa: F401
from keras_dalle.sampling.runtime import (  # noqa: F401
    MIN_TOKEN_ROWS_PER_CALL, PREFILL_LENGTH_MULTIPLE, PROGRESS_UPDATES, TokenSampler, compiled_noise_from_seeds, prefill_length,
)
from keras_dalle.sampling.tokens import (  # noqa: F401
    SEED_DTYPE, SETTING_DTYPES, SETTING_RULES, SHORT_SORT, SORTS, guided, kept_or_drawn, noise_from_seeds, one_hot, per_row, sample_token,
    sort_for, unfiltered, validate_sampling_arguments,
)
