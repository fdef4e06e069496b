"""`train_stages`: one or all of the training stages in turn, with the rules of which option applies
to which stage (what `keras-dalle train` runs)."""

import pathlib

from keras_dalle.models.saving import preset_file
from keras_dalle.training import distribute, embedding_stages, stages

STAGES = ("tokenizer", "generator", "scorer", "all", "decoder", "prior")
GENERATOR_ONLY = ("two_object_fraction", "word_attention", "sentence_layers", "word_positions", "dropout", "sample_prompts")
ADVERSARIAL = ("adversarial_weight", "adversarial_start")
DECODER_ONLY = ("embedding_noise", "embedding_mixing")


def train_stages(stage, data, out, strategy="default", tokenizer=None, init_from=None, scorer=None, **options):
    """Trains `stage` ("tokenizer", "generator", "scorer" or "all": the three in turn, the generator
    on the tokenizer trained just now; or "decoder" and "prior": the unCLIP decoder and the
    diffusion prior on `scorer`, by default `out/scorer.keras`) on `data` into the run folder
    `out`, and prints what it saved.

    `options` are the stages' keywords (see `stages.train_image_tokenizer`, `train_text_to_image`,
    `embedding_stages.train_scorer`, `train_prior`); None means the stage's default.
    `GENERATOR_ONLY` options apply to the generator and the decoder alone, `DECODER_ONLY` ones to the
    decoder alone, `ADVERSARIAL` ones not to
    the scorer, the decoder or the prior, `init_from` to the generator or the scorer, `scorer` to
    the decoder and the prior, each a ValueError elsewhere. `strategy`: a name of
    `distribute.STRATEGIES` or a strategy.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    given = {key: value for key, value in options.items() if value is not None and value is not False}
    generator_only = sorted(given.keys() & set(GENERATOR_ONLY))
    if stage not in ("generator", "all", "decoder") and generator_only:
        raise ValueError(f"{', '.join(_flag(k) for k in generator_only)} apply to --stage generator or decoder only")
    if stage != "decoder" and given.keys() & set(DECODER_ONLY):
        raise ValueError(f"only --stage decoder takes {', '.join(_flag(k) for k in sorted(given.keys() & set(DECODER_ONLY)))}")
    if stage in ("scorer", "decoder", "prior") and given.keys() & set(ADVERSARIAL):
        raise ValueError(f"the {stage} has no adversarial term: --adversarial-weight and --adversarial-start do not apply")
    if stage not in ("decoder", "prior") and scorer:
        raise ValueError("--scorer names the scorer of the decoder or the prior: use it with --stage decoder or prior")
    if stage == "prior" and (given.get("jit_compile") or tokenizer):
        raise ValueError("--jit-compile and --tokenizer do not apply to --stage prior")
    if stage not in ("generator", "scorer") and init_from:
        raise ValueError("--init-from fine-tunes one model: use it with --stage generator or --stage scorer")
    # First, before anything touches the TensorFlow runtime: MultiWorkerMirroredStrategy configures
    # collective ops at start-up and can be made once per process, so all stages share it.
    strategy = distribute.make_strategy(strategy) if isinstance(strategy, str) else strategy
    shared = {key: value for key, value in given.items() if key not in GENERATOR_ONLY}
    without_adversarial = {key: value for key, value in shared.items() if key not in ADVERSARIAL}
    out = pathlib.Path(out)
    if stage in ("tokenizer", "all"):
        tokenizer, _ = stages.train_image_tokenizer(data, out, strategy=strategy, **shared)
        _saved(strategy, out / stages.TOKENIZER_FILE)
    if stage in ("generator", "all"):
        # With "all" the generator wraps the tokenizer trained just now (every worker holds it;
        # only the chief wrote the file).
        stages.train_text_to_image(
            data, out, image_tokenizer=tokenizer, init_from=init_from, strategy=strategy, **given
        )
        _saved(strategy, out / stages.MODEL_FILE)
    if stage in ("scorer", "all"):
        embedding_stages.train_scorer(data, out, init_from=init_from, strategy=strategy, **without_adversarial)
        _saved(strategy, out / stages.SCORER_FILE)
    if stage in ("decoder", "prior"):
        scorer = preset_file(scorer) if scorer else out / stages.SCORER_FILE
        if not scorer.is_file():
            raise FileNotFoundError(f"{scorer}: no trained scorer (train one with --stage scorer, or pass --scorer)")
    if stage == "decoder":
        stages.train_text_to_image(data, out, image_tokenizer=tokenizer, scorer=scorer, strategy=strategy, **given)
        _saved(strategy, out / stages.DECODER_FILE)
    if stage == "prior":
        embedding_stages.train_prior(data, out, scorer, strategy=strategy, **without_adversarial)
        _saved(strategy, out / stages.PRIOR_FILE)


def _flag(keyword):
    return "--" + keyword.replace("_", "-")


def _saved(strategy, path):
    if distribute.is_chief(strategy):
        print(f"saved {path}")
