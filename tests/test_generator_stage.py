"""The generator stage: on folders the epoch it keeps, what it holds out, the sampling defaults it
saves; fine-tuning from a trained model."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny
from keras_dalle.data import shapes

SIZE = tiny.SIZE


def _batch(count=8):
    images, captions = shapes.generate_shapes(count, seed=1, canvas_size=SIZE)
    return tf.data.Dataset.from_tensors((tf.constant(captions), images))


def test_training_on_a_shapes_folder_keeps_the_best_epoch_by_caption_accuracy(tmp_path, capsys):
    from keras_dalle.evaluation.generation import evaluate_model
    from keras_dalle.training import stages

    data = shapes.write_shapes_folder(tmp_path / "data", 40, seed=0, canvas_size=SIZE, progress=False)
    tokenizer = tiny.tokenizer()
    model, history = stages.train_text_to_image(
        data, tmp_path / "run", image_tokenizer=tokenizer, preset="tiny", epochs=4, batch_size=8, validation_split=0.25,
        verbose=0, learning_rate=0.3,  # too high on purpose: the measures do not improve every epoch
        sample_prompts=["a red circle"],  # the user's own grid prompts do not turn the caption checker off
    )
    assert len(history.history["val_cross_entropy"]) == 4  # reported beside the picture-level measure
    assert model.dropout == stages.SMALL_DATASET_DROPOUT  # 30 training images: a small dataset
    # A shapes folder: caption-checker accuracy on the tuning prompts is logged every epoch, per group too,
    # whatever the grid shows, and picks the epoch the file keeps.
    accuracies = history.history["tuning_accuracy"]
    assert len(accuracies) == 4 and "tuning_full" in history.history
    saved = keras.saving.load_model(tmp_path / "run" / "keras_dalle.keras")
    kept = evaluate_model(saved, shapes.tuning_prompts(), num_images=1, seed=0, progress=False)["overall"]["all"]
    assert kept == max(accuracies)
    assert "best epoch" in capsys.readouterr().out


def test_a_folder_of_unique_captions_holds_none_out_and_keeps_the_epoch_that_draws_them_best(tmp_path, capsys):
    from keras_dalle.training import judging
    from keras_dalle.training.callbacks import NearestPictureAccuracy

    judge, model, history, out = tiny.train_on_unique_captions(tmp_path, capsys)
    accuracies = history.history["tuning_accuracy"]
    assert judge.tuning_prompts() == sorted(f"pattern number {i}" for i in range(12))  # every caption: fewer than 200
    saved = keras.saving.load_model(tmp_path / "run" / "keras_dalle.keras")
    measure = NearestPictureAccuracy(judge, judge.tuning_prompts()).measure
    choice = json.loads((tmp_path / "run" / judging.SAMPLING_CHOICE_FILE).read_text())
    trained_with = choice["tried"][0]["settings"]  # the model's own defaults, which the epochs sampled with
    # The file holds the best epoch's weights ...
    assert measure(saved, **trained_with)["top1"] == max(accuracies)
    # ... and the sampling defaults that drew the tuning captions best, tried after training.
    assert len(choice["tried"]) == len(judging.SAMPLING_CHOICES)
    assert saved.sampling_defaults() == choice["chosen"]
    assert measure(saved)["top1"] == max(row["top1"] for row in choice["tried"])
    assert "best epoch" in out and "sampling defaults saved with the model" in out


def test_fine_tuning_starts_from_the_given_model(trained, tmp_path):
    from keras_dalle.training import stages

    source, path = trained
    fresh = tiny.dalle(optimizer=keras.optimizers.Adam(3e-3))
    batch = _batch()
    tuned, history = stages.train_text_to_image(
        "shapes", tmp_path / "run", init_from=path, preset="tiny", epochs=1, steps_per_epoch=2, batch_size=8,
        learning_rate=1e-6, two_object_fraction=1.0, verbose=0,
    )
    tuned.compile(optimizer="adam")
    fresh.compile(optimizer="adam")
    source_loss, tuned_loss, fresh_loss = (
        m.evaluate(batch, verbose=0, return_dict=True)["cross_entropy"] for m in (source, tuned, fresh)
    )
    assert abs(tuned_loss - source_loss) < 0.01 < fresh_loss - source_loss
    # The run uses the model's own image tokenizer, so its tokens mean the same codes.
    for mine, theirs in zip(tuned.image_tokenizer.weights, source.image_tokenizer.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert json.loads((tmp_path / "run" / "generator_config.json").read_text())["init_from"] == str(path)


def test_fine_tuning_rejects_other_sizes_and_a_second_tokenizer(trained, tmp_path):
    from keras_dalle.training import stages

    _, path = trained
    with pytest.raises(ValueError, match="other sizes"):
        stages.train_text_to_image("shapes", tmp_path / "a", init_from=path, preset="tiny", width=32, epochs=1,
                                   steps_per_epoch=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        stages.train_text_to_image("shapes", tmp_path / "b", init_from=path, image_tokenizer=path, preset="tiny",
                                   epochs=1, steps_per_epoch=1, batch_size=8, verbose=0)
