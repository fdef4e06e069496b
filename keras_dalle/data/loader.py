"""Loaders for users' captioned images, as a `tf.data.Dataset` of (caption, image).

Accepted sources (a folder in every case):
1. A tree of images (png, jpg, jpeg, webp, bmp), each with a same-stem `.txt` caption file;
   each non-empty line is one caption, and one is drawn each time the image is used.
2. A folder with `captions.jsonl` (`{"image": relative path, "caption": str or [str]}` per
   line) or `captions.csv` (header `image,caption`; repeated images collect captions).
3. TFRecord shards written by `pack_folder` (`keras-dalle data pack`), read streaming.
4. The name `shapes` (when no such folder exists): the built-in shapes dataset, generated
   endlessly while training, so no picture repeats (`SHAPES_SOURCE`).

Images come out as uint8 (S, S, 3): the shorter side resized to S, then a center crop;
grayscale, palette and RGBA images become RGB (transparency is composited onto black).

Nothing is dropped silently: unreadable images are skipped and counted, an image without a
caption is an error naming it (or skipped and counted with `skip_uncaptioned=True`), and a
`LoadReport` tells how many items were found, used and skipped, and why.

Example:
    >>> dataset, report = load_dataset("my_pictures/", image_size=32, batch_size=16)
    >>> print(report.summary())
"""

import collections
import csv
import dataclasses
import io
import json
import logging
import pathlib

import numpy as np
from PIL import Image

from keras_dalle.progress import progress_bar

logger = logging.getLogger("keras_dalle")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
PACK_FORMAT = "keras_dalle.tfrecord.v1"
PACK_INFO = "dataset.json"
SHAPES_SOURCE = "shapes"
_SHOWN_FILES = 5


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the path."""


@dataclasses.dataclass
class LoadReport:
    """How many items a source held, how many are used, and what was skipped and why."""

    source: str
    found: int = 0
    skipped: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    endless: bool = False

    def skip(self, reason, path):
        self.skipped[reason].append(str(path))

    @property
    def used(self):
        return self.found - sum(len(paths) for paths in self.skipped.values())

    def summary(self):
        if self.endless:
            return f"{self.source}: endless, a new picture for every sample"
        lines = [f"{self.source}: found {self.found}, used {self.used}, skipped {self.found - self.used}"]
        for reason, paths in sorted(self.skipped.items()):
            shown = ", ".join(paths[:_SHOWN_FILES]) + (" ..." if len(paths) > _SHOWN_FILES else "")
            lines.append(f"  skipped {len(paths)} ({reason}): {shown}")
        return "\n".join(lines)


def read_text(path):
    """A file's text as UTF-8; DataError naming the file otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _caption_lines(text):
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _items_from_sidecars(root, skip_uncaptioned, report):
    items = []
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    report.found = len(images)
    for image_path in images:
        caption_path = image_path.with_suffix(".txt")
        captions = _caption_lines(read_text(caption_path)) if caption_path.is_file() else ()
        if not captions:
            why = "has no caption file" if not caption_path.is_file() else "has an empty caption file"
            if not skip_uncaptioned:
                raise DataError(
                    f"{image_path} {why} {caption_path.name} (pass --skip-uncaptioned / "
                    "skip_uncaptioned=True to skip such images)"
                )
            report.skip("no caption", image_path)
            continue
        items.append((image_path, captions))
    return items


def _manifest_rows(path):
    if path.name.endswith(".jsonl"):
        for number, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield number, row["image"], row.get("caption")
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(f"{path}:{number}: expected {{\"image\": ..., \"caption\": ...}} ({err})") from None
    else:
        reader = csv.DictReader(io.StringIO(read_text(path)))
        if reader.fieldnames is None or not {"image", "caption"} <= set(reader.fieldnames):
            raise DataError(f"{path}: the header must name the columns 'image' and 'caption'")
        for number, row in enumerate(reader, 2):
            yield number, row["image"], row["caption"]


def _items_from_manifest(root, manifest, skip_uncaptioned, report):
    captions = collections.OrderedDict()
    for number, image, caption in _manifest_rows(manifest):
        texts = [caption] if isinstance(caption, str) else list(caption or [])
        if not all(isinstance(t, str) for t in texts):
            raise DataError(f"{manifest}:{number}: caption must be a string or a list of strings")
        captions.setdefault(root / image, []).extend(t.strip() for t in texts if t and t.strip())
    report.found = len(captions)
    items = []
    for image_path, texts in captions.items():
        if not image_path.is_file():
            report.skip("image file missing", image_path)
        elif not texts:
            if not skip_uncaptioned:
                raise DataError(f"{manifest}: image {image_path} has no caption (pass --skip-uncaptioned to skip it)")
            report.skip("no caption", image_path)
        else:
            items.append((image_path, tuple(texts)))
    return items


def _verify_images(items, report, progress):
    usable = []
    for image_path, captions in progress_bar(items, desc="checking images", unit="img", disable=not progress):
        try:
            with Image.open(image_path) as image:
                image.verify()
        except Exception:  # PIL raises many types for broken files; each is a skip, counted
            report.skip("unreadable image", image_path)
            continue
        usable.append((image_path, captions))
    return usable


def scan_folder(path, skip_uncaptioned=False, progress=True):
    """Finds captioned images in a folder (sidecar .txt files, captions.jsonl or captions.csv).

    Returns (list of (image path, tuple of captions), LoadReport). Image files are opened and
    verified here, so unreadable ones are skipped and reported before training starts.
    """
    root = pathlib.Path(path)
    if not root.exists():
        raise DataError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give the folder that holds the images)")
    report = LoadReport(str(root))
    manifests = [root / name for name in ("captions.jsonl", "captions.csv") if (root / name).is_file()]
    if manifests:
        items = _items_from_manifest(root, manifests[0], skip_uncaptioned, report)
    else:
        items = _items_from_sidecars(root, skip_uncaptioned, report)
    if report.found == 0:
        raise DataError(
            f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} files with .txt captions, "
            "captions.jsonl, captions.csv, or packed TFRecord shards)"
        )
    items = _verify_images(items, report, progress)
    if not items:
        raise DataError(f"{root}: none of the {report.found} images is usable\n{report.summary()}")
    return items, report


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


def is_builtin_shapes(path):
    """Whether `path` names the built-in endless shapes source (and no folder of that name exists)."""
    return str(path) == SHAPES_SOURCE and not pathlib.Path(path).exists()


def _is_packed(root):
    return (root / PACK_INFO).is_file() and any(root.glob("*.tfrecord"))


def load_dataset(
    path,
    image_size=32,
    batch_size=32,
    seed=0,
    shuffle=True,
    repeat=False,
    skip_uncaptioned=False,
    drop_remainder=False,
    progress=True,
):
    """A batched, prefetched `tf.data.Dataset` of (caption string [B], image uint8 [B, S, S, 3]).

    `path` is a folder of images with captions or of packed TFRecord shards, or `SHAPES_SOURCE`
    (the built-in shapes, endless: samples of `seed`; `repeat` and `shuffle` do not apply).
    Shuffling and the caption drawn for an image with several captions follow `seed`.
    Returns (dataset, LoadReport).
    """
    import tensorflow as tf

    if image_size < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    root = pathlib.Path(path)
    if is_builtin_shapes(path):
        from keras_dalle.data import shapes

        dataset = shapes.endless_dataset(seed, image_size)
        report = LoadReport(f"built-in shapes (seed {seed})", endless=True)
    elif root.is_dir() and _is_packed(root):
        dataset, report = _packed_dataset(root, image_size, seed, shuffle)
    else:
        items, report = scan_folder(root, skip_uncaptioned, progress)
        dataset = _folder_dataset(items, report, image_size, seed, shuffle)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    logger.info(report.summary())
    return dataset, report


def _folder_dataset(items, report, image_size, seed, shuffle):
    import tensorflow as tf

    paths = [str(p) for p, _ in items]
    captions = [c for _, c in items]

    def load(index, draw):
        path = paths[index]
        try:
            image = load_image(path, image_size)
        except Exception:  # a file that verified but does not decode: skipped and counted once
            if path not in report.skipped["failed to decode"]:
                report.skip("failed to decode", path)
            return False, b"", np.zeros((image_size, image_size, 3), np.uint8)
        options = captions[index]
        return True, options[draw % len(options)].encode("utf-8"), image

    def load_in_graph(index, draw):
        ok, caption, image = tf.numpy_function(load, [index, draw], [tf.bool, tf.string, tf.uint8], stateful=False)
        ok.set_shape([])
        caption.set_shape([])
        image.set_shape([image_size, image_size, 3])
        return ok, caption, image

    indices = tf.data.Dataset.range(len(items))
    if shuffle:
        indices = indices.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    dataset = tf.data.Dataset.zip(indices, _caption_draws(seed)).map(
        load_in_graph, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.filter(_is_loaded).map(_drop_flag)


def _is_loaded(ok, caption, image):
    return ok


def _drop_flag(ok, caption, image):
    return caption, image


def _caption_draws(seed):
    """Non-negative random int64s, a new sequence each time the dataset is iterated."""
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(tf.math.abs)


def _packed_dataset(root, image_size, seed, shuffle):
    import tensorflow as tf

    info = json.loads(read_text(root / PACK_INFO))
    if info.get("format") != PACK_FORMAT:
        raise DataError(f"{root / PACK_INFO}: not a keras_dalle pack (format {info.get('format')!r})")
    report = LoadReport(str(root), found=info["found"])
    for reason, paths in info.get("skipped", {}).items():
        for p in paths:
            report.skip(reason, p)
    files = sorted(str(p) for p in root.glob("*.tfrecord"))
    features = {
        "image_png": tf.io.FixedLenFeature([], tf.string),
        "captions": tf.io.VarLenFeature(tf.string),
    }

    def parse(record, draw):
        example = tf.io.parse_single_example(record, features)
        captions = tf.sparse.to_dense(example["captions"])
        caption = tf.gather(captions, draw % tf.cast(tf.shape(captions)[0], tf.int64))
        image = tf.io.decode_png(example["image_png"], channels=3)
        return caption, resize_and_center_crop_tf(image, image_size)

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        files_ds = files_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)))
    if shuffle:
        records = records.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    dataset = tf.data.Dataset.zip(records, _caption_draws(seed)).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset, report


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


def pack_folder(source, out_dir, shards=8, image_size=None, skip_uncaptioned=False, progress=True):
    """Writes a folder of captioned images as TFRecord shards for streaming (`keras-dalle data pack`).

    Each record holds the image as PNG (RGB; resized and center-cropped to `image_size` when
    given) and all its captions. Images that fail to decode are skipped and counted in
    `dataset.json`, which also records the counts. Returns the LoadReport.
    """
    import tensorflow as tf

    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    items, report = scan_folder(source, skip_uncaptioned, progress)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards = min(shards, len(items))
    names = [out / f"shard-{i:05d}-of-{shards:05d}.tfrecord" for i in range(shards)]
    writers = [tf.io.TFRecordWriter(str(name)) for name in names]
    try:
        for index, (image_path, captions) in enumerate(progress_bar(items, desc="packing", unit="img", disable=not progress)):
            try:
                with Image.open(image_path) as image:
                    rgb = resize_and_center_crop(image, image_size) if image_size else np.asarray(to_rgb(image))
            except Exception:
                report.skip("failed to decode", image_path)
                continue
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="PNG")
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image_png": tf.train.Feature(bytes_list=tf.train.BytesList(value=[buffer.getvalue()])),
                        "captions": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[c.encode("utf-8") for c in captions])
                        ),
                    }
                )
            )
            writers[index % shards].write(example.SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    info = {"format": PACK_FORMAT, "found": report.found, "used": report.used, "shards": shards, "skipped": dict(report.skipped)}
    (out / PACK_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return report
