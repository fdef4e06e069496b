"""What the decoding loop conditions on, and how it becomes the generator's condition states.

A conditioning turns a *condition* (a tensor or a tuple of tensors, one row per picture) into the
states [B, C, D] and mask [B, C] that the generator reads before the image tokens, and makes the
null condition that classifier-free guidance contrasts with. The loop only concatenates, counts
and cuts conditions through these methods, so the same loop (and every export of it) serves
captions alone (`TextConditioning`, the text-to-image model) and captions with an image embedding
(`EmbeddingConditioning`, the unCLIP decoder).
"""

import tensorflow as tf

from keras_dalle.layers.masks import padding_mask


def condition_rows(condition):
    """Rows of a condition (a tensor or a tuple of tensors whose first dimension is the batch): a scalar tensor."""
    return tf.shape(tf.nest.flatten(condition)[0])[0]


def concat_rows(first, second):
    """Two conditions of one structure, the rows of `second` after those of `first`."""
    return tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=0), first, second)


class TextConditioning:
    """The condition is prompt ids int32 [B, T] (T <= L); the null condition is the null caption.

    Args:
        text_encoder: a `TextEncoder`.
        null_ids: function batch_size -> null caption ids [batch_size, L].
    """

    def __init__(self, text_encoder, null_ids):
        self.text_encoder = text_encoder
        self.null_ids = null_ids

    @staticmethod
    def ids(condition):
        """The prompt ids of a condition: int32 [B, T]."""
        return condition

    @staticmethod
    def with_ids(condition, ids):
        """`condition` with its prompt ids replaced by `ids` (e.g. cut to fewer positions)."""
        return ids

    def null(self, batch_size, like=None):
        """The null condition for `batch_size` rows, as many prompt positions as `like` has (all L without it)."""
        ids = self.null_ids(batch_size)
        return ids if like is None else ids[:, : self.ids(like).shape[1]]

    def mask(self, condition):
        """Which condition positions the generator may attend to: bool [B, C]."""
        return padding_mask(condition)

    def encode(self, condition, training=None):
        """(condition states [B, C, D], mask [B, C]); here C = T."""
        return self.text_encoder(condition, training=training), self.mask(condition)


class EmbeddingConditioning(TextConditioning):
    """The condition is (prompt ids int32 [B, T], image embedding float32 [B, E]): the embedding
    becomes P prefix states before the prompt's (C = P + T). The null condition is the null caption
    with a zero embedding (what training's embedding dropout feeds).

    Args:
        text_encoder, null_ids: as in `TextConditioning`.
        embedding_prefix: an `EmbeddingPrefix` (embedding [B, E] -> states [B, P, D]).
        embedding_dim: E.
    """

    def __init__(self, text_encoder, null_ids, embedding_prefix, embedding_dim):
        super().__init__(text_encoder, null_ids)
        self.embedding_prefix = embedding_prefix
        self.embedding_dim = embedding_dim

    @staticmethod
    def ids(condition):
        return condition[0]

    @staticmethod
    def with_ids(condition, ids):
        return ids, condition[1]

    def null(self, batch_size, like=None):
        return super().null(batch_size, like), tf.zeros([batch_size, self.embedding_dim], tf.float32)

    def mask(self, condition):
        ids, embedding = condition
        prefix = tf.ones([tf.shape(embedding)[0], self.embedding_prefix.positions], tf.bool)  # (B, P)
        return tf.concat([prefix, padding_mask(ids)], axis=1)  # (B, P + T)

    def encode(self, condition, training=None):
        ids, embedding = condition
        prefix = self.embedding_prefix(embedding, training=training)  # (B, P, D)
        text = self.text_encoder(ids, training=training)  # (B, T, D)
        return tf.concat([tf.cast(prefix, text.dtype), text], axis=1), self.mask(condition)
