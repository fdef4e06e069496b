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
