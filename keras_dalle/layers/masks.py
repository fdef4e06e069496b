"""Attention masks of the text-to-image sequence: text padding, words, and the fused prefix mask."""

from keras import ops

from keras_dalle.text.byte_tokenizer import PAD_ID, SPACE_ID


def padding_mask(token_ids):
    """bool [B, L]: True at real (non-pad) text positions."""
    return ops.not_equal(token_ids, PAD_ID)


def word_indices(token_ids):
    """int32 [B, L]: the index of the word each byte belongs to (0 for the first word).

    A space starts the word after it; the tokenizer has collapsed runs of whitespace to one space.
    """
    return ops.cumsum(ops.cast(ops.equal(token_ids, SPACE_ID), "int32"), axis=1)


def word_mask(token_ids):
    """bool [B, L, L]: True where query and key are bytes of one word (`word_indices`) and the key is not pad."""
    word_ids = word_indices(token_ids)  # (B, L)
    same_word = ops.equal(word_ids[:, :, None], word_ids[:, None, :])  # (B, L, L)
    return same_word & padding_mask(token_ids)[:, None, :]


def prefix_mask(text_mask, image_length):
    """Attention mask of the fused sequence: bool [B, L + N, L + N], True where query may see key.

    Every query sees the non-pad text keys; image queries also see image keys up to their own position.
    """
    text_length = ops.shape(text_mask)[1]
    total = text_length + image_length
    positions = ops.arange(total)
    key_is_image = positions >= text_length  # (T,)
    causal = positions[:, None] >= positions[None, :]  # (T, T)
    query_is_image = key_is_image[:, None]
    image_part = query_is_image & key_is_image[None, :] & causal  # (T, T)
    text_keys = ops.concatenate([text_mask, ops.zeros((ops.shape(text_mask)[0], image_length), "bool")], axis=1)
    return text_keys[:, None, :] | image_part[None]  # (B, T, T)


def row_start(step, row_length):
    """The first image position of the cache row that holds image position `step`: a multiple of R."""
    return (step // row_length) * row_length


def decoding_mask_row(text_mask, image_length, row_length, step):
    """What image query `step` (1..N-1) of `prefix_mask` sees, laid out as a decoding cache holds it
    (`CachedMultiHeadAttention`): bool [B, 1, L + N + R].

    The settled part (L + N slots): the non-pad text keys, and the image keys before the step's
    row (position 0, the begin token, is settled by the prefill: always). The row part (R slots,
    slot j = image position start + j): the row's keys up to `step`, position 0 excepted.
    """
    batch = ops.shape(text_mask)[0]
    start = row_start(step, row_length)
    settled = ops.arange(image_length) < ops.maximum(start, 1)  # (N,)
    row = start + ops.arange(row_length)  # (R,): the image position of each slot
    in_row = ops.logical_and(row <= step, row >= 1)  # (R,)
    image_keys = ops.broadcast_to(ops.concatenate([settled, in_row])[None, :], (batch, image_length + row_length))
    return ops.concatenate([text_mask, image_keys], axis=1)[:, None, :]  # (B, 1, L + N + R)
