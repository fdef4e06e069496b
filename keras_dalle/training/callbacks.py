"""Callbacks: picture grids per epoch (PNG and TensorBoard) and a wall-clock budget."""

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_dalle.visualize import image_grid


class ReconstructionGrid(keras.callbacks.Callback):
    """After each epoch, writes originals above their reconstructions as a PNG and to TensorBoard.

    Args:
        images: uint8 [N, S, S, 3], a fixed preview batch.
        out_dir: folder for `epoch_XXX.png`.
        log_dir: TensorBoard folder (None to skip).
    """

    def __init__(self, images, out_dir, log_dir=None):
        super().__init__()
        self.images = np.asarray(images)
        self.out_dir = pathlib.Path(out_dir)
        self.writer = tf.summary.create_file_writer(str(log_dir)) if log_dir else None

    def on_epoch_end(self, epoch, logs=None):
        reconstructions = np.asarray(self.model.decode(self.model.encode(self.images)))
        count = len(self.images)
        grid = image_grid(
            np.concatenate([self.images, reconstructions]),
            ["original"] * count + ["reconstruction"] * count,
            columns=count,
            title=f"epoch {epoch + 1}: originals above, reconstructions below",
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        grid.save(self.out_dir / f"epoch_{epoch + 1:03d}.png")
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("reconstructions", np.asarray(grid)[None], step=epoch + 1)
            self.writer.flush()


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
