"""A pre-norm Transformer block."""

import keras

from keras_dalle.layers.attention import CachedMultiHeadAttention


@keras.saving.register_keras_serializable(package="keras_dalle")
class TransformerBlock(keras.layers.Layer):
    """Pre-LayerNorm self-attention and MLP, each with a residual connection.

    Args:
        num_heads: attention heads; the width must divide by it.
        mlp_ratio: hidden width of the MLP as a multiple of the model width.
        dropout: dropout rate after attention and MLP.

    Call arguments are those of `CachedMultiHeadAttention`; with a cache (given or started by
    `new_cache_length`) the updated cache is returned as well. With `last_query_only` the block
    outputs x's last step alone, [B, 1, D].
    """

    def __init__(self, num_heads, mlp_ratio=4, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout

    def build(self, input_shape):
        width = input_shape[-1]
        if width % self.num_heads:
            raise ValueError(f"width {width} must be divisible by num_heads {self.num_heads}")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = CachedMultiHeadAttention(self.num_heads, width // self.num_heads, name="attention")
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.mlp_in = keras.layers.Dense(width * self.mlp_ratio, activation="gelu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(width, name="mlp_out")
        self.dropout_layer = keras.layers.Dropout(self.dropout)
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (width * self.mlp_ratio,))

    def call(
        self, x, attention_mask=None, cache=None, cache_index=None, new_cache_length=None, new_cache_offset=0,
        last_query_only=False, training=None,
    ):
        attended = self.attention(
            self.attention_norm(x), attention_mask=attention_mask, cache=cache, cache_index=cache_index,
            new_cache_length=new_cache_length, new_cache_offset=new_cache_offset, last_query_only=last_query_only,
        )
        if cache is not None or new_cache_length is not None:
            attended, cache = attended
        if last_query_only:
            x = x[:, -1:]  # (B, 1, D)
        x = x + self.dropout_layer(attended, training=training)
        x = x + self.dropout_layer(self.mlp_out(self.mlp_in(self.mlp_norm(x))), training=training)
        return x if cache is None else (x, cache)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
        }
