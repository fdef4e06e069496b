"""A token embedding looked up by a one-hot matmul, for graphs that are quantized to int8."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dalle")
class OneHotEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` (same weight, same outputs) computed as one_hot(ids) @ table.

    Why: full-int8 TFLite quantizes a GATHER's table with the range calibrated for the lookup's
    output (int8 GATHER keeps its input's scale), so a table looked up in two exported signatures
    is stored twice when their calibrated ranges differ. A matmul's weight scale comes from the
    weights alone, so the converter stores one table. The one-hot rows come from `where`, not
    `cast(equal(...))`, which the converter turns into a ONE_HOT op whose int8 "off" value is 0.5.
    In float the result equals the gather exactly (each output is one table entry times 1.0).
    The table is small (the image codebook); do not use this for large vocabularies.

    Call: ids int [...] -> [..., output_dim].
    """

    def call(self, inputs):
        ids = ops.cast(inputs, "int32")
        hits = ops.expand_dims(ids, -1) == ops.arange(self.input_dim, dtype="int32")  # (..., V)
        rows = ops.where(hits, ops.ones((), self.compute_dtype), ops.zeros((), self.compute_dtype))
        return ops.matmul(rows, ops.cast(self.embeddings, self.compute_dtype))  # (..., D)
