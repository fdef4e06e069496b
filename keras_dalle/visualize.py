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


_SERIES_COLORS = ((90, 170, 250), (250, 160, 60), (120, 210, 120), (230, 90, 90), (190, 130, 240), (240, 220, 90))


def line_chart(series, title=None, x_label="", size=(640, 360), y_range=None, font_size=12):
    """A PIL line chart of `series`: {name: (xs, ys)}, one colored line each, with a legend.

    Args:
        series: names to equal-length sequences of x and y values.
        y_range: (low, high) of the y axis (default: the data's, padded).
    """
    series = {name: (np.asarray(xs, float), np.asarray(ys, float)) for name, (xs, ys) in series.items() if len(xs)}
    if not series:
        raise ValueError("line_chart needs at least one non-empty series")
    width, height = size
    font = _font(font_size)
    left, right, top, bottom = 56, 16, 28 if title else 12, 40
    xs_all = np.concatenate([xs for xs, _ in series.values()])
    ys_all = np.concatenate([ys for _, ys in series.values()])
    x_low, x_high = xs_all.min(), max(xs_all.max(), xs_all.min() + 1e-9)
    y_low, y_high = y_range or (ys_all.min() - 0.05 * np.ptp(ys_all), ys_all.max() + 0.05 * np.ptp(ys_all) + 1e-9)
    canvas = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    def point(x, y):
        px = left + (x - x_low) / (x_high - x_low) * (width - left - right)
        py = height - bottom - (y - y_low) / (y_high - y_low) * (height - top - bottom)
        return px, py

    if title:
        draw.text((left, 6), title, fill=_TEXT, font=font)
    draw.rectangle([left, top, width - right, height - bottom], outline=(110, 110, 110))
    for fraction in np.linspace(0, 1, 5):
        y = y_low + fraction * (y_high - y_low)
        _, py = point(x_low, y)
        draw.line([left, py, width - right, py], fill=(50, 50, 50))
        draw.text((4, py - font_size / 2), f"{y:.3g}", fill=_TEXT, font=font)
        x = x_low + fraction * (x_high - x_low)
        px, _ = point(x, y_low)
        label = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"  # "12,125", not "1.212e+04"
        label_width = draw.textlength(label, font=font)
        draw.text((min(px - label_width / 2, width - label_width - 2), height - bottom + 4), label, fill=_TEXT, font=font)
    draw.text((left, height - font_size - 4), x_label, fill=_TEXT, font=font)
    for index, (name, (xs, ys)) in enumerate(series.items()):
        color = _SERIES_COLORS[index % len(_SERIES_COLORS)]
        points = [point(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
        legend_y = top + 6 + index * (font_size + 4)
        draw.line([width - right - 150, legend_y + font_size / 2, width - right - 134, legend_y + font_size / 2], fill=color, width=3)
        draw.text((width - right - 130, legend_y), name, fill=_TEXT, font=font)
    return canvas
