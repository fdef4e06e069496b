"""The training stages behind `keras-dalle train`: the image tokenizer, then the text-to-image model
(or, given a scorer, the unCLIP decoder); the scorer and the prior are in `embedding_stages.py`.

A run folder holds the stages:

    RUN/image_tokenizer.keras   RUN/keras_dalle.keras   RUN/scorer.keras   the models, saved every epoch
    RUN/decoder.keras           the unCLIP decoder (the generator stage given a scorer)
    RUN/prior.keras             the diffusion prior: caption -> the scorer's image embedding
    RUN/backup/<stage>/         where an interrupted stage resumes (rerun the same command)
    RUN/logs/<stage>/           TensorBoard scalars and picture grids
    RUN/reconstructions/        originals above reconstructions, one PNG per epoch
    RUN/samples/                pictures for fixed prompts, one PNG per epoch
    RUN/variations/             fixed pictures above their variations (the decoder), one PNG per epoch

`--data shapes` trains on the built-in shapes generated endlessly; such runs also log the
caption checker's accuracy on `shapes.tuning_prompts()` after every epoch.
"""

import math
import pathlib

from keras_dalle import presets
from keras_dalle.data.sources import is_builtin_shapes
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_tokenizer import ImageTokenizer
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.models.unclip import UnCLIPDecoder
from keras_dalle.models.saving import load_image_tokenizer, preset_file
from keras_dalle.training import common, judging
from keras_dalle.training.callbacks import (
    NearestPictureAccuracy, reconstruction_grid, sample_grid, variation_grid,
)
from keras_dalle.training.distribute import is_chief
from keras_dalle.training.fitting import FitStage, distributed, fit_stage

TOKENIZER_FILE = "image_tokenizer.keras"
# Below this many training images, where captions repeat, the text-to-image model trains with
# dropout by default (where each picture has a caption of its own, the tuning accuracy judges the
# training captions themselves: the emoji runs of docs/real_pictures.md trained without it).
SMALL_DATASET = 20_000
SMALL_DATASET_DROPOUT = 0.1
# Epochs when none are given: `DEFAULT_EPOCHS`; the generator on a folder trains instead for about
# `FOLDER_GENERATOR_STEPS` steps, between `DEFAULT_EPOCHS` and `MAX_DEFAULT_EPOCHS` passes. On the
# emoji folder (docs/real_pictures.md) the tuning accuracy was 47.5% and rising steeply after 3,456
# steps, and 87.5% after 3,024 more (a warm restart); one schedule over 6,500 steps is not yet run.
# The tokenizer likewise trains a folder for about `FOLDER_TOKENIZER_STEPS` steps: on the emoji
# folder 2,910 steps (30 passes) took held-out pictures from 80.3% (10 passes) to 96.0% nearest
# their own picture.
DEFAULT_EPOCHS = 10
FOLDER_GENERATOR_STEPS = 6_500
FOLDER_TOKENIZER_STEPS = 2_900
MAX_DEFAULT_EPOCHS = 100
MODEL_FILE = "keras_dalle.keras"
# The unCLIP decoder's saved sampling settings (where overrides do not set them), in place of the
# preset's T 0.8 / top-k 16. On the 5,000-step shapes decoder (`bench/unclip_quality.py`, 100 unseen
# pictures a row, 2026-12-05) T 0.5 / top-k 4 took edits at amount 0.3 from 75 / 81 / 90 / 80% to
# 84 / 85 / 95 / 89% (color, shape, size, position: the result passes the new caption) and kept the
# other attributes 84 / 96 / 95 / 98% instead of 75 / 93 / 91 / 92%; variations 97 / 52% (one / two
# objects) instead of 95 / 52%, still new pictures (41% of tokens differ between two variations of
# one picture, 50% before). Guidance stays 1.5: 1 dropped two-object variations to 27%, 2 and 3
# lowered every row (docs/usage.md).
DECODER_SAMPLING = dict(temperature=0.5, top_k=4)
DECODER_FILE = "decoder.keras"
PRIOR_FILE = "prior.keras"
SCORER_FILE = "scorer.keras"
SHAPES_SAMPLE_PROMPTS = (
    "a big red circle in the top left",
    "a small blue square at the bottom",
    "a green triangle",
    "a yellow circle to the left of a purple square",
    "a white square above a red triangle",
    "a purple triangle",
    "a orange circle in the center",
    "a cyan square on the right",
)


def grid_prompts(data, dataset, sample_prompts=None):
    """The prompts of the per-epoch sample grid: `sample_prompts` if given, the built-in ones for
    shapes data, else up to 8 distinct captions of the user's data (its first, seeded batch)."""
    if sample_prompts:
        return list(sample_prompts)
    if judging.is_shapes_data(data):
        return list(SHAPES_SAMPLE_PROMPTS)
    captions = [c.decode("utf-8") for c in next(iter(dataset))[0].numpy()]
    return list(dict.fromkeys(captions))[:8]


def default_epochs(report, batch_size, steps_per_epoch, folder_steps=FOLDER_GENERATOR_STEPS):
    """A stage's epochs when none are given: about `folder_steps` steps of passes over a folder
    (`DEFAULT_EPOCHS` to `MAX_DEFAULT_EPOCHS`); `DEFAULT_EPOCHS` for endless sources, packs of
    unknown size and runs with their own `steps_per_epoch`."""
    if report.endless or steps_per_epoch or not report.training:
        return DEFAULT_EPOCHS
    steps_per_pass = max(1, report.training // batch_size)
    return min(max(math.ceil(folder_steps / steps_per_pass), DEFAULT_EPOCHS), MAX_DEFAULT_EPOCHS)


def train_image_tokenizer(
    data, out, preset="small", epochs=None, batch_size=32, steps_per_epoch=None, learning_rate=None, seed=0,
    time_budget_minutes=None, verbose="auto", strategy="default", mixed_precision=False, jit_compile=False,
    validation_split=None, early_stopping=None, **overrides,
):
    """Trains an `ImageTokenizer` on `data` (any source `load_dataset` takes) into the run folder `out`.

    `validation_split` (default `judging.DEFAULT_VALIDATION_SPLIT` of a folder or pack, none of the endless
    shapes source) holds out a seeded part of the pictures; each epoch then reports their
    reconstructions' `val_psnr`, and the saved model is the epoch where it was highest;
    `early_stopping` = PATIENCE stops after that many epochs without a new best. `epochs` (default:
    `default_epochs`, about `FOLDER_TOKENIZER_STEPS` steps on a folder).

    `batch_size` is the global batch (split over the strategy's replicas); `strategy` is a name from
    `distribute.STRATEGIES` or a strategy made already (one MultiWorkerMirroredStrategy per process:
    make it before anything else uses TensorFlow and pass it to both stages). `overrides` replace preset values (e.g. `adversarial_weight=0`). Returns (model, history).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {**presets.preset(preset, "image_tokenizer"), "seed": seed, **overrides}
    learning_rate = learning_rate or presets.learning_rate(preset, "image_tokenizer")
    validation_split = judging.validation_split_for(data, validation_split, early_stopping)
    with common.training_setup(strategy, mixed_precision) as active:
        dataset, validation, report = common.training_and_validation(
            data, config["image_size"], batch_size, seed, validation_split, steps_per_epoch
        )
        if epochs is None:
            epochs = default_epochs(report, batch_size, steps_per_epoch, FOLDER_TOKENIZER_STEPS)
            print(f"{epochs} epochs (the default for {report.training or 'these'} training images; set epochs to override)")
        common.total_steps(report, epochs, steps_per_epoch, batch_size)  # an endless source needs steps_per_epoch
        preview = next(iter(dataset))[1][:8].numpy()
        if jit_compile:  # XLA takes no string inputs; captions are unused here
            dataset = dataset.map(common.images_only)
            validation = validation.map(common.images_only) if validation is not None else None
        model = ImageTokenizer(**config)
        model.compile(optimizer=common.gan_optimizer(learning_rate), d_optimizer=common.gan_optimizer(learning_rate), jit_compile=jit_compile)
        model.build_optimizers()
        if is_chief(active):
            common.write_config(out, "tokenizer", {"preset": preset, **config})
        best = []
        if validation is not None:
            validation = distributed(validation, active)
            best = judging.keep_best("val_psnr", early_stopping, epochs, mode="max")
        history = fit_stage(
            model, distributed(dataset, active), out,
            FitStage("tokenizer", TOKENIZER_FILE, reconstruction_grid(preview), "reconstructions"), strategy=active,
            epochs=epochs, steps_per_epoch=steps_per_epoch, time_budget_minutes=time_budget_minutes, verbose=verbose,
            validation_data=validation,
            last_callbacks=best,
        )
    return model, history


def train_text_to_image(
    data, out, image_tokenizer=None, preset="small", epochs=None, batch_size=32, steps_per_epoch=None,
    learning_rate=None, seed=0, time_budget_minutes=None, verbose="auto", strategy="default", mixed_precision=False,
    jit_compile=False, sample_prompts=None, validation_split=None, early_stopping=None, callbacks=(), init_from=None,
    two_object_fraction=None, scorer=None, **overrides,
):
    """Trains a `KerasDALLE` on `data` with a trained image tokenizer: an `ImageTokenizer` (e.g. the one
    `train_image_tokenizer` returned in this process), a `.keras` path, or by default `out/image_tokenizer.keras`.

    `init_from` (a trained text-to-image `.keras` file, e.g. the shipped shapes model) fine-tunes:
    the run starts from its text encoder and generator and uses its image tokenizer (so give no
    `image_tokenizer`); the preset and overrides must describe the same sizes. The optimizer starts
    afresh. `two_object_fraction` sets the built-in shapes' share of two-object pictures (default 0.5).

    `scorer` (a trained `ContrastiveScorer`, or its `.keras` path) trains the unCLIP decoder instead:
    an `UnCLIPDecoder` conditioned on the scorer's image embedding of each picture as well as its
    caption, saved as `out/decoder.keras`, its epoch grid the first pictures above their variations
    (`RUN/variations/`); it has no adversarial term. On a folder other than shapes its
    `tuning_accuracy` is `VariationAccuracy`: how often one variation of each of up to 200 training
    pictures is nearest its own picture; on shapes data it keeps the epoch of lowest
    `val_cross_entropy` where a validation split exists, else the last (`bench/unclip_quality.py`
    judges its operations).

    `batch_size`, `strategy`, `mixed_precision` and `jit_compile` as in `train_image_tokenizer` (with
    `jit_compile` the captions are tokenized in the input pipeline: XLA has no string ops).
    `learning_rate` (default: the preset's) is the peak of a warmup-cosine schedule over all the run's steps.
    `sample_prompts` are the per-epoch grid's prompts (default: see `grid_prompts`).

    Picking the epoch: on a folder, each epoch logs `tuning_accuracy`, a picture-level measure (the
    caption checker on shapes folders, else `NearestPictureAccuracy` on up to 200 training captions),
    and the saved model has the weights of the epoch where it was highest (the run says which);
    folders judged by nearest pictures then also get the best of `judging.SAMPLING_CHOICES` on those captions
    as the saved sampling defaults (`RUN/sampling_choice.json`). `validation_split` (default
    `judging.DEFAULT_VALIDATION_SPLIT` for packs and for folders whose captions repeat, see `judging.validation_split_for`;
    0 for the endless shapes source) holds out a seeded part of the data, whose `val_cross_entropy`
    each epoch reports; packs, which have no picture-level measure, keep its lowest epoch.
    `early_stopping` = PATIENCE stops after that many epochs without a new best. `epochs` (default:
    `default_epochs`, about `FOLDER_GENERATOR_STEPS` steps on a folder). Datasets under
    `SMALL_DATASET` training images whose captions repeat get dropout `SMALL_DATASET_DROPOUT`
    unless `overrides` set `dropout`.
    `callbacks`: more Keras callbacks, run each epoch before the stage's own (which save the model).
    `overrides` replace preset values (e.g. `adversarial_weight=0`, `caption_dropout=0.2`). Returns (model, history).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if init_from is not None and image_tokenizer is not None:
        raise ValueError("init_from brings its own image tokenizer: give init_from or image_tokenizer, not both")
    if init_from is not None and scorer is not None:
        raise ValueError("init_from fine-tunes a text-to-image model; the decoder (scorer given) starts afresh")
    trained_here = isinstance(image_tokenizer, ImageTokenizer)
    tokenizer_path = out / TOKENIZER_FILE if trained_here or not image_tokenizer else preset_file(image_tokenizer)
    if init_from is None and not trained_here and not tokenizer_path.is_file():
        raise FileNotFoundError(
            f"{tokenizer_path}: no trained image tokenizer (train one with --stage tokenizer, or pass --tokenizer: "
            "a tokenizer's or a text-to-image model's file, or a shipped model's name such as shapes_small)"
        )
    config = {**presets.preset(preset, "text_to_image"), "seed": seed, **overrides}
    if scorer is not None:
        config["adversarial_weight"] = overrides.get("adversarial_weight", 0.0)  # the decoder's constructor refuses others
        config.update({name: value for name, value in DECODER_SAMPLING.items() if name not in overrides})
    learning_rate = learning_rate or presets.learning_rate(preset, "text_to_image")
    with common.training_setup(strategy, mixed_precision) as active:
        if isinstance(scorer, (str, pathlib.Path)):
            scorer_path, scorer = str(scorer), ContrastiveScorer.from_preset(scorer)
        else:
            scorer_path = None
        if init_from is not None:
            init_model = KerasDALLE.from_preset(init_from)
            tokenizer, tokenizer_path = init_model.image_tokenizer, pathlib.Path(init_from)
        else:
            tokenizer = image_tokenizer if trained_here else load_image_tokenizer(tokenizer_path)
        judge = judging.folder_judge(data, tokenizer.image_size)
        picture_measure = judge is not None or (
            scorer is None and judging.is_shapes_data(data) and not is_builtin_shapes(data)
        )
        validation_split = judging.validation_split_for(data, validation_split, early_stopping, judge, picture_measure)
        dataset, validation, report = common.training_and_validation(
            data, tokenizer.image_size, batch_size, seed, validation_split, steps_per_epoch, two_object_fraction
        )
        repeating = judge is None or judging.captions_repeat(judge.captions)
        if not report.endless and report.training < SMALL_DATASET and repeating and "dropout" not in overrides:
            config["dropout"] = SMALL_DATASET_DROPOUT
            print(f"{report.training} training images: dropout {SMALL_DATASET_DROPOUT} (a small dataset; set dropout to override)")
        if epochs is None:
            epochs = default_epochs(report, batch_size, steps_per_epoch)
            print(f"{epochs} epochs (the default for {report.training or 'these'} training images; set epochs to override)")
        total_steps = common.total_steps(report, epochs, steps_per_epoch, batch_size)
        prompts = grid_prompts(data, dataset, sample_prompts)
        if scorer is None:
            model = KerasDALLE(tokenizer, **config)
            stage = FitStage("generator", MODEL_FILE, sample_grid(prompts), "samples")
        else:
            model = UnCLIPDecoder(tokenizer, scorer, **config)
            stage = FitStage("decoder", DECODER_FILE, variation_grid(next(iter(dataset))[1][:8].numpy()), "variations")
        if init_from is not None:
            common.copy_main_weights(init_model, model, init_from)
        if jit_compile:
            tokenize = lambda captions, images: (model.text_tokenizer(captions), images)  # noqa: E731
            dataset = dataset.map(tokenize)
            validation = validation.map(tokenize) if validation is not None else None
        model.compile(
            optimizer=common.transformer_optimizer(learning_rate, total_steps), d_optimizer=common.gan_optimizer(learning_rate),
            jit_compile=jit_compile,
        )
        model.build_optimizers()
        if is_chief(active):
            common.write_config(out, stage.name, {
                "preset": preset, "image_tokenizer": str(tokenizer_path), "init_from": init_from and str(init_from),
                "two_object_fraction": two_object_fraction, **({"scorer": scorer_path} if scorer is not None else {}), **config,
            })
        tuning = judging.tuning_callback(data, judge, validation_split, seed, decoder=scorer is not None)
        checker = [tuning] if tuning is not None else []
        best = []
        if validation is not None:
            validation = distributed(validation, active)
        if tuning is not None and not is_builtin_shapes(data):
            best = judging.keep_best("tuning_accuracy", early_stopping, epochs, mode="max")
        elif validation is not None:
            best = judging.keep_best("val_cross_entropy", early_stopping, epochs)
        history = fit_stage(
            model, distributed(dataset, active), out, stage, strategy=active, epochs=epochs, steps_per_epoch=steps_per_epoch,
            time_budget_minutes=time_budget_minutes, verbose=verbose, first_callbacks=[*checker, *callbacks],
            validation_data=validation, last_callbacks=best,
            before_save=judging.choose_sampling(tuning) if isinstance(tuning, NearestPictureAccuracy) else None,
        )
    return model, history
