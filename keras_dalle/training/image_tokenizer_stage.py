"""Stage one: train the image tokenizer on a folder of captioned images."""

import json
import logging
import pathlib

import keras

from keras_dalle import presets
from keras_dalle.data.loader import load_dataset
from keras_dalle.models.image_tokenizer import ImageTokenizer
from keras_dalle.training.callbacks import ReconstructionGrid, TimeBudget

logger = logging.getLogger("keras_dalle")
TOKENIZER_FILE = "image_tokenizer.keras"
PREVIEW_COUNT = 8


def train_image_tokenizer(
    data,
    out,
    preset="small",
    epochs=10,
    batch_size=32,
    steps_per_epoch=None,
    learning_rate=5e-4,
    seed=0,
    time_budget_minutes=None,
    verbose="auto",
    **overrides,
):
    """Trains an `ImageTokenizer` on `data` (any source `load_dataset` takes), writing to `out`:

    - `image_tokenizer.keras`: the model, saved after every epoch and at the end;
    - `backup/`: the state to resume from; rerunning the same call continues where it stopped;
    - `logs/`: TensorBoard scalars and reconstruction grids;
    - `reconstructions/epoch_XXX.png`: originals above their reconstructions.

    `overrides` replace preset values (e.g. `adversarial_weight=0`). Returns (model, history).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {**presets.preset(preset, "image_tokenizer"), "seed": seed, **overrides}
    dataset, report = load_dataset(
        data,
        image_size=config["image_size"],
        batch_size=batch_size,
        seed=seed,
        repeat=steps_per_epoch is not None,
        drop_remainder=True,
    )
    print(report.summary())
    model = ImageTokenizer(**config)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9),
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9),
    )
    model.build_optimizers()
    preview = next(iter(dataset))[1][:PREVIEW_COUNT].numpy()
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(out / TOKENIZER_FILE)),
        keras.callbacks.TensorBoard(str(out / "logs")),
        ReconstructionGrid(preview, out / "reconstructions", out / "logs" / "images"),
    ]
    if time_budget_minutes:
        callbacks.append(TimeBudget(time_budget_minutes))
    (out / "config.json").write_text(json.dumps({"preset": preset, **config}, indent=2) + "\n")
    history = model.fit(
        dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose, shuffle=False
    )
    model.save(out / TOKENIZER_FILE)
    return model, history
