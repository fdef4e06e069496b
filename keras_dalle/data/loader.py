"""The tf.data pipelines: (caption, image) datasets from any source of `sources`, and packing a folder
into TFRecord shards for streaming.

Example:
    >>> dataset, report = load_dataset("my_pictures/", image_size=32, batch_size=16)
    >>> print(report.summary())
"""

import io
import json
import logging
import pathlib

import numpy as np
from PIL import Image

from keras_dalle.progress import progress_bar

logger = logging.getLogger("keras_dalle")
from keras_dalle.data.images import load_image, resize_and_center_crop, resize_and_center_crop_tf, to_rgb
from keras_dalle.data.sources import SHAPES_SOURCE, DataError, LoadReport, is_builtin_shapes, read_text, scan_folder

PACK_FORMAT = "keras_dalle.tfrecord.v1"
PACK_INFO = "dataset.json"


def is_packed(root):
    """Whether folder `root` holds TFRecord shards that `pack_folder` wrote."""
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
    validation_split=0.0,
    subset=None,
    two_object_fraction=None,
):
    """A batched, prefetched `tf.data.Dataset` of (caption string [B], image uint8 [B, S, S, 3]).

    `path` is a folder of images with captions or of packed TFRecord shards, or `SHAPES_SOURCE`
    (the built-in shapes, endless: samples of `seed`; `repeat` and `shuffle` do not apply).
    Shuffling and the caption drawn for an image with several captions follow `seed`.

    `validation_split` (a fraction in [0, 1)) and `subset` ("training" or "validation") split a
    folder or pack as Keras's `image_dataset_from_directory` does: the same arguments with each
    subset give disjoint parts (folders: a seeded draw of images; packs: by a hash of each
    picture). The report's `validation` counts the held-out images. `two_object_fraction` sets the
    built-in shapes' share of two-object pictures (default 0.5; other sources: ValueError).
    Returns (dataset, LoadReport).
    """
    import tensorflow as tf

    if image_size < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if (subset is None) != (validation_split == 0) or subset not in (None, "training", "validation"):
        raise ValueError(f"give subset 'training' or 'validation' with a validation_split > 0 (got {subset!r}, {validation_split})")
    root = pathlib.Path(path)
    if is_builtin_shapes(path):
        from keras_dalle.data import shapes

        if validation_split:
            raise ValueError("the built-in shapes source is endless and never repeats a picture: it needs no validation split")
        mix = 0.5 if two_object_fraction is None else two_object_fraction
        dataset = shapes.endless_dataset(seed, image_size, two_object_fraction=mix)
        report = LoadReport(f"built-in shapes (seed {seed}, {mix:.0%} two-object)", endless=True)
    elif two_object_fraction is not None:
        raise ValueError(f"{path}: two_object_fraction applies only to the built-in {SHAPES_SOURCE!r} source")
    elif root.is_dir() and is_packed(root):
        dataset, report = _packed_dataset(root, image_size, seed, shuffle, validation_split, subset)
    else:
        items, report = scan_folder(root, skip_uncaptioned, progress)
        if validation_split:
            held_out = validation_indices(len(items), validation_split, seed)
            report.validation = len(held_out)
            items = [item for i, item in enumerate(items) if (i in held_out) == (subset == "validation")]
        dataset = _folder_dataset(items, report, image_size, seed, shuffle)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    logger.info(report.summary())
    return dataset, report


def validation_indices(count, validation_split, seed):
    """The seeded set of item indices held out for validation (at least one)."""
    size = max(1, round(count * validation_split))
    if size >= count:
        raise DataError(f"a validation split of {validation_split} leaves nothing to train on ({count} images)")
    return set(np.random.default_rng([seed, 1]).permutation(count)[:size].tolist())


def _folder_dataset(items, report, image_size, seed, shuffle):
    """One element per item, so the dataset knows its length (Keras's progress bar shows the
    epoch's batches from the first epoch). A picture that verified at the scan but does not decode
    is skipped and counted once (`report`), and its slot in the epoch goes to the next one that
    decodes."""
    import tensorflow as tf

    paths = [str(p) for p, _ in items]
    captions = [c for _, c in items]

    def load(index, draw):
        for offset in range(len(paths)):
            item = (int(index) + offset) % len(paths)
            try:
                image = load_image(paths[item], image_size)
            except Exception:  # a file that verified but does not decode
                if paths[item] not in report.skipped["failed to decode"]:
                    report.skip("failed to decode", paths[item])
                continue
            options = captions[item]
            return options[draw % len(options)].encode("utf-8"), image
        raise DataError(f"none of the {len(paths)} pictures decodes")

    def load_in_graph(index, draw):
        caption, image = tf.numpy_function(load, [index, draw], [tf.string, tf.uint8], stateful=False)
        caption.set_shape([])
        image.set_shape([image_size, image_size, 3])
        return caption, image

    indices = tf.data.Dataset.range(len(items))
    if shuffle:
        indices = indices.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    # [N] (index, caption draw) -> [N] (caption, image)
    return tf.data.Dataset.zip(indices, _caption_draws(seed)).map(
        load_in_graph, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _caption_draws(seed):
    """Non-negative random int64s, a new sequence each time the dataset is iterated."""
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(tf.math.abs)


def _packed_dataset(root, image_size, seed, shuffle, validation_split=0.0, subset=None):
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

    def parse(record):
        example = tf.io.parse_single_example(record, features)
        return example["image_png"], tf.sparse.to_dense(example["captions"])

    def decode(example, draw):
        png, captions = example
        caption = tf.gather(captions, draw % tf.cast(tf.shape(captions)[0], tf.int64))
        image = tf.io.decode_png(png, channels=3)
        return caption, resize_and_center_crop_tf(image, image_size)

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        files_ds = files_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)))
    examples = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)  # each record parsed once
    if validation_split:
        buckets = 10_000

        def held_out(png, captions):
            return tf.strings.to_hash_bucket_fast(png, buckets) < int(validation_split * buckets)

        kept = held_out if subset == "validation" else lambda png, captions: tf.logical_not(held_out(png, captions))
        examples = examples.filter(kept)
        report.validation = round(report.used * validation_split)  # expected count (by hash)
    if shuffle:
        examples = examples.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    dataset = tf.data.Dataset.zip(examples, _caption_draws(seed)).map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset, report


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
