"""Loading trained models from one `.keras` file each (safe mode), by path or by the name of a
model shipped in the package (`SHIPPED`): the one implementation behind `pretrained.load_model`
and `from_preset`."""

import pathlib

ASSETS = pathlib.Path(__file__).resolve().parent.parent / "assets"
# The models shipped in the package: trained on the built-in shapes dataset (docs/results.md) and
# on the built-in emoji folder (docs/real_pictures.md: the README command at 32 pixels, 2026-12-05).
SHIPPED = {
    "shapes_small": ASSETS / "shapes_small.keras", "shapes_scorer": ASSETS / "shapes_scorer.keras",
    "emoji_small": ASSETS / "emoji_small.keras", "emoji_scorer": ASSETS / "emoji_scorer.keras",
}


def preset_file(preset):
    """The `.keras` file of `preset`: a name in `SHIPPED` or a path."""
    if str(preset) in SHIPPED:
        return SHIPPED[str(preset)]
    path = pathlib.Path(preset)
    if not path.suffix and not path.exists():
        raise ValueError(f"{preset!r}: no shipped model of that name ({', '.join(SHIPPED)}) and no such file")
    return path


def load_keras_file(path, expected=None):
    """Loads a `.keras` file in safe mode, with errors that name the file and say what is wrong with it.

    FileNotFoundError when there is no such file; ValueError when the file is not a `.keras`
    archive (a truncated download, another format), cannot be loaded, or (with `expected`, a
    class) holds another kind of model.
    """
    import zipfile

    import keras

    import keras_dalle.models.dalle  # noqa: F401  (registers the classes for deserialization)
    import keras_dalle.models.scorer  # noqa: F401
    import keras_dalle.models.prior  # noqa: F401
    import keras_dalle.models.unclip  # noqa: F401

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


def load_image_tokenizer(source):
    """The `ImageTokenizer` of `source`: an image tokenizer's `.keras` file, or a text-to-image
    model's (a path, or a name in `SHIPPED` such as "shapes_small"), whose tokenizer it takes.
    Errors as `load_keras_file`'s; ValueError when the file holds another kind of model."""
    from keras_dalle.models.dalle import KerasDALLE
    from keras_dalle.models.image_tokenizer import ImageTokenizer

    path = preset_file(source)
    model = load_keras_file(path)
    if isinstance(model, KerasDALLE):
        return model.image_tokenizer
    if not isinstance(model, ImageTokenizer):
        raise ValueError(f"{path}: holds a {type(model).__name__}, expected an ImageTokenizer or a text-to-image model")
    return model
