import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny
from keras_dalle import cli, pretrained
from keras_dalle.data import grammar, shapes
from keras_dalle.models.scorer import ContrastiveScorer

SIZE = tiny.SIZE


def _hard_negatives(captions, seed=0):
    return grammar.hard_negatives(captions, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def trained():
    """A tiny scorer trained for 96 steps on 256 one-object shapes with hard negatives, and its history."""
    images, captions = shapes.generate_shapes(256, seed=0, canvas_size=SIZE, objects="1")
    dataset = tf.data.Dataset.from_tensor_slices(((captions, _hard_negatives(captions)), images))
    model = tiny.scorer(keras.optimizers.Adam(3e-3))
    history = model.fit(dataset.shuffle(256, seed=0).batch(32).repeat(), epochs=6, steps_per_epoch=16, verbose=0)
    return model, history.history, images, captions


def test_scorer_learns_to_prefer_the_true_caption(trained):
    model, history, images, captions = trained
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    # In-batch retrieval beats chance (1/32 for distinct captions) by a wide margin.
    assert history["accuracy"][-1] > 0.1
    # Against a caption wrong in one attribute, the true caption scores higher more often than not.
    own = model.score(images[:128], captions[:128])
    wrong = model.score(images[:128], _hard_negatives(captions[:128], seed=1))
    assert (own > wrong).mean() > 0.6
    assert own.shape == (128,) and own.dtype == np.float32 and np.all(np.abs(own) <= 1 + 1e-5)


def test_scorer_trains_under_mixed_precision():
    """bfloat16 towers, float32 similarities: the embeddings meet the float32 logit scale (as
    `train --stage all --mixed-precision` runs it)."""
    images, captions = shapes.generate_shapes(16, seed=0, canvas_size=SIZE, objects="1")
    dataset = tf.data.Dataset.from_tensor_slices(((captions, _hard_negatives(captions)), images)).batch(8)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny.scorer(keras.optimizers.Adam(1e-3))
        history = model.fit(dataset, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.text_encoder.compute_dtype == "bfloat16"
    assert np.isfinite(history.history["loss"]).all()
    assert model.embed_images(images[:2]).dtype == np.float32


def test_embeddings_are_unit_vectors_and_score_is_their_dot_product(trained):
    model, _, images, captions = trained
    image_embeddings, text_embeddings = model.embed_images(images[:4]), model.embed_text(captions[:4])
    np.testing.assert_allclose(np.linalg.norm(image_embeddings, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text_embeddings, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(model.score(images[:4], captions[:4]), (image_embeddings * text_embeddings).sum(1), atol=1e-6)
    # One prompt scores every picture.
    np.testing.assert_allclose(model.score(images[:4], "a red circle"), model.score(images[:4], ["a red circle"] * 4), atol=1e-6)


def test_scorer_fine_tuning_starts_from_the_given_scorer(trained, tmp_path):
    from keras_dalle.training import embedding_stages

    source, _, images, captions = trained
    source.save(tmp_path / "source.keras")
    tuned, _ = embedding_stages.train_scorer("shapes", tmp_path / "run", init_from=tmp_path / "source.keras", preset="tiny",
                                   epochs=1, steps_per_epoch=1, batch_size=8, learning_rate=1e-9, verbose=0)
    np.testing.assert_allclose(tuned.score(images[:16], captions[:16]), source.score(images[:16], captions[:16]), atol=1e-4)
    assert float(tuned.logit_scale) == pytest.approx(float(source.logit_scale), rel=1e-4)
    fresh = tiny.scorer()
    assert not np.allclose(fresh.score(images[:16], captions[:16]), source.score(images[:16], captions[:16]), atol=1e-2)
    assert json.loads((tmp_path / "run" / "scorer_config.json").read_text())["init_from"] == str(tmp_path / "source.keras")
    with pytest.raises(ValueError, match=r"other sizes .*embed_dim 16 \(this run: 32\)"):
        embedding_stages.train_scorer("shapes", tmp_path / "other", init_from=tmp_path / "source.keras", preset="tiny", embed_dim=32,
                            epochs=1, steps_per_epoch=1, batch_size=8, verbose=0)


def test_scorer_saves_and_loads_with_identical_scores(trained, tmp_path):
    model, _, images, captions = trained
    model.save(tmp_path / "scorer.keras")
    loaded = keras.saving.load_model(tmp_path / "scorer.keras")  # safe_mode on
    np.testing.assert_array_equal(loaded.score(images[:8], captions[:8]), model.score(images[:8], captions[:8]))
    assert float(loaded.logit_scale) == pytest.approx(float(model.logit_scale))
    # package-model copies a scorer without optimizer state; it has no sampling settings.
    packaged = pretrained.save_for_inference(tmp_path / "scorer.keras", tmp_path / "packaged.keras")
    np.testing.assert_array_equal(pretrained.load_scorer(packaged).score(images[:8], captions[:8]), model.score(images[:8], captions[:8]))
    with pytest.raises(ValueError, match="no sampling settings"):
        pretrained.save_for_inference(tmp_path / "scorer.keras", tmp_path / "other.keras", temperature=0.5)


def test_the_shipped_scorer_tells_one_attribute_apart_on_unseen_pictures():
    scorer = pretrained.load_scorer()
    images, captions = shapes.generate_shapes(40, seed=4321, canvas_size=scorer.image_size, objects="1")
    rng = np.random.default_rng(0)
    wins = [
        scorer.score(image[None].repeat(2, 0), [caption, _hard_negatives([caption], seed=int(rng.integers(1000)))[0]])
        for image, caption in zip(images, captions)
    ]
    assert np.mean([own > wrong for own, wrong in wins]) >= 0.9


def test_equal_captions_and_hard_negatives_equal_to_a_caption_are_positives():
    model = tiny.scorer()
    images = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    captions = ["a red circle", "a red circle", "a blue square"]  # pictures 0 and 1 share a caption
    negatives = ["a green circle", "a blue square", "a red square"]  # picture 1's negative is picture 2's caption
    loss, _ = model.contrastive_loss(((tf.constant(captions), tf.constant(negatives)), images))

    def equal(a, b):
        return np.array([[x == y for y in b] for x in a], np.float64)

    def cross_entropy(logits, targets):
        log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return -((targets / targets.sum(1, keepdims=True)) * log_softmax).sum(1).mean()

    image_embeddings = model.embed_images(images).astype(np.float64)
    scale = float(model.logit_scale)
    logits = scale * image_embeddings @ model.embed_text(captions).T
    negative_logits = scale * image_embeddings @ model.embed_text(negatives).T
    image_to_text = cross_entropy(
        np.concatenate([logits, negative_logits], 1), np.concatenate([equal(captions, captions), equal(captions, negatives)], 1)
    )
    expected = 0.5 * (image_to_text + cross_entropy(logits.T, equal(captions, captions)))
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_one_attribute_changes_differ_in_exactly_one_stated_attribute():
    rng = np.random.default_rng(0)
    _, captions = shapes.generate_shapes(200, seed=3)
    for caption in captions:
        spec = grammar.parse_caption(caption)
        changed = grammar.parse_caption(grammar.format_caption(grammar.one_attribute_changed(spec, rng)))
        differences = sum(
            getattr(a, name) != getattr(b, name)
            for a, b in zip(spec.objects, changed.objects)
            for name in ("color", "shape", "size", "position")
        ) + (spec.relation != changed.relation)
        assert differences == 1, (caption, grammar.format_caption(changed))
        # The variants are the complete set: every draw is among them, and they are distinct.
        variants = [grammar.format_caption(v) for v in grammar.one_attribute_variants(spec)]
        assert grammar.format_caption(changed) in variants and len(set(variants)) == len(variants)
        assert caption not in variants


@pytest.mark.parametrize("share", [0.0, grammar.RELATION_NEGATIVE_SHARE, 1.0])
def test_relation_share_sets_how_often_two_object_negatives_flip_the_relation(share):
    rng = np.random.default_rng(1)
    spec = grammar.parse_caption("a red circle above a blue square")
    flips = np.mean([grammar.one_attribute_changed(spec, rng, share).relation != spec.relation for _ in range(2000)])
    assert abs(flips - share) < 0.04
    one_object = grammar.parse_caption("a big red circle")
    assert grammar.one_attribute_changed(one_object, rng, 1.0).relation is None  # one object: no relation to flip
    with pytest.raises(ValueError, match="relation_share"):
        grammar.one_attribute_changed(spec, rng, 1.5)


def test_bad_inputs_raise_value_errors():
    model = tiny.scorer()
    with pytest.raises(ValueError, match="16 x 16"):
        model.score(np.zeros((2, 32, 32, 3), np.uint8), "a red circle")
    with pytest.raises(ValueError, match="one prompt or one per picture"):
        model.score(np.zeros((3, SIZE, SIZE, 3), np.uint8), ["a", "b"])
    with pytest.raises(ValueError, match="non-empty list of strings"):
        model.embed_text([])
    with pytest.raises(ValueError, match="initial_temperature"):
        ContrastiveScorer(**{**tiny.presets.preset("tiny", "scorer"), "initial_temperature": 0})


def test_reranking_keeps_the_best_candidate_and_one_candidate_is_plain_generation(trained):
    scorer = trained[0]
    model = tiny.dalle()
    prompts = ["a red circle", "a big blue square in the top left"]
    plain = model.generate(prompts, num_images=2, seed=5)
    np.testing.assert_array_equal(model.generate(prompts, num_images=2, seed=5, candidates=1, scorer=scorer), plain)
    best, scores = model.generate(prompts, num_images=2, seed=5, candidates=4, scorer=scorer, return_scores=True)
    assert best.shape == plain.shape and scores.shape == (4,)
    first = scorer.score(plain, [p for p in prompts for _ in range(2)])
    assert np.all(scores >= first - 1e-6)  # best of N never scores below candidate 1 (plain generation)
    np.testing.assert_allclose(scorer.score(best, [p for p in prompts for _ in range(2)]), scores, atol=1e-5)
    with pytest.raises(ValueError, match="needs a scorer"):
        model.generate(prompts, candidates=2)
    with pytest.raises(ValueError, match="candidates must be a positive int"):
        model.generate(prompts, candidates=0, scorer=scorer)


def test_cli_trains_a_scorer_and_generates_best_of_n_with_scores(tmp_path, capsys):
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "out"
    shapes.write_shapes_folder(data, 40, seed=0, canvas_size=SIZE, progress=False)
    args = ["train", "--stage", "scorer", "--data", str(data), "--out", str(run), "--preset", "tiny", "--epochs", "2",
            "--batch-size", "8"]
    assert cli.main(args) == 0
    assert "saved" in capsys.readouterr().out and (run / "scorer.keras").is_file()
    model_path = tmp_path / "dalle.keras"
    dalle = tiny.dalle()
    dalle.build()
    dalle.save(model_path)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\na green square\n")
    assert cli.main(["generate", "--prompts", str(prompts), "--model", str(model_path), "--num", "2", "--candidates", "3",
                     "--scorer", str(run / "scorer.keras"), "--out", str(out)]) == 0
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["prompt"] for e in entries] == ["a red circle"] * 2 + ["a green square"] * 2
    assert all(-1 <= e["score"] <= 1 for e in entries)
    # --candidates without a scorer, and an adversarial flag for the scorer, are errors (status 2).
    assert cli.main(["generate", "a red circle", "--model", str(model_path), "--candidates", "2", "--out", str(out / "g.png")]) == 2
    assert "--candidates with your own --model needs --scorer" in capsys.readouterr().err
    # A scorer.keras beside the model (as `train --stage all` leaves one) reranks without --scorer.
    shutil.copy(run / "scorer.keras", tmp_path / "scorer.keras")
    assert cli.main(["generate", "--prompts", str(prompts), "--model", str(model_path), "--num", "1", "--candidates", "2",
                     "--out", str(out / "beside")]) == 0
    assert f"reranking with {tmp_path / 'scorer.keras'}" in capsys.readouterr().err
    assert all("score" in json.loads(line) for line in (out / "beside" / "manifest.jsonl").read_text().splitlines())
    assert cli.main([*args, "--adversarial-weight", "0.1"]) == 2


def test_training_on_a_folder_keeps_the_epoch_with_the_best_held_out_r_precision(tmp_path):
    from PIL import Image

    from keras_dalle.data.loader import load_dataset
    from keras_dalle.evaluation.contrastive import distractor_captions, r_precision
    from keras_dalle.training import embedding_stages

    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    for index in range(160):  # blocky patterns of 20 names (so held-out pictures show names seen in training)
        name = index % 20
        picture = np.kron(np.random.default_rng(name).integers(0, 256, (4, 4, 3)), np.ones((SIZE // 4, SIZE // 4, 1)))
        noisy = np.clip(picture + rng.normal(0, 40, picture.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{index}.png")
        (folder / f"{index}.txt").write_text(f"pattern {name}\n")
    keras.utils.set_random_seed(0)
    _, history = embedding_stages.train_scorer(folder, tmp_path / "run", preset="tiny", epochs=4, batch_size=16, verbose=0,
                                     validation_split=0.25, learning_rate=0.003)  # high on purpose: R-precision does not rise every epoch
    precisions = history.history["val_r_precision"]
    assert len(precisions) == 4 and int(np.argmax(precisions)) < 3  # the last epoch is not the best
    assert "val_loss" in history.history  # reported beside it
    held_out, _ = load_dataset(folder, image_size=SIZE, batch_size=64, validation_split=0.25, subset="validation",
                               shuffle=False, progress=False)
    captions, images = zip(*[(c.decode(), i) for cs, im in held_out for c, i in zip(cs.numpy(), im.numpy())])
    saved = pretrained.load_scorer(tmp_path / "run" / "scorer.keras")
    kept = r_precision(saved, saved.embed_images(np.stack(images)), list(captions), distractor_captions(list(captions), 0))
    assert kept == max(precisions)  # the file holds the best epoch's weights
