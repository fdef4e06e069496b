"""A token embedding that full-int8 TFLite can store once: a gather, or a one-hot matmul while converting."""

import keras
from keras import ops

from keras_dalle.layers.tracing import TracingSwitch

_one_hot = TracingSwitch()


def one_hot_lookups():
    """Within this block, every `OneHotEmbedding` that is called (or traced) looks up by a one-hot matmul."""
    return _one_hot.on()


@keras.saving.register_keras_serializable(package="keras_dalle")
class OneHotEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` (same weight, same outputs) that inside `one_hot_lookups()` computes
    one_hot(ids) @ table instead of a gather. The full-int8 TFLite export traces it that way.

    Why: full-int8 TFLite quantizes a GATHER's table with the range calibrated for the lookup's
    output (int8 GATHER keeps its input's scale), so a table looked up in two exported signatures
    is stored twice when their calibrated ranges differ. A matmul's weight scale comes from the
    weights alone, so the converter stores one table. Everywhere else the gather stays: the matmul
    costs K x D multiply-adds per token (3-4% of an XLA decoding step of the `small` generator at
    batch 16). In float the two are equal exactly (each output is one table entry times 1.0). The
    one-hot rows come from `where`, not `cast(equal(...))`, which the converter turns into a
    ONE_HOT op whose int8 "off" value is 0.5.

    Call: ids int [...] -> [..., output_dim].
    """

    def call(self, inputs):
        if not _one_hot.active:
            return super().call(inputs)
        ids = ops.cast(inputs, "int32")
        hits = ops.expand_dims(ids, -1) == ops.arange(self.input_dim, dtype="int32")  # (..., V)
        rows = ops.where(hits, ops.ones((), self.compute_dtype), ops.zeros((), self.compute_dtype))
        return ops.matmul(rows, ops.cast(self.embeddings, self.compute_dtype))  # (..., D)
