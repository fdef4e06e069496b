"""The shipped default model: trained on the built-in shapes dataset (see README for the command)."""

import pathlib

DEFAULT_MODEL = pathlib.Path(__file__).resolve().parent / "assets" / "shapes_small.keras"


def load_model(path=None):
    """Loads a `.keras` text-to-image model (safe mode); the shipped shapes model when `path` is None."""
    import keras

    import keras_dalle.models.dalle  # noqa: F401  (registers the classes for deserialization)

    path = pathlib.Path(path) if path else DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    return keras.saving.load_model(path, safe_mode=True)


def save_for_inference(path, out):
    """Copies a trained `.keras` file without its optimizer state: about a third of the size, what ships."""
    model = load_model(path)  # loaded uncompiled: no optimizer variables to save
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out
