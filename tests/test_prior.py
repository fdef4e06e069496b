"""The diffusion prior: caption -> the scorer's image embedding, and text-to-image through it and the decoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny
from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.models.prior import DiffusionPrior, cosine_alpha_bars

SIZE = tiny.SIZE


def _batch(count=8):
    images, captions = shapes.generate_shapes(count, seed=1, canvas_size=SIZE)
    return tf.data.Dataset.from_tensors((tf.constant(captions), images))


@pytest.fixture(scope="module")
def prior():
    model = tiny.prior(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(_batch().repeat(20), epochs=1, verbose=0)
    return model


def test_loss_falls():
    model = tiny.prior(optimizer=keras.optimizers.Adam(3e-3), text_dropout=0.0)
    evaluation = _batch().repeat(20)  # the loss draws timesteps and noise: average many draws
    before = model.evaluate(evaluation, verbose=0, return_dict=True)["loss"]
    model.fit(_batch().repeat(60), epochs=1, verbose=0)
    assert model.evaluate(evaluation, verbose=0, return_dict=True)["loss"] < 0.7 * before


def test_the_cosine_schedule_falls_from_signal_to_noise():
    alpha_bars = cosine_alpha_bars(1000)
    assert alpha_bars.shape == (1000,) and np.all(np.diff(alpha_bars) < 0)
    assert alpha_bars[0] > 0.999 and alpha_bars[-1] < 1e-3


def test_samples_are_unit_seeded_and_the_best_of_their_candidates(prior):
    prompts = ["a red circle", "a small blue square at the top", "a green triangle"]
    drawn = prior.sample(prompts, seed=5, candidates=3)
    assert drawn.shape == (3, prior.embed_dim) and drawn.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(drawn, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(drawn, prior.sample(prompts, seed=5, candidates=3))
    assert not np.allclose(drawn, prior.sample(prompts, seed=6, candidates=3))
    # Candidate c of prompt i uses seed + i + c * len(prompts): one-candidate draws at those seeds.
    singles = np.stack([prior.sample(prompts, seed=5 + c * len(prompts), candidates=1) for c in range(3)])  # (C, P, E)
    texts = prior.scorer.embed_text(prompts)
    best = np.sum(singles * texts[None], axis=-1).argmax(axis=0)
    np.testing.assert_allclose(drawn, singles[best, np.arange(3)], atol=1e-5)


def test_guidance_changes_the_samples(prior):
    plain = prior.sample(["a red circle"], seed=1, candidates=1)
    guided = prior.sample(["a red circle"], seed=1, candidates=1, cfg_scale=3.0)
    assert not np.allclose(plain, guided)


def test_guidance_1_runs_the_conditional_alone_and_draws_what_guidance_near_1_draws(prior):
    prompts = ["a red circle", "a small blue square at the top"]
    alone = prior.sample(prompts, seed=3, candidates=2, cfg_scale=1.0)  # the conditional rows only
    mixed = prior.sample(prompts, seed=3, candidates=2, cfg_scale=1.0 + 1e-6)  # conditional and unconditional rows
    np.testing.assert_allclose(alone, mixed, atol=1e-4)


def test_saves_and_loads_as_one_keras_file(prior, tmp_path):
    prior.save(tmp_path / "prior.keras")
    loaded = keras.saving.load_model(tmp_path / "prior.keras")
    assert isinstance(loaded, DiffusionPrior)
    np.testing.assert_allclose(loaded.sample(["a red circle"], seed=2), prior.sample(["a red circle"], seed=2), atol=1e-5)


def test_bad_arguments_raise(prior):
    with pytest.raises(ValueError, match="prompts must be"):
        prior.sample([])
    with pytest.raises(ValueError, match="candidates must be"):
        prior.sample(["a red circle"], candidates=0)
    with pytest.raises(ValueError, match="cfg_scale must be"):
        prior.sample(["a red circle"], cfg_scale=-1.0)
    with pytest.raises(ValueError, match="sample_steps must be"):
        tiny.prior(sample_steps=2000)
    with pytest.raises(ValueError, match="must be a ContrastiveScorer"):
        DiffusionPrior(object(), **presets.preset("tiny", "prior"))


def test_text_to_image_through_the_prior_and_the_decoder(prior):
    decoder = tiny.decoder(contrastive_scorer=prior.scorer)
    pictures = decoder.draw_from_prompts(["a red circle", "a blue square"], prior, num_images=2, seed=0)
    assert pictures.shape == (4, SIZE, SIZE, 3) and pictures.dtype == np.uint8
    np.testing.assert_array_equal(pictures, decoder.draw_from_prompts(["a red circle", "a blue square"], prior, num_images=2, seed=0))
    other = tiny.prior(contrastive_scorer=tiny.scorer(embed_dim=8))
    with pytest.raises(ValueError, match="8-dimensional embeddings"):
        decoder.draw_from_prompts(["a red circle"], other)


def test_the_prior_stage_trains_on_a_folder_and_keeps_its_best_epoch(tmp_path, capsys):
    from keras_dalle import cli

    data = shapes.write_shapes_folder(tmp_path / "data", 40, seed=0, canvas_size=SIZE, progress=False)
    run = tmp_path / "run"
    common = ["train", "--stage", "prior", "--data", str(data), "--out", str(run), "--preset", "tiny", "--batch-size", "8"]
    assert cli.main([*common, "--epochs", "1"]) == 2
    assert "no trained scorer" in capsys.readouterr().err
    run.mkdir()
    tiny.scorer().save(run / "scorer.keras")
    assert cli.main([*common, "--jit-compile"]) == 2
    assert "do not apply to --stage prior" in capsys.readouterr().err
    assert cli.main([*common, "--epochs", "3"]) == 0
    assert "best epoch" in capsys.readouterr().out  # 10% of the folder held out: its loss picks the epoch
    prior = keras.saving.load_model(run / "prior.keras")
    assert isinstance(prior, DiffusionPrior)
    assert prior.sample(["a red circle"], seed=0).shape == (1, prior.embed_dim)
