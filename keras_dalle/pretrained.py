"""The shipped defaults, trained on the built-in shapes dataset (see README for the commands): the
text-to-image model and the contrastive scorer that reranks its candidates."""

import pathlib

DEFAULT_MODEL = pathlib.Path(__file__).resolve().parent / "assets" / "shapes_small.keras"
DEFAULT_SCORER = pathlib.Path(__file__).resolve().parent / "assets" / "shapes_scorer.keras"


def load_keras_file(path, expected=None):
    """Loads a `.keras` file in safe mode, with errors that name the file and say what is wrong with it.

    FileNotFoundError when there is no such file; ValueError when the file is not a `.keras`
    archive (a truncated download, another format), cannot be loaded, or (with `expected`, a
    class) holds another kind of model.
    """
    import zipfile

    import keras

    import keras_dalle.models.dalle  # noqa: F401  (register the classes for deserialization)
    import keras_dalle.models.scorer  # noqa: F401

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a .keras model archive (a .keras file is a zip archive; truncated download or another format?)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot load this .keras file ({type(err).__name__}: {err})") from None
    if expected is not None and not isinstance(model, expected):
        raise ValueError(f"{path}: holds a {type(model).__name__}, expected a {expected.__name__}")
    return model


def load_model(path=None):
    """Loads a `.keras` text-to-image model (safe mode); the shipped shapes model when `path` is None."""
    from keras_dalle.models.dalle import KerasDALLE

    return load_keras_file(pathlib.Path(path) if path else DEFAULT_MODEL, expected=KerasDALLE)


def load_scorer(path=None):
    """Loads a `.keras` contrastive scorer (safe mode); the shipped shapes scorer when `path` is None."""
    from keras_dalle.models.scorer import ContrastiveScorer

    return load_keras_file(pathlib.Path(path) if path else DEFAULT_SCORER, expected=ContrastiveScorer)


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
