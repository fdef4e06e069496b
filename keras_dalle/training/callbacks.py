"""Callbacks: picture grids per epoch (PNG and TensorBoard), caption-checker accuracy per epoch, the
train step's time, a wall-clock budget."""

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_dalle.visualize import image_grid


class EpochGrid(keras.callbacks.Callback):
    """After each epoch, writes a labelled picture grid as `out_dir/epoch_XXX.png` and to TensorBoard.

    Args:
        make_grid: function(model, epoch) -> PIL image.
        out_dir: folder for the PNGs.
        log_dir: TensorBoard folder (None to skip).
        tag: TensorBoard image tag.
    """

    def __init__(self, make_grid, out_dir, log_dir=None, tag="samples"):
        super().__init__()
        self.make_grid = make_grid
        self.out_dir = pathlib.Path(out_dir)
        self.writer = tf.summary.create_file_writer(str(log_dir)) if log_dir else None
        self.tag = tag

    def on_epoch_end(self, epoch, logs=None):
        grid = self.make_grid(self.model, epoch + 1)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        grid.save(self.out_dir / f"epoch_{epoch + 1:03d}.png")
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image(self.tag, np.asarray(grid)[None], step=epoch + 1)
            self.writer.flush()


def _originals_above(images, made, kind, epoch):
    """A grid of `images` above the pictures `made` from them, labelled `kind` ("reconstruction", ...)."""
    return image_grid(
        np.concatenate([images, made]),
        ["original"] * len(images) + [kind] * len(made),
        columns=len(images),
        title=f"epoch {epoch}: originals above, {kind}s below",
    )


def reconstruction_grid(images):
    """A `make_grid` for image tokenizers: the fixed `images` above their reconstructions."""
    images = np.asarray(images)
    return lambda model, epoch: _originals_above(images, np.asarray(model.decode(model.encode(images))), "reconstruction", epoch)


def sample_grid(prompts, seed=0):
    """A `make_grid` for text-to-image models: one picture per fixed prompt, same seed each epoch."""

    def make(model, epoch):
        return image_grid(model.generate(prompts, seed=seed), prompts, columns=min(4, len(prompts)), title=f"epoch {epoch}")

    return make


def variation_grid(images, seed=0):
    """A `make_grid` for unCLIP decoders: the fixed `images` above a variation of each (drawn from
    its embedding alone), same seed each epoch."""
    images = np.asarray(images)
    return lambda model, epoch: _originals_above(images, model.vary(images, num_images=1, seed=seed), "variation", epoch)


class CaptionAccuracy(keras.callbacks.Callback):
    """After each epoch, generates one picture per tuning prompt (fixed seed) and adds the caption
    checker's accuracy to the epoch's logs as `tuning_accuracy` (and `tuning_<group>` per group),
    so the progress line, the History and TensorBoard show picture quality as training goes.

    Place it before the callbacks that read the logs (TensorBoard, checkpoints).

    Args:
        prompts: `shapes.EvalPrompt`s in the shapes grammar (e.g. `shapes.tuning_prompts()`).
        seed: sampling seed, the same every epoch.
    """

    def __init__(self, prompts, seed=0):
        super().__init__()
        self.prompts = list(prompts)
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        from keras_dalle.evaluation.generation import evaluate_model

        summary = evaluate_model(self.model, self.prompts, num_images=1, seed=self.seed, progress=False)
        if logs is not None:
            logs["tuning_accuracy"] = summary["overall"]["all"]
            logs.update({f"tuning_{group}": row["all"] for group, row in summary.items() if group != "overall"})


class StepTime(keras.callbacks.Callback):
    """Adds `step_seconds` to each epoch's logs: the median time from one train batch's end to the
    next, so the input pipeline's wait is in it and the epoch's first step (tracing, a resumed run's
    restore) and its end-of-epoch work (validation, grids, checkpoints) are not; and
    `mean_step_seconds`, the mean of the same gaps, which slow steps pull above the median. The
    progress line, the History and TensorBoard show both. Place it before the callbacks that read the logs."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def on_epoch_begin(self, epoch, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and len(self.ends) >= 2:
            gaps = np.diff(self.ends)
            logs["step_seconds"], logs["mean_step_seconds"] = float(np.median(gaps)), float(np.mean(gaps))


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `minutes` of wall-clock time have passed (checked after each batch)."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60.0
        self.start = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start >= self.seconds:
            self.model.stop_training = True
            self.stopped_early = True


class NearestPictureAccuracy(keras.callbacks.Callback):
    """After each epoch, generates one picture per tuning prompt (fixed seed) and adds to the logs
    how often the nearest real picture carries the prompt (`tuning_accuracy`, and `tuning_top5`):
    the picture-level measure by which runs on folders keep their best epoch.

    Place it before the callbacks that read the logs (TensorBoard, checkpoints, best-epoch restore).

    Args:
        judge: a `NearestPictures` over the folder's pictures.
        prompts: the tuning prompts (captions of the folder's training pictures).
        seed: sampling seed, the same every epoch.
    """

    def __init__(self, judge, prompts, seed=0):
        super().__init__()
        self.judge = judge
        self.prompts = list(prompts)
        self.seed = seed

    def measure(self, model, **sampling):
        """{"top1", "top5"} of `model`'s pictures for the tuning prompts (`sampling`: generate's settings)."""
        from keras_dalle.evaluation.generation import generate_in_chunks

        chunks = generate_in_chunks(model, self.prompts, 1, self.seed, progress=False, **sampling)
        return self.judge.accuracy(np.concatenate([pictures for _, pictures in chunks]), self.prompts, k=5)

    def on_epoch_end(self, epoch, logs=None):
        accuracy = self.measure(self.model)
        if logs is not None:
            logs["tuning_accuracy"] = accuracy["top1"]
            logs["tuning_top5"] = accuracy["top5"]


class VariationAccuracy(keras.callbacks.Callback):
    """After each epoch, draws one variation (fixed seed, the decoder's saved sampling) of each of a
    folder's chosen pictures and adds to the logs how often the nearest real picture is the input
    itself (`tuning_accuracy`, and `tuning_top5`): the picture-level measure by which an unCLIP
    decoder trained on a folder keeps its best epoch.

    Place it before the callbacks that read the logs.

    Args:
        judge: a `NearestPictures` over the folder's pictures.
        indices: the pictures (indices into `judge.pictures`) to vary, all seen in training.
        seed: sampling seed, the same every epoch.
    """

    def __init__(self, judge, indices, seed=0):
        super().__init__()
        self.judge = judge
        self.indices = np.asarray(indices)
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        accuracy = self.judge.variation_accuracy(self.model, self.indices, self.seed)
        if logs is not None:
            logs["tuning_accuracy"] = accuracy["own_picture_nearest"]
            logs["tuning_top5"] = accuracy["own_picture_in_top5"]


class RetrievalAccuracy(keras.callbacks.Callback):
    """After each epoch, the R-precision of held-out pictures for a contrastive scorer
    (`val_r_precision`): how often a picture's own caption scores above all its distractors
    (`contrastive.distractor_captions`: one-attribute variants for shapes captions, else 99 other
    captions of the set). The scorer stage keeps the epoch where it was highest.

    Place it before the callbacks that read the logs.

    Args:
        images: uint8 [M, S, S, 3] held-out pictures.
        captions: their M captions.
        seed: the distractors' seed.
    """

    def __init__(self, images, captions, seed=0):
        from keras_dalle.evaluation.contrastive import distractor_captions

        super().__init__()
        self.images = np.asarray(images)
        self.captions = list(captions)
        self.distractors = distractor_captions(self.captions, seed)

    def on_epoch_end(self, epoch, logs=None):
        from keras_dalle.evaluation.contrastive import embed_in_chunks, r_precision

        embeddings = embed_in_chunks(self.model.embed_images, self.images)
        if logs is not None:
            logs["val_r_precision"] = r_precision(self.model, embeddings, self.captions, self.distractors)
