import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny
from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_codec import to_unit_range
from keras_dalle.models.image_tokenizer import ImageTokenizer

CONFIG = presets.preset("tiny", "image_tokenizer")
SIZE = CONFIG["image_size"]


def _images(count=8, seed=0):
    return shapes.generate_shapes(count, seed=seed, canvas_size=SIZE)[0]


def _model(learning_rate=3e-3, d_learning_rate=3e-3, **overrides):
    return tiny.tokenizer(keras.optimizers.Adam(learning_rate), keras.optimizers.Adam(d_learning_rate), **overrides)


def test_encode_decode_shapes_and_dtypes():
    model = _model()
    tokens = model.encode(_images(3))
    grid = SIZE // CONFIG["downsample_factor"]
    assert tokens.shape == (3, grid, grid) and tokens.dtype == "int32"
    assert 0 <= int(tf.reduce_min(tokens)) and int(tf.reduce_max(tokens)) < CONFIG["codebook_size"]
    pictures = model.decode(tokens)
    assert pictures.shape == (3, SIZE, SIZE, 3) and pictures.dtype == "uint8"


def test_loss_falls_on_a_fixed_batch():
    model = _model(adversarial_weight=0)
    batch = tf.data.Dataset.from_tensors(_images(8)).repeat(60)
    history = model.fit(batch, epochs=1, verbose=0)
    first = model.evaluate(tf.data.Dataset.from_tensors(_images(8)), verbose=0, return_dict=True)
    assert history.history["reconstruction_loss"][0] > first["reconstruction_loss"]
    fresh = _model(adversarial_weight=0).evaluate(tf.data.Dataset.from_tensors(_images(8)), verbose=0, return_dict=True)
    assert first["reconstruction_loss"] < 0.7 * fresh["reconstruction_loss"]


def test_straight_through_gradient_reaches_the_encoder():
    model = _model()
    pixels = to_unit_range(_images(4))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(pixels) - pixels))
    gradients = tape.gradient(loss, model.encoder.trainable_weights)
    assert all(g is not None for g in gradients)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in gradients) > 0


def _snapshot(weights):
    return [np.array(w) for w in weights]


def _changed(before, weights):
    return [not np.array_equal(b, np.array(w)) for b, w in zip(before, weights)]


@pytest.mark.parametrize("frozen", ["discriminator", "autoencoder"])
def test_each_optimizer_updates_only_its_own_weights(frozen):
    # With one optimizer's learning rate at zero, a train step changes only the other side.
    model = _model(
        learning_rate=0.0 if frozen == "autoencoder" else 3e-3,
        d_learning_rate=0.0 if frozen == "discriminator" else 3e-3,
        adversarial_start=0,
        dead_code_steps=10**6,
    )
    discriminator, autoencoder = model.discriminator.trainable_weights, model.main_weights
    before_d, before_a = _snapshot(discriminator), _snapshot(autoencoder)
    model.fit(tf.data.Dataset.from_tensors(_images(4)).repeat(2), epochs=1, verbose=0)
    changed_d, changed_a = _changed(before_d, discriminator), _changed(before_a, autoencoder)
    if frozen == "discriminator":
        assert not any(changed_d) and all(changed_a)
    else:
        assert all(changed_d) and not any(changed_a)


def test_keras_file_round_trip_gives_identical_tokens(tmp_path):
    model = _model()
    model.fit(tf.data.Dataset.from_tensors(_images(4)).repeat(3), epochs=1, verbose=0)
    path = tmp_path / "tokenizer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    images = _images(5, seed=1)
    np.testing.assert_array_equal(restored.encode(images), model.encode(images))
    np.testing.assert_array_equal(restored.decode(model.encode(images)), model.decode(model.encode(images)))


def test_get_config_round_trip():
    model = ImageTokenizer(**{**CONFIG, "adversarial_weight": 0.3, "adversarial_start": 7})
    clone = ImageTokenizer.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    no_gan = ImageTokenizer(**CONFIG, adversarial_weight=0)
    assert no_gan.discriminator is None


@pytest.mark.parametrize(
    "shape,message",
    [((SIZE, SIZE, 3), "rank 4"), ((2, SIZE, SIZE, 1), "3 channels"), ((2, SIZE, SIZE, 4), "3 channels"), ((2, 8, 8, 3), f"{SIZE} x {SIZE}")],
)
def test_bad_image_batch_raises(shape, message):
    model = _model()
    with pytest.raises(ValueError, match=message):
        model.encode(np.zeros(shape, np.uint8))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="downsample_factor"):
        ImageTokenizer(**{**CONFIG, "downsample_factor": 3, "image_size": 15})
    with pytest.raises(ValueError, match="adversarial_weight"):
        ImageTokenizer(**{**CONFIG, "adversarial_weight": -1})


def test_training_a_frozen_tokenizer_says_so():
    config = presets.preset("tiny", "image_tokenizer")
    tokenizer = ImageTokenizer(**config)
    tokenizer.build((None, config["image_size"], config["image_size"], 3))
    KerasDALLE(tokenizer, **presets.preset("tiny", "text_to_image"))  # freezes it
    tokenizer.compile(optimizer=keras.optimizers.Adam(), d_optimizer=keras.optimizers.Adam())
    images = np.zeros((2, config["image_size"], config["image_size"], 3), np.uint8)
    with pytest.raises(ValueError, match="frozen"):
        tokenizer.fit(images, epochs=1, batch_size=2, verbose=0)


class _SpoilTheLastValidation(keras.callbacks.Callback):
    """Scrambles the decoder just before the last epoch's validation, so that epoch is the worst on
    every machine (a too-high learning rate made it so on some and not on others)."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs, self.epoch = epochs, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        if self.epoch == self.epochs - 1:
            for weight in self.model.decoder.weights:
                weight.assign(weight + 3.0)


def test_training_on_a_folder_keeps_the_epoch_with_the_best_held_out_psnr(tmp_path, monkeypatch):
    from keras_dalle.data.loader import load_dataset
    from keras_dalle.training import judging, stages

    fit_stage = stages.fit_stage
    monkeypatch.setattr(stages, "fit_stage", lambda *args, first_callbacks=(), **kwargs: fit_stage(
        *args, first_callbacks=[*first_callbacks, _SpoilTheLastValidation(4)], **kwargs))
    data = shapes.write_shapes_folder(tmp_path / "data", 40, seed=1, canvas_size=tiny.SIZE, progress=False)
    keras.utils.set_random_seed(0)
    model, history = stages.train_image_tokenizer(data, tmp_path / "run", preset="tiny", epochs=4, batch_size=8, verbose=0)
    scores = history.history["val_psnr"]
    assert len(scores) == 4 and int(np.argmax(scores)) < 3  # 10% held out by default; the last epoch is not the best
    assert len(history.history["step_seconds"]) == 4 and min(history.history["step_seconds"]) > 0  # every stage logs its step
    held_out, report = load_dataset(data, image_size=tiny.SIZE, batch_size=8, validation_split=judging.DEFAULT_VALIDATION_SPLIT,
                                    subset="validation", shuffle=False, progress=False)
    assert report.validation == 4
    saved = keras.saving.load_model(tmp_path / "run" / stages.TOKENIZER_FILE)
    saved.compile(optimizer="adam")
    assert abs(saved.evaluate(held_out, verbose=0, return_dict=True)["psnr"] - max(scores)) < 1e-3
