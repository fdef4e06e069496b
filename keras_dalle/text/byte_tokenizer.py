"""The prompt tokenizer: normalized UTF-8 bytes as token ids.

Why bytes and not WordPiece: prompt ids must be identical in three places, training, the
SavedModel (raw strings in) and Android (a builtin-ops .tflite, so ids are made in app code).
With bytes the whole algorithm is "normalize, UTF-8 encode, add an offset, truncate, pad": a
few lines in Kotlin, no vocabulary file to ship and keep in sync, and any language works
(Chinese prompts included) with no unknown tokens. The cost is longer sequences (one id per
byte), which is cheap for captions of a few dozen characters.

The contract, reproduced by `tests/data/tokenizer_vectors.json` (any other implementation
must give those ids):
1. Normalize: Unicode NFKC with case folding (tensorflow-text `case_fold_utf8`, which is ICU's
   NFKC_Casefold), then runs of whitespace become one space and the ends are stripped.
2. Encode as UTF-8 bytes; byte `b` becomes id `b + BYTE_OFFSET`.
3. Truncate to `max_length` ids (a byte count: a multi-byte character may be cut; that is
   harmless to the model and trivial to reproduce). `truncated()` reports which prompts were cut.
4. Pad with `PAD_ID` to `max_length`.
The null caption (classifier-free guidance) is `NULL_ID` followed by padding.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

PAD_ID = 0
NULL_ID = 1
BYTE_OFFSET = 2
VOCAB_SIZE = 256 + BYTE_OFFSET
SPACE_ID = ord(" ") + BYTE_OFFSET  # after normalisation the only whitespace, one between words


@keras.saving.register_keras_serializable(package="keras_dalle")
class ByteTokenizer(keras.layers.Layer):
    """Turns prompt strings into fixed-length byte ids, in the graph (TensorFlow ops only).

    Args:
        max_length: ids per prompt; longer prompts are truncated, shorter ones padded.

    Example:
        >>> tokenizer = ByteTokenizer(max_length=8)
        >>> tokenizer(tf.constant(["A  Red circle"])).numpy()
        array([[ 99,  34, 116, 103, 102,  34, 101, 107]], dtype=int32)
    """

    vocab_size = VOCAB_SIZE
    pad_id = PAD_ID
    null_id = NULL_ID

    def __init__(self, max_length=64, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        self.max_length = max_length

    def normalize(self, prompts):
        """NFKC with case folding, whitespace collapsed and stripped: string [B] -> string [B]."""
        text = tf_text.case_fold_utf8(tf.convert_to_tensor(prompts, tf.string))
        return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))

    def byte_lengths(self, prompts):
        """Normalized length in bytes before truncation: int32 [B]."""
        return tf.strings.length(self.normalize(prompts), unit="BYTE")

    def truncated(self, prompts):
        """Whether each prompt is longer than `max_length` bytes once normalized: bool [B]."""
        return self.byte_lengths(prompts) > self.max_length

    def call(self, prompts):
        return self.ids_and_lengths(prompts)[0]

    def ids_and_lengths(self, prompts):
        """(ids int32 [B, max_length], normalized lengths in bytes before truncation int32 [B]),
        normalizing once."""
        text = self.normalize(prompts)  # [B]
        byte_lengths = tf.strings.length(text, unit="BYTE")  # [B]
        padding = tf.fill(tf.shape(text), "\0" * self.max_length)
        fixed = tf.strings.substr(tf.strings.join([text, padding]), 0, self.max_length)  # [B] of L bytes
        byte_values = tf.cast(tf.io.decode_raw(fixed, tf.uint8), tf.int32)  # [B, L]
        positions = tf.range(self.max_length)[None, :]  # [1, L]
        ids = tf.where(positions < tf.minimum(byte_lengths, self.max_length)[:, None], byte_values + BYTE_OFFSET, PAD_ID)
        return ids, byte_lengths

    def null_ids(self, batch_size):
        """The null caption, for classifier-free guidance: int32 [batch_size, max_length]."""
        row = tf.cast(tf.equal(tf.range(self.max_length), 0), tf.int32) * NULL_ID  # (L,)
        return tf.zeros((batch_size, 1), tf.int32) + row[None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.max_length,)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


def detokenize(ids):
    """Ids back to normalized text (Python side): int array [B, L] -> list of str."""
    out = []
    for row in np.asarray(ids):
        data = bytes(int(i) - BYTE_OFFSET for i in row if i >= BYTE_OFFSET)
        out.append(data.decode("utf-8", errors="replace"))
    return out
