"""The built-in "shapes" dataset: seeded, deterministic captioned pictures.

Pictures are S x S RGB on black with one or two filled shapes (circle, square, triangle with its
apex up) in exact palette colors, drawn with hard edges. Captions follow `grammar`.

Sample `i` of seed `s` depends only on (s, i), so a larger `num` extends a smaller one.

Example:
    >>> images, captions = generate_shapes(4, seed=0)
    >>> images.shape, images.dtype
    ((4, 32, 32, 3), dtype('uint8'))
"""

import dataclasses
import json
import pathlib

import numpy as np
from PIL import Image

from keras_dalle.data import grammar
from keras_dalle.progress import progress_bar

OBJECT_COUNTS = ("1", "2", "mixed")
_ALL_PAIRS = tuple((c, s) for c in grammar.COLORS for s in grammar.SHAPES)
_TRAIN_PAIRS = tuple(p for p in _ALL_PAIRS if p not in grammar.HELD_OUT_PAIRS)
# Two-object layouts keep this many background pixels between the objects' boxes.
_MIN_GAP = 2


@dataclasses.dataclass(frozen=True)
class PlacedObject:
    """An object on the canvas: its box is [x0, x0 + side) x [y0, y0 + side) in pixels."""

    color: str
    shape: str
    x0: int
    y0: int
    side: int

    @property
    def center(self):
        return (self.x0 + self.side / 2, self.y0 + self.side / 2)


@dataclasses.dataclass(frozen=True)
class ShapeSample:
    """One picture with its caption and the full truth it was drawn from."""

    image: np.ndarray  # (S, S, 3) uint8
    caption: str
    objects: tuple  # of PlacedObject


def shape_mask(shape, x0, y0, side, canvas_size):
    """Boolean (canvas_size, canvas_size) mask of a filled shape whose box starts at (x0, y0).

    A pixel is inside when its center is: hard edges, so colors stay exact.
    """
    ys, xs = np.mgrid[0:canvas_size, 0:canvas_size] + 0.5
    cx, cy = x0 + side / 2, y0 + side / 2
    inside_box = (xs >= x0) & (xs < x0 + side) & (ys >= y0) & (ys < y0 + side)
    if shape == "square":
        return inside_box
    if shape == "circle":
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= (side / 2) ** 2
    if shape == "triangle":  # apex at the top middle, base along the bottom edge
        return inside_box & (np.abs(xs - cx) <= (ys - y0) / 2)
    raise ValueError(f"unknown shape {shape!r}; expected one of {grammar.SHAPES}")


def render(objects, canvas_size):
    """Draws placed objects on a black canvas; returns (S, S, 3) uint8."""
    image = np.zeros((canvas_size, canvas_size, 3), np.uint8)
    for obj in objects:
        image[shape_mask(obj.shape, obj.x0, obj.y0, obj.side, canvas_size)] = grammar.COLORS[obj.color]
    return image


def cell_of(center, canvas_size):
    """(row, column) of the 3 x 3 grid cell holding a point given as (x, y)."""
    x, y = center
    cell = canvas_size / 3
    return (min(int(y // cell), 2), min(int(x // cell), 2))


def relation_holds(relation, a, b, margin):
    """Whether `a {relation} b` holds for object centers (x, y), with at least `margin` pixels."""
    (ax, ay), (bx, by) = a, b
    return {
        "to the left of": bx - ax,
        "to the right of": ax - bx,
        "above": by - ay,
        "below": ay - by,
    }[relation] >= margin


def _side(rng, size, canvas_size):
    return int(round(grammar.SIZE_FRACTIONS[size] * canvas_size)) + int(rng.integers(-1, 2))


def _pair(rng, pairs, exclude_color=None):
    choices = [p for p in pairs if p[0] != exclude_color]
    return choices[rng.integers(len(choices))]


def _one_object(rng, canvas_size, pairs):
    color, shape = _pair(rng, pairs)
    size = grammar.SIZES[rng.integers(2)]
    position = list(grammar.POSITIONS)[rng.integers(9)]
    side = _side(rng, size, canvas_size)
    row, col = grammar.POSITIONS[position]
    cell = canvas_size / 3
    jitter = rng.uniform(-canvas_size / 12, canvas_size / 12, size=2)
    cx = np.clip((col + 0.5) * cell + jitter[0], side / 2, canvas_size - side / 2)
    cy = np.clip((row + 0.5) * cell + jitter[1], side / 2, canvas_size - side / 2)
    obj = PlacedObject(color, shape, int(round(cx - side / 2)), int(round(cy - side / 2)), side)
    # What a caption leaves out is free: all four variants are equally likely.
    stated_size = size if rng.integers(2) else None
    stated_position = position if rng.integers(2) else None
    spec = grammar.CaptionSpec((grammar.ObjectSpec(color, shape, stated_size, stated_position),))
    return (obj,), grammar.format_caption(spec)


def _boxes_apart(a, b):
    gap_x = max(a.x0 - (b.x0 + b.side), b.x0 - (a.x0 + a.side))
    gap_y = max(a.y0 - (b.y0 + b.side), b.y0 - (a.y0 + a.side))
    return max(gap_x, gap_y) >= _MIN_GAP


def _two_objects(rng, canvas_size, pairs):
    color_a, shape_a = _pair(rng, pairs)
    color_b, shape_b = _pair(rng, pairs, exclude_color=color_a)
    relation = grammar.RELATIONS[rng.integers(len(grammar.RELATIONS))]
    margin = canvas_size / 8
    while True:  # rejection sampling; accepts within a few tries
        a, b = (
            PlacedObject(color, shape, *(int(v) for v in rng.integers(0, canvas_size - side + 1, 2)), side)
            for color, shape, side in (
                (color_a, shape_a, _side(rng, "small", canvas_size)),
                (color_b, shape_b, _side(rng, "small", canvas_size)),
            )
        )
        if _boxes_apart(a, b) and relation_holds(relation, a.center, b.center, margin):
            break
    spec = grammar.CaptionSpec(
        (grammar.ObjectSpec(color_a, shape_a), grammar.ObjectSpec(color_b, shape_b)), relation
    )
    return (a, b), grammar.format_caption(spec)


def make_sample(seed, index, canvas_size=32, objects="mixed", include_held_out=False, two_object_fraction=0.5):
    """Sample `index` of the dataset with `seed`: a `ShapeSample`.

    With `objects` "mixed", a share `two_object_fraction` of the pictures hold two objects.
    """
    if objects not in OBJECT_COUNTS:
        raise ValueError(f"objects must be one of {OBJECT_COUNTS}, got {objects!r}")
    if canvas_size < 16:
        raise ValueError(f"canvas_size must be at least 16 pixels, got {canvas_size}")
    if not 0 <= two_object_fraction <= 1:
        raise ValueError(f"two_object_fraction must be in [0, 1], got {two_object_fraction}")
    rng = np.random.default_rng([seed, index])
    pairs = _ALL_PAIRS if include_held_out else _TRAIN_PAIRS
    if objects == "mixed":
        # An even mix draws its coin as it always has, so seeded datasets (and the shipped recipe) stay
        # as they were; "1" and "2" draw none.
        two = rng.integers(2) == 1 if two_object_fraction == 0.5 else rng.random() < two_object_fraction
    else:
        two = objects == "2"
    placed, caption = (_two_objects if two else _one_object)(rng, canvas_size, pairs)
    return ShapeSample(render(placed, canvas_size), caption, placed)


def generate_shapes(num, seed=0, canvas_size=32, objects="mixed", include_held_out=False):
    """`num` pictures and captions: ((num, S, S, 3) uint8 array, list of str)."""
    samples = [make_sample(seed, i, canvas_size, objects, include_held_out) for i in range(num)]
    images = np.stack([s.image for s in samples]) if samples else np.zeros((0, canvas_size, canvas_size, 3), np.uint8)
    return images, [s.caption for s in samples]


def endless_dataset(seed=0, canvas_size=32, objects="mixed", chunk=1024, two_object_fraction=0.5):
    """An endless `tf.data.Dataset` of (caption string, image uint8 [S, S, 3]): samples 0, 1, 2, ... of `seed`
    (`objects` and `two_object_fraction` as in `make_sample`).

    Training straight from the generator means no picture repeats. Python makes `chunk`
    samples at a time (about 6,500 samples/s on one core, far more than a train step takes)
    and tf.data unbatches them, so the Python generator is called rarely.
    """
    import itertools

    import tensorflow as tf

    make_sample(seed, 0, canvas_size, objects, two_object_fraction=two_object_fraction)  # checks the arguments first

    def chunks():
        for start in itertools.count(0, chunk):
            samples = [
                make_sample(seed, index, canvas_size, objects, two_object_fraction=two_object_fraction)
                for index in range(start, start + chunk)
            ]
            yield np.array([s.caption for s in samples], dtype=object), np.stack([s.image for s in samples])

    return tf.data.Dataset.from_generator(
        chunks,
        output_signature=(
            tf.TensorSpec((None,), tf.string),
            tf.TensorSpec((None, canvas_size, canvas_size, 3), tf.uint8),
        ),
    ).unbatch()


def with_hard_negatives(dataset, seed=0):
    """(captions [B], images) batches -> ((captions, hard negatives [B]), images): for each caption
    of the shapes grammar, one that is wrong in exactly one attribute (`grammar.one_attribute_changed`),
    drawn from a numpy Generator seeded with `seed`. What the contrastive scorer trains on."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def change(captions):
        return np.array(grammar.hard_negatives([c.decode("utf-8") for c in captions.numpy()], rng), dtype=object)

    def add(captions, images):
        negatives = tf.py_function(change, [captions], tf.string)
        negatives.set_shape(captions.shape)
        return (captions, negatives), images

    return dataset.map(add)


def write_shapes_folder(out_dir, num, seed=0, canvas_size=32, objects="mixed", include_held_out=False, progress=True):
    """Writes `num` pictures as `NNNNNN.png` with a same-stem `.txt` caption; returns the folder."""
    if num < 1:
        raise ValueError(f"num must be at least 1, got {num}")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(num - 1)))
    for i in progress_bar(range(num), desc="writing shapes", unit="img", disable=not progress):
        sample = make_sample(seed, i, canvas_size, objects, include_held_out)
        stem = out_dir / f"{i:0{width}d}"
        Image.fromarray(sample.image).save(stem.with_suffix(".png"))
        stem.with_suffix(".txt").write_text(sample.caption + "\n", encoding="utf-8")
    info = dict(num=num, seed=seed, size=canvas_size, objects=objects, include_held_out=include_held_out)
    (out_dir / "shapes.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


@dataclasses.dataclass(frozen=True)
class EvalPrompt:
    """An evaluation prompt and its group: "one_object", "two_object", "held_out" or "full"."""

    prompt: str
    group: str


EVAL_GROUPS = ("one_object", "two_object", "held_out", "full")
EVALUATION_SEED = 2024
TUNING_SEED = 77


def evaluation_prompts(seed=EVALUATION_SEED, per_group=100):
    """The evaluation prompt set: `per_group` distinct prompts in each of `EVAL_GROUPS`.

    "one_object" and "two_object" use only training pairs; "held_out" prompts (half one-object,
    half two-object) each name at least one held-out color-shape pair; "full" prompts state
    all four attributes of one object (size, color, shape and position; training pairs), as
    users tend to write them. Groups are drawn in this order from one seeded stream, so adding
    a group leaves the earlier ones unchanged.
    """
    rng = np.random.default_rng([seed, 7])
    held = tuple(sorted(grammar.HELD_OUT_PAIRS))
    groups = {g: [] for g in EVAL_GROUPS}

    def one_object_prompt(pair, full=False):
        color, shape = pair
        size = grammar.SIZES[rng.integers(2)] if full or rng.integers(2) else None
        position = list(grammar.POSITIONS)[rng.integers(9)] if full or rng.integers(2) else None
        return grammar.format_caption(grammar.CaptionSpec((grammar.ObjectSpec(color, shape, size, position),)))

    def two_object_prompt(pair_a, pair_b):
        relation = grammar.RELATIONS[rng.integers(len(grammar.RELATIONS))]
        a, b = (grammar.ObjectSpec(*p) for p in (pair_a, pair_b))
        if rng.integers(2):
            a, b = b, a
        return grammar.format_caption(grammar.CaptionSpec((a, b), relation))

    makers = {
        "one_object": lambda: one_object_prompt(_pair(rng, _TRAIN_PAIRS)),
        "two_object": lambda: two_object_prompt(*_distinct_colors(rng, _TRAIN_PAIRS, _TRAIN_PAIRS)),
        "held_out": lambda: (
            one_object_prompt(held[rng.integers(len(held))])
            if len(groups["held_out"]) % 2 == 0
            else two_object_prompt(*_distinct_colors(rng, held, _TRAIN_PAIRS))
        ),
        "full": lambda: one_object_prompt(_pair(rng, _TRAIN_PAIRS), full=True),
    }
    seen = set()  # prompts are distinct across groups too
    for group, make in makers.items():
        while len(groups[group]) < per_group:
            prompt = make()
            if prompt not in seen:
                seen.add(prompt)
                groups[group].append(EvalPrompt(prompt, group))
    return [p for g in EVAL_GROUPS for p in groups[g]]


def tuning_prompts(per_group=12):
    """Prompts for choosing settings and watching training: drawn like `evaluation_prompts`
    from another seed, with every evaluation prompt left out (the evaluation set stays unseen)."""
    held_back = {p.prompt for p in evaluation_prompts()}
    drawn = evaluation_prompts(seed=TUNING_SEED, per_group=per_group + 100)
    by_group = {g: [p for p in drawn if p.group == g and p.prompt not in held_back][:per_group] for g in EVAL_GROUPS}
    return [p for g in EVAL_GROUPS for p in by_group[g]]


def eval_prompt(prompt):
    """An `EvalPrompt` for any prompt of the grammar, its group read from the prompt itself."""
    spec = grammar.parse_caption(prompt)
    (first, *_) = spec.objects
    if spec.has_held_out_pair:
        group = "held_out"
    elif spec.relation:
        group = "two_object"
    else:
        group = "full" if first.size and first.position else "one_object"
    return EvalPrompt(prompt, group)


def _distinct_colors(rng, pairs_a, pairs_b):
    pair_a = pairs_a[rng.integers(len(pairs_a))]
    return pair_a, _pair(rng, pairs_b, exclude_color=pair_a[0])
