"""Learned position embeddings: 1-D for sequences, factorized 2-D for token grids."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dalle")
class GridPositionEmbedding(keras.layers.Layer):
    """Adds a learned row embedding and a learned column embedding (axial positions) to a token grid.

    The grid comes as [B, H, W, D], or flattened row-major as [B, T, D] holding the cells
    `start_index .. start_index + T - 1` (a slice of the H * W sequence, as an autoregressive
    decoder feeds it).

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

    def call(self, grid, start_index=0):
        if len(grid.shape) == 4:
            return grid + self.rows[None, :, None, :] + self.columns[None, None, :, :]
        cells = start_index + ops.arange(ops.shape(grid)[1])  # (T,) flat row-major cell indices
        rows = ops.take(self.rows, cells // self.width, axis=0)
        columns = ops.take(self.columns, cells % self.width, axis=0)
        return grid + (rows + columns)[None]  # (B, T, D)

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
