"""What a training run on a folder is judged by: which pictures are held out, the per-epoch
picture-level measure (`tuning_accuracy`), the epoch kept, and the sampling settings saved."""

import json
import pathlib

import keras
import numpy as np

from keras_dalle.data import shapes
from keras_dalle.data.loader import is_packed, validation_indices
from keras_dalle.data.sources import is_builtin_shapes
from keras_dalle.evaluation.nearest import TUNING_PROMPTS, TUNING_SEED, NearestPictures, tuning_prompts
from keras_dalle.training.callbacks import CaptionAccuracy, NearestPictureAccuracy, VariationAccuracy

# Folders and packs hold this fraction out for validation unless told otherwise (the generator:
# unless nearly every picture has a caption of its own, see `captions_repeat`).
DEFAULT_VALIDATION_SPLIT = 0.1
# A folder's captions repeat when it has at most this many distinct (first) captions per picture.
REPEATED_CAPTIONS = 0.5

def is_shapes_data(data):
    """True for the built-in shapes source and for folders `write_shapes_folder` wrote (captions the checker reads)."""
    return is_builtin_shapes(data) or (pathlib.Path(data) / "shapes.json").is_file()


def captions_repeat(captions):
    """Whether pictures share captions (at most `REPEATED_CAPTIONS` distinct first captions per
    picture): then held-out pictures show captions seen in training; else each is a new concept."""
    return len({texts[0] for texts in captions}) <= REPEATED_CAPTIONS * len(captions)


def validation_split_for(data, validation_split, early_stopping, judge=None, picture_measure=False):
    """The fraction a stage holds out: by default `DEFAULT_VALIDATION_SPLIT` of a folder or pack and
    none of the endless shapes source, nor of a folder (`judge`: its `NearestPictures`) whose pictures
    each have a caption of their own: held out, their captions would be concepts the model never
    sees. Early stopping needs a validation split or a per-epoch picture-level measure (`picture_measure`:
    the generator or the decoder on a folder)."""
    if validation_split is None:
        validation_split = 0.0 if is_builtin_shapes(data) else DEFAULT_VALIDATION_SPLIT
        if judge is not None and not captions_repeat(judge.captions):
            validation_split = 0.0
            print(f"{data}: nearly every picture has a caption of its own: no pictures held out for validation "
                  "(the best epoch is chosen by how often pictures drawn for training pictures are nearest to their own)")
    if early_stopping is not None and not validation_split and not picture_measure:
        raise ValueError("early stopping watches the validation loss: it needs a validation split > 0")
    return validation_split


def folder_judge(data, image_size):
    """`NearestPictures` over a plain folder of pictures (not shapes data, not packed shards), else None."""
    path = pathlib.Path(data)
    if is_shapes_data(data) or not path.is_dir() or is_packed(path):
        return None
    return NearestPictures.from_folder(path, image_size)


def tuning_callback(data, judge, validation_split, seed, decoder=False):
    """The per-epoch picture-level measure (`tuning_accuracy`): for the generator, the caption checker
    on shapes data and the nearest-picture accuracy of training captions on other folders; for the
    unCLIP decoder (`decoder`), how often variations of training pictures are nearest their own
    picture on folders other than shapes. None where there is no such measure (packs, shapes decoders)."""
    if is_shapes_data(data) and not decoder:
        return CaptionAccuracy(shapes.tuning_prompts(), seed=seed)
    if judge is None:
        return None
    held_out = validation_indices(len(judge.captions), validation_split, seed) if validation_split else set()
    training = [i for i in range(len(judge.captions)) if i not in held_out]
    if decoder:
        chosen = np.random.default_rng(TUNING_SEED).choice(len(training), min(TUNING_PROMPTS, len(training)), replace=False)
        return VariationAccuracy(judge, np.sort(np.asarray(training)[chosen]), seed=seed)
    return NearestPictureAccuracy(judge, tuning_prompts([judge.captions[i] for i in training]), seed=seed)


# Sampling settings a folder's generator tries on its tuning captions after training (the preset's
# first); the best by nearest-picture accuracy becomes the saved model's default. On the emoji
# folder greedy decoding without guidance drew the prompted emoji 58.4% of the time against 46.8%
# with the shapes defaults (docs/real_pictures.md).
SAMPLING_CHOICES = (
    {},
    {"temperature": 1.0, "top_k": 1, "cfg_scale": 1.0},
    {"temperature": 1.0, "top_k": 1, "cfg_scale": 1.5},
    {"temperature": 0.5, "top_k": 4, "cfg_scale": 1.0},
    {"temperature": 0.8, "top_k": 16, "cfg_scale": 1.0},
)
SAMPLING_CHOICE_FILE = "sampling_choice.json"


def choose_sampling(tuning):
    """A `before_save` that sets the model's sampling defaults to the best of `SAMPLING_CHOICES` by
    `tuning` (a `NearestPictureAccuracy`) and writes the table to FOLDER/`SAMPLING_CHOICE_FILE`."""

    def choose(model, folder):
        rows = []
        for choice in SAMPLING_CHOICES:
            settings = {**model.sampling_defaults(), **choice}
            rows.append({"settings": settings, **tuning.measure(model, **settings)})
        best = max(rows, key=lambda row: row["top1"])  # the first of equals: the preset's defaults when tied
        for name, value in best["settings"].items():
            setattr(model, name, value)
        for row in rows:
            print(f"sampling {row['settings']}: tuning top-1 {row['top1']:.1%}, top-5 {row['top5']:.1%}")
        print(f"sampling defaults saved with the model: {best['settings']}")
        (folder / SAMPLING_CHOICE_FILE).write_text(json.dumps({"chosen": best["settings"], "tried": rows}, indent=2) + "\n")

    return choose


def keep_best(monitor, early_stopping, epochs, mode="min"):
    """The callback that restores the epoch with the best `monitor` (lowest, or highest with mode "max"),
    and stops after `early_stopping` epochs without a better one."""
    return [keras.callbacks.EarlyStopping(
        monitor, mode=mode, patience=early_stopping or epochs, restore_best_weights=True, verbose=1
    )]
