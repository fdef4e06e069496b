"""The shipped default model: trained on the built-in shapes dataset (see README for the command)."""

import pathlib

DEFAULT_MODEL = pathlib.Path(__file__).resolve().parent / "assets" / "shapes_small.keras"


def load_keras_file(path, expected=None):
    """Loads a `.keras` file in safe mode, with errors that name the file and say what is wrong with it.

    FileNotFoundError when there is no such file; ValueError when the file is not a `.keras`
    archive (a truncated download, another format), cannot be loaded, or (with `expected`, a
    class) holds another kind of model.
    """
    import zipfile

    import keras

    import keras_dalle.models.dalle  # noqa: F401  (registers the classes for deserialization)

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


def save_for_inference(path, out, **sampling_defaults):
    """Copies a trained `.keras` file without its optimizer state: about a third of the size, what ships.

    `sampling_defaults` (temperature, top_k, top_p, cfg_scale) replace the model's defaults,
    which `generate` and the exports use when a caller gives none.
    """
    from keras_dalle.sampling import validate_sampling_arguments

    model = load_model(path)  # loaded uncompiled: no optimizer variables to save
    for name, value in sampling_defaults.items():
        if value is not None:
            setattr(model, name, value)
    validate_sampling_arguments(model.temperature, model.top_k, model.top_p, model.cfg_scale, model.codebook_size)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out
