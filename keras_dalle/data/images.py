"""Image preprocessing shared by every source: RGB conversion, resize of the shorter side and a center crop.

Images come out as uint8 (S, S, 3); grayscale, palette and RGBA images become RGB (transparency
is composited onto black). `resize_and_center_crop_tf` is the in-graph twin for packed shards.
"""

import numpy as np
from PIL import Image


def to_rgb(image):
    """A PIL image as RGB; transparency is composited onto black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_center_crop(image, size):
    """Resizes a PIL image so its shorter side is `size`, then crops the center: uint8 (size, size, 3)."""
    image = to_rgb(image)
    width, height = image.size
    if (width, height) != (size, size):
        scale = size / min(width, height)
        new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new_size, Image.Resampling.BICUBIC)
        left, top = (new_size[0] - size) // 2, (new_size[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, np.uint8)


def load_image(path, size):
    """Reads an image file as uint8 (size, size, 3) via `resize_and_center_crop`."""
    with Image.open(path) as image:
        return resize_and_center_crop(image, size)


def resize_and_center_crop_tf(image, size):
    """The TensorFlow twin of `resize_and_center_crop` for uint8 [H, W, 3] tensors."""
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = size / tf.reduce_min(shape)
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    resized = tf.image.resize(image, new_shape, method="bicubic", antialias=True)
    top, left = (new_shape[0] - size) // 2, (new_shape[1] - size) // 2
    cropped = tf.image.crop_to_bounding_box(resized, top, left, size, size)
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8)
