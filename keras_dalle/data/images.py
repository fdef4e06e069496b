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


def pictures_from(image, size):
    """Pictures given in any common form -> uint8 (B, size, size, 3), each via `resize_and_center_crop`.

    `image`: a PIL image, a list of them, or a numpy array: [H, W] (grey), [H, W, C] (C = 1, 3 or 4)
    for one picture, [B, H, W] or [B, H, W, C] for several. Integer arrays are 0-255; float arrays
    are taken as 0-1. Anything else raises ValueError.
    """
    if isinstance(image, Image.Image):
        return resize_and_center_crop(image, size)[None]
    if isinstance(image, (list, tuple)) and image and all(isinstance(i, Image.Image) for i in image):
        return np.stack([resize_and_center_crop(i, size) for i in image])
    array = np.asarray(image)
    if array.dtype.kind == "f":
        array = np.clip(np.round(array * 255), 0, 255)
    elif array.dtype.kind not in "ui" or array.size == 0:
        raise ValueError(f"an image must be a PIL image or a numeric array, got {type(image).__name__} of {array.dtype}")
    one_picture = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))
    if not one_picture and array.ndim not in (3, 4):
        raise ValueError(f"an image array must be [H, W], [H, W, C] or [B, H, W, C] (C = 1, 3 or 4), got shape {array.shape}")
    batch = array[None] if one_picture else array
    if batch.ndim == 4 and batch.shape[-1] not in (1, 3, 4):
        raise ValueError(f"an image array must have 1, 3 or 4 channels, got shape {array.shape}")
    batch = np.clip(batch, 0, 255).astype(np.uint8)
    if batch.ndim == 4 and batch.shape[-1] == 1:
        batch = batch[..., 0]
    modes = {3: "RGB", 4: "RGBA"}
    return np.stack([resize_and_center_crop(Image.fromarray(p, "L" if p.ndim == 2 else modes[p.shape[-1]]), size) for p in batch])


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
