"""How every training stage fits: resume from backups, per-epoch checkpoints, TensorBoard, the
stage's picture grid and time budget, the same callbacks on every worker, and each worker's share
of the data under a multi-worker strategy."""

import dataclasses
import sys

import keras
import tensorflow as tf

from keras_dalle.layers.replicas import in_multi_worker_mode
from keras_dalle.training.callbacks import EpochGrid, StepTime, TimeBudget
from keras_dalle.training.distribute import is_chief


@dataclasses.dataclass(frozen=True)
class FitStage:
    """What sets one stage's fit apart: its name (logs and backups), the file it saves, and the
    picture grid drawn each epoch into `out/grid_dir` (None: no grid)."""

    name: str
    file_name: str
    grid: object = None
    grid_dir: str = None


def fit_stage(model, dataset, out, stage, *, strategy, epochs, steps_per_epoch, time_budget_minutes, verbose,
               first_callbacks=(), validation_data=None, last_callbacks=(), before_save=None):
    """Fits `stage` (a `FitStage`) with resume, per-epoch checkpoints, TensorBoard, its picture grid
    and the train step's time in the logs (`step_seconds`);
    saves `out/stage.file_name` (after `before_save(model, folder)`, if given, has run on the fitted model).

    Every worker runs the same callbacks, since they may run collective ops (the grids call the
    model, saving reads distributed variables) and the workers' collectives must match; only the
    chief writes into `out`, the others write into their own folder RUN/backup/<stage>/worker_<i>,
    which also holds their backup (all hold the same weights), so each can resume.
    """
    chief = is_chief(strategy)
    if verbose == "auto":  # a log file gets one line per epoch, not Keras's live bar redrawn with escape codes
        verbose = 1 if sys.stdout.isatty() else 2
    resolver = getattr(strategy, "cluster_resolver", None)
    backup = out / "backup" / stage.name if chief else out / "backup" / stage.name / f"worker_{resolver.task_id}"
    backup.mkdir(parents=True, exist_ok=True)  # here, race-free: workers would otherwise create shared parents at once
    home = out if chief else backup
    callbacks = [
        StepTime(),
        *first_callbacks,
        keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(home / stage.file_name)),
        keras.callbacks.TensorBoard(str(home / "logs" / stage.name)),
    ]
    if stage.grid is not None:
        callbacks.append(EpochGrid(stage.grid, home / stage.grid_dir, home / "logs" / stage.name / "images", tag=stage.grid_dir))
    if time_budget_minutes:
        callbacks.append(TimeBudget(time_budget_minutes))
    callbacks += list(last_callbacks)
    history = model.fit(
        dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose if chief else 0,
        shuffle=False, validation_data=validation_data,
    )
    if before_save is not None:
        before_save(model, home)
    model.save(home / stage.file_name)
    return history


def distributed(dataset, strategy):
    """Under several workers every worker reads the data and keeps its share of each global batch."""
    if not in_multi_worker_mode(strategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
