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


def prefix_mask_row(text_mask, image_length, step):
    """Row `L + step` of `prefix_mask` (image query `step`, 0..N-1) alone: bool [B, 1, L + N].

    What one decoding step needs, without building the [B, T, T] mask: the non-pad text keys and
    the image keys up to `step`.
    """
    batch = ops.shape(text_mask)[0]
    image_keys = ops.broadcast_to(ops.arange(image_length)[None, :] <= step, (batch, image_length))  # (B, N)
    return ops.concatenate([text_mask, image_keys], axis=1)[:, None, :]
