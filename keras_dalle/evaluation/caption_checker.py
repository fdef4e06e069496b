"""The caption checker: does a picture show what its shapes-grammar caption says?

It measures generated pictures without any pretrained network (none may be downloaded), so it
is built from the dataset's own rules:

1. Each pixel is explained as `alpha * palette_color` (a shape's color blended with the black
   background, which is what blur and anti-aliasing produce). The palette color with the least
   residual wins; the pixel is foreground when its coverage `alpha` is at least one half and the
   residual is small. This survives blur, noise and JPEG, and tolerates imperfect colors.
2. The object of a stated color is the largest 8-connected region of that color.
3. Its shape is the template (circle, square, triangle drawn by the dataset's own renderer at
   the region's box) with the highest overlap (IoU); its size is its box side against the
   midpoint of small and big; its position is the grid cell of its box center; a relation
   compares two box centers with a margin of S/16.

Example:
    >>> from keras_dalle.data import shapes
    >>> sample = shapes.make_sample(seed=0, index=0)
    >>> check_caption(sample.image, sample.caption).all_hold
    True
"""

import dataclasses

import numpy as np

from keras_dalle.data import grammar, shapes

_PALETTE_NAMES = tuple(grammar.COLORS)
_PALETTE = np.array([grammar.COLORS[c] for c in _PALETTE_NAMES], np.float32)  # (P, 3)
# A foreground pixel covers at least this fraction of its palette color ...
_MIN_COVERAGE = 0.5
# ... and lies within this RGB distance of `alpha * color`.
_MAX_RESIDUAL = 80.0
# Relations need the centers this far apart, as a fraction of the canvas side.
_RELATION_MARGIN = 1 / 16


@dataclasses.dataclass(frozen=True)
class DetectedObject:
    """The largest region of one palette color: its box, pixel count and best-matching shape."""

    color: str
    x0: int
    y0: int
    width: int
    height: int
    area: int
    shape: str

    @property
    def center(self):
        return (self.x0 + self.width / 2, self.y0 + self.height / 2)

    @property
    def side(self):
        return max(self.width, self.height)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """Per stated attribute ("color", "shape", "size", "position", "relation"): does it hold?"""

    caption: str
    attributes: dict

    @property
    def all_hold(self):
        return all(self.attributes.values())


def color_map(image):
    """Per-pixel palette index, or -1 for background: (S, S) int array from (S, S, 3) uint8."""
    pixels = np.asarray(image, np.float32)
    norms = np.sum(_PALETTE**2, axis=1)  # (P,)
    alpha = np.clip(pixels @ _PALETTE.T / norms, 0.0, 1.5)  # (S, S, P)
    residual = np.linalg.norm(pixels[..., None, :] - alpha[..., None] * _PALETTE, axis=-1)  # (S, S, P)
    best = np.argmin(residual, axis=-1)  # (S, S)
    best_alpha = np.take_along_axis(alpha, best[..., None], -1)[..., 0]
    best_residual = np.take_along_axis(residual, best[..., None], -1)[..., 0]
    foreground = (best_alpha >= _MIN_COVERAGE) & (best_residual <= _MAX_RESIDUAL)
    return np.where(foreground, best, -1)


def _largest_region(mask):
    """The largest 8-connected region of a boolean mask, as a boolean mask (None if empty)."""
    height, width = mask.shape
    seen = np.zeros_like(mask)
    best = None
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        region, stack = [], [start]
        seen[start] = True
        while stack:
            y, x = stack.pop()
            region.append((y, x))
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        if best is None or len(region) > len(best):
            best = region
    if best is None:
        return None
    out = np.zeros_like(mask)
    out[tuple(np.array(best).T)] = True
    return out


def _best_shape(region, x0, y0, width, height):
    canvas_size = region.shape[0]
    # Blur and compression erode or grow a region by about a pixel, so templates are tried a
    # pixel or two larger or smaller and shifted by a pixel.
    sides = range(max(2, min(width, height) - 1), max(width, height) + 3)
    scores = {}
    for shape in grammar.SHAPES:
        best = 0.0
        for side in sides:
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    template = shapes.shape_mask(shape, x0 + dx - (side - width) // 2, y0 + dy - (side - height) // 2, side, canvas_size)
                    union = np.sum(template | region)
                    best = max(best, np.sum(template & region) / union if union else 0.0)
        scores[shape] = best
    return max(scores, key=scores.get)


def detect_objects(image):
    """The largest region of each palette color present: {color name: DetectedObject}."""
    image = _validate_image(image)
    canvas_size = image.shape[0]
    labels = color_map(image)
    min_area = max(4, canvas_size**2 // 256)
    found = {}
    for index, name in enumerate(_PALETTE_NAMES):
        mask = labels == index
        if mask.sum() < min_area:
            continue
        region = _largest_region(mask)
        if region.sum() < min_area:
            continue
        ys, xs = np.nonzero(region)
        x0, y0 = int(xs.min()), int(ys.min())
        width, height = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
        shape = _best_shape(region, x0, y0, width, height)
        found[name] = DetectedObject(name, x0, y0, width, height, int(region.sum()), shape)
    return found


def _validate_image(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be a square (S, S, 3) RGB array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    return image


def check_caption(image, caption):
    """Checks each attribute that `caption` states against `image` ((S, S, 3) uint8).

    Raises `grammar.CaptionError` for a caption outside the shapes grammar.
    """
    spec = grammar.parse_caption(caption)
    found = detect_objects(image)
    canvas_size = image.shape[0]
    objects = [found.get(obj.color) for obj in spec.objects]
    attributes = {
        "color": all(o is not None for o in objects),
        "shape": all(o is not None and o.shape == s.shape for o, s in zip(objects, spec.objects)),
    }
    if spec.relation is not None:
        a, b = objects
        attributes["relation"] = (
            a is not None
            and b is not None
            and shapes.relation_holds(spec.relation, a.center, b.center, _RELATION_MARGIN * canvas_size)
        )
        return CheckResult(caption, attributes)
    (obj,), (stated,) = objects, spec.objects
    if stated.size is not None:
        small = obj is not None and obj.side < 0.375 * canvas_size
        attributes["size"] = obj is not None and small == (stated.size == "small")
    if stated.position is not None:
        attributes["position"] = (
            obj is not None and shapes.cell_of(obj.center, canvas_size) == grammar.POSITIONS[stated.position]
        )
    return CheckResult(caption, attributes)


ATTRIBUTES = ("color", "shape", "size", "position", "relation")


def summarize(results):
    """{"all": fraction of `CheckResult`s whose every attribute holds, "<attribute>": fraction
    right among those whose caption states it}."""
    summary = {"all": float(np.mean([r.all_hold for r in results])) if results else 0.0}
    for attribute in ATTRIBUTES:
        values = [r.attributes[attribute] for r in results if attribute in r.attributes]
        if values:
            summary[attribute] = float(np.mean(values))
    return summary


def accuracy(images, captions):
    """Checks many pictures: `summarize` of their results, plus "count": N."""
    results = [check_caption(img, cap) for img, cap in zip(images, captions, strict=True)]
    return {**summarize(results), "count": len(results)}
