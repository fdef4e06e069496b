"""Labelled picture grids for people: tiles upscaled with nearest neighbour, captions beneath."""

import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support: the fixed bitmap font
        return ImageFont.load_default()


def image_grid(images, labels=None, columns=None, scale=4, title=None, font_size=12):
    """A PIL image of `images` (uint8 [N, H, W, 3]) in a grid, each labelled beneath.

    Args:
        images: uint8 array or list of (H, W, 3) arrays.
        labels: optional text per image, wrapped to the tile width.
        columns: tiles per row (default: up to 8).
        scale: integer nearest-neighbour upscaling, so small pictures stay crisp.
        title: optional line above the grid.
    """
    images = [np.asarray(img) for img in images]
    if not images:
        raise ValueError("image_grid needs at least one image")
    if any(img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3 for img in images):
        raise ValueError("image_grid takes uint8 (H, W, 3) images")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    columns = columns or min(8, len(images))
    rows = -(-len(images) // columns)
    height, width = images[0].shape[:2]
    tile_w, tile_h = width * scale, height * scale
    font = _font(font_size)
    line_h = font_size + 3
    chars_per_line = max(8, int(tile_w / (font_size * 0.55)))
    wrapped = [textwrap.wrap(label, chars_per_line) for label in labels] if labels else [[] for _ in images]
    label_h = max(len(w) for w in wrapped) * line_h + (4 if labels else 0)
    title_h = line_h + 6 if title else 0
    pad = 6
    canvas = Image.new(
        "RGB",
        (columns * (tile_w + pad) + pad, title_h + rows * (tile_h + label_h + pad) + pad),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill=_TEXT, font=font)
    for index, (image, lines) in enumerate(zip(images, wrapped)):
        row, col = divmod(index, columns)
        x = pad + col * (tile_w + pad)
        y = title_h + pad + row * (tile_h + label_h + pad)
        canvas.paste(Image.fromarray(image).resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y))
        for n, line in enumerate(lines):
            draw.text((x, y + tile_h + 2 + n * line_h), line, fill=_TEXT, font=font)
    return canvas
