"""The stages of the contrastive embedding space: the scorer (pictures and captions in one space,
which reranks candidates) and the diffusion prior (caption -> the scorer's image embedding, for the
unCLIP decoder)."""

import pathlib

from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.models.prior import DiffusionPrior
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.training import common, judging
from keras_dalle.training.callbacks import RetrievalAccuracy
from keras_dalle.training.distribute import is_chief
from keras_dalle.training.fitting import FitStage, distributed, fit_stage
from keras_dalle.training.stages import DEFAULT_EPOCHS, PRIOR_FILE, SCORER_FILE


def train_scorer(
    data, out, preset="small", epochs=DEFAULT_EPOCHS, batch_size=32, steps_per_epoch=None, learning_rate=None, seed=0,
    time_budget_minutes=None, verbose="auto", strategy="default", mixed_precision=False, jit_compile=False,
    validation_split=None, early_stopping=None, init_from=None, **overrides,
):
    """Trains a `ContrastiveScorer` on `data` into `out/scorer.keras`.

    `init_from` (a trained scorer's `.keras` file) fine-tunes: the run starts from its weights, learned
    temperature included, with a fresh optimizer; the preset and overrides must describe the same sizes.

    Shapes data (the built-in source or a shapes folder) adds one hard negative per caption
    (`shapes.with_hard_negatives`). `validation_split` and `early_stopping` as in
    `train_text_to_image`, but the saved model is the epoch with the highest R-precision of the
    held-out pictures (`val_r_precision`, `callbacks.RetrievalAccuracy`); the other
    arguments as in `train_image_tokenizer`; `learning_rate` is the peak of a warmup-cosine schedule.
    Returns (model, history).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    validation_split = judging.validation_split_for(data, validation_split, early_stopping)
    config = {**presets.preset(preset, "scorer"), **overrides}
    learning_rate = learning_rate or presets.learning_rate(preset, "scorer")
    with common.training_setup(strategy, mixed_precision) as active:
        dataset, validation, report = common.training_and_validation(
            data, config["image_size"], batch_size, seed, validation_split, steps_per_epoch
        )
        total_steps = common.total_steps(report, epochs, steps_per_epoch, batch_size)
        retrieval = [RetrievalAccuracy(*common.pictures_and_captions(validation), seed=seed)] if validation is not None else []
        if judging.is_shapes_data(data):
            dataset = shapes.with_hard_negatives(dataset, seed)
            validation = shapes.with_hard_negatives(validation, seed + 1) if validation is not None else None
        model = ContrastiveScorer(**config)
        if init_from is not None:
            common.copy_main_weights(ContrastiveScorer.from_preset(init_from), model, init_from)
        if jit_compile:  # XLA takes no strings: tokenize in the input pipeline
            def tokenize(captions, images):
                if isinstance(captions, tuple):
                    return tuple(model.text_tokenizer(c) for c in captions), images
                return model.text_tokenizer(captions), images

            dataset = dataset.map(tokenize)
            validation = validation.map(tokenize) if validation is not None else None
        model.compile(optimizer=common.transformer_optimizer(learning_rate, total_steps), jit_compile=jit_compile)
        model.build_optimizers()
        if is_chief(active):
            common.write_config(out, "scorer", {"preset": preset, "init_from": init_from and str(init_from), **config})
        best = []
        if validation is not None:
            validation = distributed(validation, active)
            best = judging.keep_best("val_r_precision", early_stopping, epochs, mode="max")
        history = fit_stage(
            model, distributed(dataset, active), out, FitStage("scorer", SCORER_FILE), strategy=active, epochs=epochs,
            steps_per_epoch=steps_per_epoch, time_budget_minutes=time_budget_minutes, verbose=verbose,
            first_callbacks=retrieval, validation_data=validation, last_callbacks=best,
        )
    return model, history


def train_prior(
    data, out, scorer, preset="small", epochs=DEFAULT_EPOCHS, batch_size=32, steps_per_epoch=None, learning_rate=None,
    seed=0, time_budget_minutes=None, verbose="auto", strategy="default", mixed_precision=False, validation_split=None,
    early_stopping=None, **overrides,
):
    """Trains a `DiffusionPrior` on the image embeddings `scorer` (a trained `ContrastiveScorer` or
    its `.keras` path, frozen) gives `data`'s pictures, into `out/prior.keras`.

    `validation_split` and `early_stopping` as in `train_image_tokenizer`; the saved model is the
    epoch with the lowest held-out diffusion loss (`val_loss`). `overrides` replace preset values
    and the prior's own (`sample_steps`, `candidates`, `cfg_scale`, `text_dropout`). Returns (model, history).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    validation_split = judging.validation_split_for(data, validation_split, early_stopping)
    config = {**presets.preset(preset, "prior"), "seed": seed, **overrides}
    learning_rate = learning_rate or presets.learning_rate(preset, "prior")
    scorer_path = str(scorer) if isinstance(scorer, (str, pathlib.Path)) else None
    with common.training_setup(strategy, mixed_precision) as active:
        if scorer_path is not None:
            scorer = ContrastiveScorer.from_preset(scorer_path)
        dataset, validation, report = common.training_and_validation(
            data, scorer.image_size, batch_size, seed, validation_split, steps_per_epoch
        )
        total_steps = common.total_steps(report, epochs, steps_per_epoch, batch_size)
        model = DiffusionPrior(scorer, **config)
        model.compile(optimizer=common.transformer_optimizer(learning_rate, total_steps))
        model.build_optimizers()
        if is_chief(active):
            common.write_config(out, "prior", {"preset": preset, "scorer": scorer_path, **config})
        best = []
        if validation is not None:
            validation = distributed(validation, active)
            best = judging.keep_best("val_loss", early_stopping, epochs)
        history = fit_stage(
            model, distributed(dataset, active), out, FitStage("prior", PRIOR_FILE), strategy=active, epochs=epochs,
            steps_per_epoch=steps_per_epoch, time_budget_minutes=time_budget_minutes, verbose=verbose,
            validation_data=validation, last_callbacks=best,
        )
    return model, history
