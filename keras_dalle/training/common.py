"""What the training stages share: optimizers and schedules, the strategy scope, the data with its
validation split, copying trained weights into a new model, and the stage's config file."""

import contextlib
import json

import keras
import numpy as np
import tensorflow as tf

from keras_dalle.data.loader import load_dataset
from keras_dalle.training.distribute import make_strategy, mixed_precision_policy


def gan_optimizer(learning_rate):
    """Adam as GANs use it (low momentum), for the image tokenizer and the discriminators."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9)


def warmup_cosine(peak_learning_rate, total_steps, warmup_fraction=0.05, final_fraction=0.05):
    """Linear warmup from 0 to the peak over `warmup_fraction` of the steps, then cosine decay
    to `final_fraction` of the peak at `total_steps`."""
    warmup = max(1, int(total_steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total_steps - warmup), alpha=final_fraction, warmup_target=peak_learning_rate, warmup_steps=warmup
    )


def transformer_optimizer(learning_rate, total_steps):
    """AdamW with clipping and a warmup-cosine schedule over `total_steps`, for the text encoder and generator."""
    return keras.optimizers.AdamW(
        warmup_cosine(learning_rate, total_steps), weight_decay=0.01, beta_1=0.9, beta_2=0.99, clipnorm=1.0
    )


def total_steps(report, epochs, steps_per_epoch, batch_size):
    if steps_per_epoch is None:
        if report.endless:
            raise ValueError(f"{report.source} is endless: give --steps-per-epoch (steps_per_epoch)")
        steps_per_epoch = max(1, report.training // batch_size)
    return epochs * steps_per_epoch


@contextlib.contextmanager
def training_setup(strategy, mixed_precision):
    """Makes the strategy (a name, or a `tf.distribute.Strategy` made already) before anything else
    touches the TensorFlow runtime (MultiWorkerMirroredStrategy must configure collective ops
    first), sets the dtype policy and enters the strategy's scope; restores the previous policy afterwards."""
    if not isinstance(strategy, tf.distribute.Strategy):
        strategy = make_strategy(strategy)
    previous = keras.mixed_precision.global_policy()
    mixed_precision_policy(mixed_precision)
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def training_and_validation(data, image_size, batch_size, seed, validation_split, steps_per_epoch, two_object_fraction=None):
    """(training dataset, validation dataset or None, LoadReport) of `data`, the report printed."""
    load = dict(path=data, image_size=image_size, batch_size=batch_size, seed=seed, validation_split=validation_split)
    dataset, report = load_dataset(
        **load, repeat=steps_per_epoch is not None, drop_remainder=True, subset="training" if validation_split else None,
        two_object_fraction=two_object_fraction,
    )
    validation = load_dataset(**load, shuffle=False, subset="validation", progress=False)[0] if validation_split else None
    print(report.summary())
    return dataset, validation, report


def images_only(captions, images):
    return images


def pictures_and_captions(dataset):
    """All of a (caption, image) dataset as (uint8 pictures [M, S, S, 3], M caption strings)."""
    captions, images = [], []
    for batch_captions, batch_images in dataset:
        captions += [c.decode("utf-8") for c in batch_captions.numpy()]
        images.append(batch_images.numpy())
    return np.concatenate(images), captions


def copy_main_weights(source, model, source_path):
    """Copies `source`'s trained weights (`main_weights`: for a `KerasDALLE` its text encoder and
    generator) into `model`, a new model of the same class and sizes."""
    for built in (source, model):
        if not built.built:
            built.build()
    shapes_of = lambda m: [tuple(w.shape) for w in m.main_weights]  # noqa: E731
    if shapes_of(source) != shapes_of(model):
        theirs, ours = source.get_config(), model.get_config()
        differ = ", ".join(
            f"{key} {theirs[key]} (this run: {ours[key]})"
            for key in sorted(theirs.keys() & ours.keys())
            if isinstance(theirs[key], (int, list)) and theirs[key] != ours[key]
        )
        raise ValueError(
            f"{source_path}: its weights have other sizes than this run's preset and overrides ({differ}): "
            "choose the preset it was trained with"
        )
    for target, weight in zip(model.main_weights, source.main_weights):
        target.assign(weight)


def write_config(out, stage, config):
    (out / f"{stage}_config.json").write_text(
        json.dumps(config, indent=2, default=lambda o: keras.saving.serialize_keras_object(o)) + "\n"
    )
