"""Stress material for the caption checker: degraded pictures and wrong captions.

`degrade` applies what generated pictures suffer from (blur, noise, compression);
`wrong_caption` changes one stated attribute of a true caption to a value the picture
certainly does not show, so the checker must reject it.
"""

import dataclasses
import io

import numpy as np
from PIL import Image

from keras_dalle.data import grammar, shapes


def gaussian_blur(image, sigma):
    """Separable Gaussian blur of an (S, S, 3) uint8 picture, edges reflected."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    out = np.asarray(image, np.float32)
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in range(3)], mode="reflect")
        out = sum(w * np.take(padded, np.arange(i, i + out.shape[axis]), axis=axis) for i, w in enumerate(kernel))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def jpeg(image, quality):
    """JPEG round trip without chroma subsampling (4:4:4)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def degrade(image, rng, blur_sigma=0.7, noise_sigma=10.0, jpeg_quality=75):
    """Blur, then Gaussian noise (in 0..255 units), then JPEG: the checker's robustness test."""
    out = gaussian_blur(image, blur_sigma).astype(np.float32)
    out = np.clip(np.round(out + rng.normal(0.0, noise_sigma, out.shape)), 0, 255).astype(np.uint8)
    return jpeg(out, jpeg_quality)


def _other(rng, options, current):
    choices = [o for o in options if o != current]
    return choices[rng.integers(len(choices))]


def wrong_caption(sample, rng):
    """`sample`'s caption with one stated attribute changed to one its picture does not show.

    Colors change to one absent from the picture, shapes to another shape, sizes to the other
    size, positions to another cell, relations to their opposite.
    """
    spec = grammar.parse_caption(sample.caption)
    present = {o.color for o in sample.objects}
    absent_colors = [c for c in grammar.COLORS if c not in present]
    stated = ["color", "shape"] + (["relation"] if spec.relation else [])
    one = spec.objects[0]
    stated += [a for a in ("size", "position") if spec.relation is None and getattr(one, a) is not None]
    attribute = stated[rng.integers(len(stated))]
    if attribute == "relation":
        return grammar.format_caption(dataclasses.replace(spec, relation=grammar.OPPOSITE_RELATION[spec.relation]))
    which = rng.integers(len(spec.objects))
    obj = spec.objects[which]
    if attribute == "color":
        changed = dataclasses.replace(obj, color=absent_colors[rng.integers(len(absent_colors))])
    elif attribute == "shape":
        changed = dataclasses.replace(obj, shape=_other(rng, grammar.SHAPES, obj.shape))
    elif attribute == "size":
        changed = dataclasses.replace(obj, size=_other(rng, grammar.SIZES, obj.size))
    else:
        changed = dataclasses.replace(obj, position=_other(rng, list(grammar.POSITIONS), obj.position))
    objects = tuple(changed if i == which else o for i, o in enumerate(spec.objects))
    return grammar.format_caption(dataclasses.replace(spec, objects=objects))


def checker_benchmark_sets(num, seed=0, canvas_size=32):
    """Three sets of (images, captions) from the shapes generator, held-out pairs included:
    "clean" (true captions), "degraded" (true captions) and "wrong" (one attribute changed)."""
    rng = np.random.default_rng([seed, 99])
    samples = [shapes.make_sample(seed, i, canvas_size, "mixed", include_held_out=True) for i in range(num)]
    clean = [s.image for s in samples]
    captions = [s.caption for s in samples]
    return {
        "clean": (clean, captions),
        "degraded": ([degrade(img, rng) for img in clean], captions),
        "wrong": (clean, [wrong_caption(s, rng) for s in samples]),
    }
