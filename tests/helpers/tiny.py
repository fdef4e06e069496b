"""The tiny models every test builds: one builder each for the image tokenizer, the text-to-image model,
the scorer, the unCLIP decoder and the diffusion prior; and a tiny folder of pictures with captions of their own."""

import keras
import numpy as np
from PIL import Image

from keras_dalle import presets
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_tokenizer import ImageTokenizer
from keras_dalle.models.prior import DiffusionPrior
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.models.unclip import UnCLIPDecoder

SIZE = presets.preset("tiny", "image_tokenizer")["image_size"]


def _compile(model, optimizer, d_optimizer):
    if optimizer is not None:
        model.compile(optimizer=optimizer, d_optimizer=d_optimizer or optimizer.__class__.from_config(optimizer.get_config()))
        model.build_optimizers()
    return model


def tokenizer(optimizer=None, d_optimizer=None, **overrides):
    """A seeded tiny `ImageTokenizer`, built; compiled with both optimizers when `optimizer` is given."""
    keras.utils.set_random_seed(0)
    model = ImageTokenizer(**{**presets.preset("tiny", "image_tokenizer"), "seed": 0, **overrides})
    model.build((None, SIZE, SIZE, 3))
    return _compile(model, optimizer, d_optimizer)


def dalle(image_tokenizer=None, optimizer=None, d_optimizer=None, **overrides):
    """A seeded tiny `KerasDALLE` (on a fresh tiny tokenizer unless one is given); compiled when `optimizer` is given."""
    image_tokenizer = image_tokenizer or tokenizer()
    model = KerasDALLE(image_tokenizer, **{**presets.preset("tiny", "text_to_image"), "seed": 0, **overrides})
    return _compile(model, optimizer, d_optimizer)


def scorer(optimizer=None, **overrides):
    """A seeded tiny `ContrastiveScorer`, built; compiled when `optimizer` is given."""
    keras.utils.set_random_seed(0)
    model = ContrastiveScorer(**{**presets.preset("tiny", "scorer"), **overrides})
    model.build()
    if optimizer is not None:
        model.compile(optimizer=optimizer)
        model.build_optimizers()
    return model


def _compiled_or_built(model, optimizer):
    if optimizer is None:
        model.build()
        return model
    model.compile(optimizer=optimizer)
    model.build_optimizers()
    return model


def decoder(contrastive_scorer=None, optimizer=None, **overrides):
    """A seeded tiny `UnCLIPDecoder` on a fresh tiny tokenizer and `contrastive_scorer` (default: a fresh
    tiny scorer); compiled when `optimizer` is given, built otherwise."""
    keras.utils.set_random_seed(0)
    sizes = {**presets.preset("tiny", "text_to_image"), "seed": 0, "adversarial_weight": 0.0, **overrides}
    return _compiled_or_built(UnCLIPDecoder(tokenizer(), contrastive_scorer or scorer(), **sizes), optimizer)


def prior(contrastive_scorer=None, optimizer=None, **overrides):
    """A seeded tiny `DiffusionPrior` (8 sampling steps) on `contrastive_scorer` (default: a fresh tiny
    scorer); compiled when `optimizer` is given, built otherwise."""
    keras.utils.set_random_seed(0)
    sizes = {**presets.preset("tiny", "prior"), "seed": 0, "sample_steps": 8, **overrides}
    return _compiled_or_built(DiffusionPrior(contrastive_scorer or scorer(), **sizes), optimizer)


def unique_caption_folder(folder, count=12, seed=0):
    """Writes `count` blocky patterns, each with a name of its own ("pattern number I"), to `folder`
    (a folder whose captions do not repeat, like the emoji folder); returns the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for index in range(count):
        picture = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((SIZE // 4, SIZE // 4, 1))).astype(np.uint8)
        Image.fromarray(picture).save(folder / f"{index}.png")
        (folder / f"{index}.txt").write_text(f"pattern number {index}\n")
    return folder


def train_on_unique_captions(tmp_path, capsys, **stage_arguments):
    """Trains the text-to-image stage (or, with `scorer`, the decoder) 4 epochs on a
    `unique_caption_folder`, checks what every such run does (holds none out, no small-dataset
    dropout, a tuning accuracy each epoch) and returns (the folder's `NearestPictures`, the model,
    its history, the run's printed output)."""
    from keras_dalle.evaluation.nearest import NearestPictures
    from keras_dalle.training import stages

    folder = unique_caption_folder(tmp_path / "data")  # 12 blocky patterns, each with its own name
    model, history = stages.train_text_to_image(
        folder, tmp_path / "run", image_tokenizer=tokenizer(), preset="tiny", epochs=4, batch_size=4, verbose=0,
        learning_rate=0.05, **stage_arguments,
    )
    out = capsys.readouterr().out
    assert "no pictures held out" in out and "val_cross_entropy" not in history.history
    assert model.dropout == presets.preset("tiny", "text_to_image").get("dropout", 0.0)  # no small-dataset dropout
    assert len(history.history["tuning_accuracy"]) == 4 and len(history.history["tuning_top5"]) == 4
    return NearestPictures.from_folder(folder, SIZE), model, history, out
