"""The shipped models: for the built-in shapes dataset (the default) and the built-in emoji folder,
a text-to-image model and the contrastive scorer that reranks its candidates (docs/results.md,
docs/real_pictures.md)."""

import pathlib

from keras_dalle.models.saving import SHIPPED, load_keras_file  # noqa: F401  (load_keras_file: part of this API)

DEFAULT_MODEL = SHIPPED["shapes_small"]
DEFAULT_SCORER = SHIPPED["shapes_scorer"]
# A shipped pair by its data's name: (text-to-image model, scorer) in `SHIPPED`.
SHIPPED_PAIRS = {"shapes": ("shapes_small", "shapes_scorer"), "emoji": ("emoji_small", "emoji_scorer")}


def load_model(path=None):
    """Loads a `.keras` text-to-image model (safe mode): `path`, or a shipped one by name ("shapes",
    "emoji", or a name of `SHIPPED`); the shipped shapes model when `path` is None."""
    from keras_dalle.models.dalle import KerasDALLE

    return KerasDALLE.from_preset(SHIPPED_PAIRS.get(str(path), (path,))[0] if path else "shapes_small")


def load_scorer(path=None):
    """Loads a `.keras` contrastive scorer (safe mode): `path`, or a shipped one by name ("shapes",
    "emoji", or a name of `SHIPPED`); the shipped shapes scorer when `path` is None."""
    from keras_dalle.models.scorer import ContrastiveScorer

    return ContrastiveScorer.from_preset(SHIPPED_PAIRS.get(str(path), (None, path))[1] if path else "shapes_scorer")


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
