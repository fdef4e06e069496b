"""Learned position embeddings: 1-D for sequences, factorized 2-D for token grids."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dalle")
class GridPositionEmbedding(keras.layers.Layer):
    """Adds a learned row embedding and a learned column embedding to a [B, H, W, D] grid.

    Args:
        height: grid rows.
        width: grid columns.
    """

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height = height
        self.width = width

    def build(self, input_shape):
        dim = input_shape[-1]
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.rows = self.add_weight(shape=(self.height, dim), initializer=init, name="rows")
        self.columns = self.add_weight(shape=(self.width, dim), initializer=init, name="columns")

    def call(self, grid):
        return grid + self.rows[None, :, None, :] + self.columns[None, None, :, :]

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="keras_dalle")
class PositionEmbedding(keras.layers.Layer):
    """A learned embedding per position, added to [B, T, D] (T <= sequence_length).

    Args:
        sequence_length: the longest sequence.
    """

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]), initializer=init, name="embeddings")

    def call(self, x, start_index=0):
        positions = start_index + ops.arange(ops.shape(x)[1])
        return x + ops.take(self.embeddings, positions, axis=0)[None]

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}
