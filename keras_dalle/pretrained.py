"""The shipped defaults, trained on the built-in shapes dataset (see README for the commands): the
text-to-image model and the contrastive scorer that reranks its candidates."""

import pathlib

from keras_dalle.models.saving import SHIPPED, load_keras_file  # noqa: F401  (load_keras_file: part of this API)

DEFAULT_MODEL = SHIPPED["shapes_small"]
DEFAULT_SCORER = SHIPPED["shapes_scorer"]


def load_model(path=None):
    """Loads a `.keras` text-to-image model (safe mode); the shipped shapes model when `path` is None."""
    from keras_dalle.models.dalle import KerasDALLE

    return KerasDALLE.from_preset(path or "shapes_small")


def load_scorer(path=None):
    """Loads a `.keras` contrastive scorer (safe mode); the shipped shapes scorer when `path` is None."""
    from keras_dalle.models.scorer import ContrastiveScorer

    return ContrastiveScorer.from_preset(path or "shapes_scorer")


def save_for_inference(path, out, **sampling_defaults):
    """Copies a trained `.keras` file (a text-to-image model or a scorer) without its optimizer state:
    about a third of the size, what ships.

    For a text-to-image model, `sampling_defaults` (temperature, top_k, top_p, cfg_scale) replace
    the model's defaults, which `generate` and the exports use when a caller gives none.
    """
    from keras_dalle.models.dalle import KerasDALLE
    from keras_dalle.sampling import validate_sampling_arguments

    model = load_keras_file(path)  # loaded uncompiled: no optimizer variables to save
    given = {name: value for name, value in sampling_defaults.items() if value is not None}
    if not isinstance(model, KerasDALLE):
        if given:
            raise ValueError(f"{path}: a {type(model).__name__} has no sampling settings to set")
    else:
        for name, value in given.items():
            setattr(model, name, value)
        validate_sampling_arguments(model.temperature, model.top_k, model.top_p, model.cfg_scale, model.codebook_size)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out
