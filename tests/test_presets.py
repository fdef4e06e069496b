"""Loading trained models: `from_preset` by a shipped name or a path, the same thing `pretrained` loads."""
import numpy as np
import pytest

from keras_dalle import pretrained
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.scorer import ContrastiveScorer


def test_from_preset_loads_the_shipped_models_by_name_and_by_path():
    by_name = KerasDALLE.from_preset("shapes_small")
    by_path = KerasDALLE.from_preset(str(pretrained.DEFAULT_MODEL))
    shipped = pretrained.load_model()
    for a, b, c in zip(by_name.weights, by_path.weights, shipped.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    assert by_name.sampling_defaults() == shipped.sampling_defaults()
    assert isinstance(ContrastiveScorer.from_preset("shapes_scorer"), ContrastiveScorer)


def test_from_preset_names_what_is_wrong():
    with pytest.raises(ValueError, match="holds a ContrastiveScorer, expected a KerasDALLE"):
        KerasDALLE.from_preset("shapes_scorer")
    with pytest.raises(ValueError, match="no shipped model of that name.*shapes_small"):
        KerasDALLE.from_preset("shapes_large")
    with pytest.raises(FileNotFoundError, match="missing.keras: no such model file"):
        KerasDALLE.from_preset("missing.keras")


def test_an_image_tokenizer_comes_from_its_own_file_or_a_text_to_image_models(tmp_path):
    from keras_dalle.models.saving import load_image_tokenizer

    shipped = KerasDALLE.from_preset("shapes_small").image_tokenizer
    shipped.save(tmp_path / "image_tokenizer.keras")
    for source in ("shapes_small", pretrained.DEFAULT_MODEL, tmp_path / "image_tokenizer.keras"):
        tokenizer = load_image_tokenizer(source)
        for a, b in zip(tokenizer.weights, shipped.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="holds a ContrastiveScorer, expected an ImageTokenizer or a text-to-image model"):
        load_image_tokenizer("shapes_scorer")


def test_the_shipped_emoji_model_draws_greedily_what_its_names_say():
    model, scorer = pretrained.load_model("emoji"), pretrained.load_scorer("emoji")
    scorer.check_fits(model)
    assert model.sampling_defaults() == {"temperature": 1.0, "top_k": 1, "top_p": 1.0, "cfg_scale": 1.0}  # chosen by its run
    apple, face, flag = model.generate(["red apple", "grinning face", "flag: japan"], num_images=1, seed=0)
    red, green, blue = apple.reshape(-1, 3).mean(axis=0)
    assert red > 2 * green and red > 2 * blue  # an apple is red
    red, green, blue = face.reshape(-1, 3).mean(axis=0)
    assert green > 2 * blue and red > 2 * blue  # a grinning face is yellow
    assert (flag.reshape(-1, 3) > 200).all(axis=1).mean() > 0.3  # the flag of japan is mostly white
