"""Convolutional blocks for the image encoder, decoder and discriminator."""

import keras


def group_count(channels):
    """GroupNorm groups: 8 when the channels allow it, else the largest divisor below 8."""
    return max(g for g in range(1, 9) if channels % g == 0)


@keras.saving.register_keras_serializable(package="keras_dalle")
class ResidualBlock(keras.layers.Layer):
    """GroupNorm, swish, 3x3 conv, twice, plus a (1x1-projected when widths differ) skip.

    Args:
        channels: output channels.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.norm_1 = keras.layers.GroupNormalization(group_count(in_channels), name="norm_1")
        self.conv_1 = keras.layers.Conv2D(self.channels, 3, padding="same", name="conv_1")
        self.norm_2 = keras.layers.GroupNormalization(group_count(self.channels), name="norm_2")
        self.conv_2 = keras.layers.Conv2D(self.channels, 3, padding="same", name="conv_2")
        self.skip = None
        if in_channels != self.channels:
            self.skip = keras.layers.Conv2D(self.channels, 1, name="skip")
            self.skip.build(input_shape)
        out_shape = tuple(input_shape[:-1]) + (self.channels,)
        self.norm_1.build(input_shape)
        self.conv_1.build(input_shape)
        self.norm_2.build(out_shape)
        self.conv_2.build(out_shape)

    def call(self, x):
        h = self.conv_1(keras.activations.silu(self.norm_1(x)))
        h = self.conv_2(keras.activations.silu(self.norm_2(h)))
        return h + (x if self.skip is None else self.skip(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def strided_convolutions(channels):
    """PatchGAN's trunk: 4x4 stride-2 convolutions, GroupNorm after all but the first.

    Returns (convs, norms) for `apply_strided_convolutions`; a layer keeps both as attributes.
    """
    convs = [keras.layers.Conv2D(width, 4, strides=2, padding="same", name=f"conv_{i}") for i, width in enumerate(channels)]
    norms = [None] + [
        keras.layers.GroupNormalization(group_count(width), name=f"norm_{i}") for i, width in enumerate(channels[1:], 1)
    ]
    return convs, norms


def apply_strided_convolutions(convs, norms, x):
    """[B, H, W, C] -> [B, H / 2^n, W / 2^n, channels[-1]], with leaky ReLU after each convolution."""
    for conv, norm in zip(convs, norms):
        x = conv(x)
        x = keras.activations.leaky_relu(x if norm is None else norm(x), negative_slope=0.2)
    return x
