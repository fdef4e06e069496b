"""The unCLIP decoder: pictures from a scorer's image embedding, and its variations, edits and interpolations."""

import base64
import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import tiny
from helpers.browser import wait_until
from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.models.unclip import UnCLIPDecoder, slerp, slerp_rows
from keras_dalle.training import stages

SIZE = tiny.SIZE


def _data(count=8, seed=1):
    images, captions = shapes.generate_shapes(count, seed=seed, canvas_size=SIZE)
    return images, captions


@pytest.fixture(scope="module")
def decoder():
    """A tiny decoder fitted a few steps (so its logits are not flat)."""
    model = tiny.decoder(optimizer=keras.optimizers.Adam(3e-3))
    images, captions = _data(32)
    model.fit(tf.data.Dataset.from_tensor_slices((captions, images)).batch(8).repeat(3), epochs=1, verbose=0)
    return model


def test_loss_falls():
    model = tiny.decoder(optimizer=keras.optimizers.Adam(3e-3), caption_dropout=0.0, embedding_dropout=0.0)
    images, captions = _data()
    batch = tf.data.Dataset.from_tensors((tf.constant(captions), images))
    before = model.evaluate(batch, verbose=0, return_dict=True)["cross_entropy"]
    model.fit(batch.repeat(40), epochs=1, verbose=0)
    assert model.evaluate(batch, verbose=0, return_dict=True)["cross_entropy"] < 0.7 * before


def test_the_embedding_conditions_the_logits(decoder):
    images, captions = _data(2)
    ids, embeddings = decoder.condition(tf.constant(captions), images)
    tokens = decoder.image_tokens(images)
    logits = decoder(((ids, embeddings), tokens)).numpy()
    swapped = decoder(((ids, embeddings[::-1]), tokens)).numpy()
    assert not np.allclose(logits, swapped)
    assert embeddings.shape == (2, decoder.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1.0, atol=1e-5)


def test_embedding_noise_moves_training_embeddings_off_their_points_and_leaves_sampling_alone():
    noisy = tiny.decoder(embedding_dropout=0.0, caption_dropout=0.0, embedding_noise=0.5)
    images, captions = _data(64)
    clean = noisy.condition(tf.constant(captions), images)[1].numpy()
    trained = noisy.condition(tf.constant(captions), images, training=True)[1].numpy()
    np.testing.assert_allclose(np.linalg.norm(trained, axis=-1), 1.0, atol=1e-5)  # back on the sphere
    cosines = np.sum(clean * trained, axis=-1)
    # A random norm in [0, 0.5] per picture: cosines spread from about 1 down to about 1 / sqrt(1 + 0.5^2).
    assert cosines.min() > 0.8 and cosines.max() > 0.995 and np.median(cosines) < 0.99
    np.testing.assert_array_equal(noisy.condition(tf.constant(captions), images)[1].numpy(), clean)  # not at sampling
    without = tiny.decoder(embedding_dropout=0.0, caption_dropout=0.0)
    np.testing.assert_allclose(without.condition(tf.constant(captions), images, training=True)[1].numpy(),
                               without.condition(tf.constant(captions), images)[1].numpy(), atol=1e-6)


def test_embedding_mixing_moves_training_embeddings_less_than_halfway_toward_the_next_pictures():
    images, captions = _data(64)
    mixing = tiny.decoder(embedding_dropout=0.0, caption_dropout=0.0, embedding_mixing=1.0)
    clean = mixing.condition(tf.constant(captions), images)[1].numpy().astype(np.float64)
    trained = mixing.condition(tf.constant(captions), images, training=True)[1].numpy().astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(trained, axis=-1), 1.0, atol=1e-5)
    partners = np.roll(clean, -1, axis=0)
    distinct = np.sum(clean * partners, axis=-1) < 0.99  # pairs of one caption embed alike
    # Each lies on the great circle through its own and its partner's embedding ...
    basis = np.stack([clean, partners], axis=1)  # (B, 2, E)
    residuals = [np.linalg.norm(np.linalg.lstsq(b.T, t, rcond=None)[0] @ b - t) for b, t in zip(basis, trained)]
    assert max(residuals) < 1e-4
    # ... nearer its own (amount under 0.5), and moved by amounts spread over [0, 0.5).
    own, other = np.sum(trained * clean, axis=-1), np.sum(trained * partners, axis=-1)
    assert np.all(own[distinct] >= other[distinct] - 1e-6)
    assert own.max() > 0.999 and np.median(own[distinct]) < 0.999
    np.testing.assert_array_equal(mixing.condition(tf.constant(captions), images)[1].numpy(), clean.astype(np.float32))  # not at sampling
    half = tiny.decoder(embedding_dropout=0.0, caption_dropout=0.0, embedding_mixing=0.5)
    moved = np.sum(half.condition(tf.constant(captions), images, training=True)[1].numpy() * clean, axis=-1) < 1 - 1e-5
    assert 0.2 < moved[distinct].mean() < 0.8


def test_slerp_rows_is_the_row_wise_slerp():
    rng = np.random.default_rng(1)
    start, end = (v / np.linalg.norm(v, axis=-1, keepdims=True) for v in rng.normal(size=(2, 5, 8)))
    end[4] = start[4]  # equal ends: the linear fallback
    amounts = np.array([0.0, 0.25, 0.5, 1.0, 0.3], np.float32)
    rows = slerp_rows(tf.constant(start, tf.float32), tf.constant(end, tf.float32), tf.constant(amounts)).numpy()
    expected = np.stack([slerp(s, e, a) for s, e, a in zip(start, end, amounts)])
    np.testing.assert_allclose(rows, expected, atol=1e-5)


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
@pytest.mark.parametrize("prompts", [None, ["a red circle", "a small blue square at the top"]])
def test_cached_equals_uncached(decoder, cfg_scale, prompts):
    embeddings = decoder.image_embeddings(_data(2)[0])
    condition = lambda: (  # noqa: E731
        decoder.text_tokenizer.null_ids(2) if prompts is None else decoder._prompt_ids(prompts, 1),
        tf.constant(embeddings),
    )
    cached = decoder.sample_tokens(condition(), seed=4, cfg_scale=cfg_scale)
    uncached = decoder.sample_tokens(condition(), seed=4, cfg_scale=cfg_scale, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)


def test_chunked_generation_with_a_cut_prefill_draws_the_uncached_tokens(decoder):
    embeddings = tf.constant(decoder.image_embeddings(_data(2)[0]))
    ids = decoder._prompt_ids(["a red circle", "a blue square"], 1)  # 13 bytes of 24: the prefill runs 16 positions
    default, decoder.sampler.tokens_per_call = decoder.sampler.tokens_per_call, 4
    try:
        cached = decoder.sample_tokens((ids, embeddings), seed=3, cfg_scale=3.0)
    finally:
        decoder.sampler.tokens_per_call = default
    uncached = decoder.sample_tokens((ids, embeddings), seed=3, cfg_scale=3.0, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)


def test_saves_and_loads_as_one_keras_file(decoder, tmp_path):
    path = tmp_path / "decoder.keras"
    decoder.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode on
    assert isinstance(loaded, UnCLIPDecoder)
    picture = _data(1)[0]
    np.testing.assert_array_equal(loaded.vary(picture, 2, seed=5, top_k=1), decoder.vary(picture, 2, seed=5, top_k=1))
    np.testing.assert_allclose(loaded.image_embeddings(picture), decoder.image_embeddings(picture), atol=1e-6)


def test_operations_give_pictures_of_the_expected_shapes(decoder):
    pictures = _data(2)[0]
    assert decoder.vary(pictures, num_images=3, seed=0).shape == (6, SIZE, SIZE, 3)
    assert decoder.vary(pictures[0], num_images=2, prompt="a red circle", seed=0).shape == (2, SIZE, SIZE, 3)
    edited = decoder.edit(pictures[0], "a red circle", "a blue circle", amount=[0.0, 0.25, 0.5], num_images=2, seed=0)
    assert edited.shape == (6, SIZE, SIZE, 3) and edited.dtype == np.uint8
    assert decoder.interpolate(pictures[0], pictures[1], steps=4, seed=0).shape == (4, SIZE, SIZE, 3)


def test_edits_and_interpolations_share_the_noise(decoder):
    picture = _data(1)[0]
    # Amount 0 is the picture's own embedding: with the same seed, every row of an edit at amount 0 is one picture.
    same = decoder.edit(picture, "a red circle", "a blue circle", amount=[0.0, 0.0], seed=7)
    np.testing.assert_array_equal(same[0], same[1])
    vary = decoder.vary(picture, num_images=1, seed=7)
    np.testing.assert_array_equal(same[0], vary[0])


def test_candidates_keep_the_drawn_picture_nearest_the_embedding(decoder):
    pictures = _data(2)[0]
    rows = 2 * 2  # two pictures, two variations each
    # Candidate c of picture i draws with seed + i + c * rows: the plain variations of seed + c * rows.
    drawn = np.stack([decoder.vary(pictures, num_images=2, seed=5 + c * rows) for c in range(3)])  # (C, rows, S, S, 3)
    targets = np.repeat(decoder.image_embeddings(pictures), 2, axis=0)  # (rows, E)
    similarity = np.stack([np.sum(decoder.image_embeddings(candidate) * targets, axis=-1) for candidate in drawn])
    assert len(set(similarity.argmax(axis=0))) > 1, "a test where one candidate index wins everywhere checks too little"
    expected = drawn[similarity.argmax(axis=0), np.arange(rows)]
    np.testing.assert_array_equal(decoder.vary(pictures, num_images=2, seed=5, candidates=3), expected)
    np.testing.assert_array_equal(decoder.vary(pictures, num_images=2, seed=5, candidates=1), drawn[0])
    # An edit's rows still share the noise: at equal amounts they keep the same candidate.
    same = decoder.edit(pictures[0], "a red circle", "a blue circle", amount=[0.2, 0.2], seed=7, candidates=3)
    np.testing.assert_array_equal(same[0], same[1])
    with pytest.raises(ValueError, match="candidates"):
        decoder.vary(pictures, candidates=0)


def test_bad_arguments_raise(decoder):
    pictures = _data(2)[0]
    with pytest.raises(ValueError, match="amount must be in"):
        decoder.edit(pictures[0], "a red circle", "a blue circle", amount=1.5)
    with pytest.raises(ValueError, match="embed alike"):
        decoder.edit(pictures[0], "a red circle", "a red circle")
    with pytest.raises(ValueError, match="edit takes one picture"):
        decoder.edit(pictures, "a red circle", "a blue circle")
    with pytest.raises(ValueError, match="steps must be"):
        decoder.interpolate(pictures[0], pictures[1], steps=1)
    with pytest.raises(ValueError, match="embeddings must be"):
        decoder.draw_from_embeddings(np.zeros((2, decoder.embedding_dim + 1)))
    with pytest.raises(ValueError, match="one prompt or one per embedding"):
        decoder.vary(pictures, prompt=["a", "b", "c"])
    with pytest.raises(ValueError, match="num_images"):
        decoder.vary(pictures, num_images=0)
    with pytest.raises(ValueError, match="seed must be"):
        decoder.sample_tokens((decoder.text_tokenizer.null_ids(2), tf.zeros((2, decoder.embedding_dim))), seed=[1, 2, 3])


def test_construction_errors():
    with pytest.raises(ValueError, match="adversarial_weight must be 0"):
        tiny.decoder(adversarial_weight=0.1)
    with pytest.raises(ValueError, match="embedding_noise must be >= 0"):
        tiny.decoder(embedding_noise=-0.1)
    with pytest.raises(ValueError, match=r"embedding_mixing must be in \[0, 1\]"):
        tiny.decoder(embedding_mixing=1.5)
    with pytest.raises(ValueError, match="32-pixel pictures"):
        tiny.decoder(contrastive_scorer=tiny.scorer(image_size=32))
    with pytest.raises(ValueError, match="must be a ContrastiveScorer"):
        UnCLIPDecoder(tiny.tokenizer(), object(), **presets.preset("tiny", "text_to_image"))


def test_slerp_stays_on_the_sphere_between_its_ends():
    rng = np.random.default_rng(0)
    start, end = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 8)))
    path = slerp(start, end, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], start, atol=1e-6)
    np.testing.assert_allclose(path[-1], end, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 1.0, atol=1e-6)
    middle = path[2]
    np.testing.assert_allclose(middle @ start, middle @ end, atol=1e-6)
    np.testing.assert_allclose(slerp(start, start, 0.5), start, atol=1e-6)  # equal ends: no division by sin 0


def test_the_decoder_stage_trains_on_a_folder_and_saves_a_decoder_with_its_variation_grid(tmp_path, capsys):
    from keras_dalle import cli

    data = shapes.write_shapes_folder(tmp_path / "data", 24, seed=0, canvas_size=SIZE, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    # The tokenizer comes from a trained text-to-image model's file (as from a shipped model's name).
    text_to_image = tiny.dalle()
    text_to_image_path = tmp_path / "text_to_image.keras"
    text_to_image.save(text_to_image_path)
    scorer_path = tmp_path / "scorer.keras"
    tiny.scorer().save(scorer_path)
    common = ["--data", str(data), "--out", str(run), "--preset", "tiny", "--batch-size", "8"]
    # No scorer in the run folder and none given, no tokenizer, or a file of another kind: one clear error each.
    assert cli.main(["train", "--stage", "decoder", *common, "--epochs", "1"]) == 2
    assert "no trained scorer" in capsys.readouterr().err
    assert cli.main(["train", "--stage", "decoder", "--scorer", str(scorer_path), *common, "--epochs", "1"]) == 2
    assert "no trained image tokenizer" in capsys.readouterr().err
    assert cli.main(["train", "--stage", "decoder", "--scorer", str(scorer_path), "--tokenizer", str(scorer_path), *common]) == 2
    assert "expected an ImageTokenizer or a text-to-image model" in capsys.readouterr().err
    assert cli.main(["train", "--stage", "decoder", "--adversarial-weight", "0.1", "--scorer", str(scorer_path), *common]) == 2
    assert "decoder has no adversarial term" in capsys.readouterr().err
    assert cli.main(["train", "--stage", "generator", "--embedding-noise", "0.3", *common]) == 2
    assert "only --stage decoder takes --embedding-noise" in capsys.readouterr().err
    assert cli.main(["train", "--stage", "scorer", "--embedding-mixing", "0.5", *common]) == 2
    assert "only --stage decoder takes --embedding-mixing" in capsys.readouterr().err
    common += ["--tokenizer", str(text_to_image_path)]
    assert cli.main([
        "train", "--stage", "decoder", "--scorer", str(scorer_path), *common, "--epochs", "2", "--embedding-noise", "0.3",
        "--embedding-mixing", "0.5",
    ]) == 0
    logged = capsys.readouterr().out  # not a terminal: one line per epoch, with its step time, and no escape codes
    assert logged.count(" step_seconds: ") == 2 and logged.count("mean_step_seconds: ") == 2 and "\x1b[" not in logged
    decoder = keras.saving.load_model(run / "decoder.keras")
    assert isinstance(decoder, UnCLIPDecoder) and decoder.caption_dropout == 0.5 and decoder.embedding_noise == 0.3
    assert decoder.embedding_mixing == 0.5
    for trained, frozen in zip(decoder.image_tokenizer.weights, text_to_image.image_tokenizer.weights, strict=True):
        np.testing.assert_array_equal(trained.numpy(), frozen.numpy())  # the model's tokenizer, unchanged
    assert (decoder.temperature, decoder.top_k) == (stages.DECODER_SAMPLING["temperature"], stages.DECODER_SAMPLING["top_k"])
    assert sorted(p.name for p in (run / "variations").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert json.loads((run / "decoder_config.json").read_text())["scorer"] == str(scorer_path)
    assert decoder.generate(["a red circle"], num_images=2, seed=0).shape == (2, SIZE, SIZE, 3)  # prompts alone


def test_on_a_folder_of_unique_captions_the_decoder_holds_none_out_and_keeps_the_epoch_whose_variations_are_nearest(
    tmp_path, capsys,
):
    from keras_dalle.training import judging

    judge, decoder, history, out = tiny.train_on_unique_captions(tmp_path, capsys, scorer=tiny.scorer())
    tuning = judging.tuning_callback(tmp_path / "data", judge, 0.0, seed=0, decoder=True)
    assert sorted(tuning.indices) == list(range(12))  # every training picture: fewer than 200
    saved = keras.saving.load_model(tmp_path / "run" / "decoder.keras")
    # The file holds the weights of the epoch whose variations were most often nearest their own picture.
    kept = judge.variation_accuracy(saved, tuning.indices, seed=0)["own_picture_nearest"]
    assert kept == max(history.history["tuning_accuracy"])
    assert "best epoch" in out


def test_the_commands_write_grids_pictures_and_manifests(decoder, tmp_path, capsys):
    from keras_dalle import cli
    from keras_dalle.cli.common import read_picture

    path = tmp_path / "decoder.keras"
    decoder.save(path)
    pictures = _data(2)[0]
    for index, picture in enumerate(pictures):
        Image.fromarray(picture).resize((40, 40)).save(tmp_path / f"in{index}.png")  # any size
    first, second = str(tmp_path / "in0.png"), str(tmp_path / "in1.png")
    common = ["--decoder", str(path), "--seed", "3"]
    assert cli.main(["vary", *common, "--image", first, "--num", "3", "--out", str(tmp_path / "vary")]) == 0
    assert cli.main([
        "edit", *common, "--image", first, "--from", "a red circle", "--to", "a blue circle", "--amount", "0", "0.4",
        "--out", str(tmp_path / "edit"),
    ]) == 0
    assert cli.main(["interpolate", *common, "--images", first, second, "--steps", "3", "--out", str(tmp_path / "mix")]) == 0
    for folder, count in (("vary", 3), ("edit", 2), ("mix", 3)):
        written = tmp_path / folder
        manifest = [json.loads(line) for line in (written / "manifest.jsonl").read_text().splitlines()]
        assert [entry["file"] for entry in manifest] == [f"{i:05d}.png" for i in range(count)]
        assert all(np.asarray(Image.open(written / e["file"])).shape == (SIZE, SIZE, 3) for e in manifest)
        assert (written / "grid.png").is_file()
    edits = [json.loads(line) for line in (tmp_path / "edit" / "manifest.jsonl").read_text().splitlines()]
    assert [e["amount"] for e in edits] == [0.0, 0.4] and {e["seed"] for e in edits} == {3}
    # Amount 0 draws the picture's own embedding with the seed variation 0 used.
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "edit" / "00000.png")), np.asarray(Image.open(tmp_path / "vary" / "00000.png"))
    )
    # --candidates: the Python operation's reranked pictures, and the manifest says how many were drawn.
    assert cli.main(["vary", *common, "--image", first, "--num", "2", "--candidates", "3", "--out", str(tmp_path / "best")]) == 0
    reranked = decoder.vary(read_picture(first, SIZE), num_images=2, seed=3, candidates=3)
    written = [json.loads(line) for line in (tmp_path / "best" / "manifest.jsonl").read_text().splitlines()]
    assert [e["candidates"] for e in written] == [3, 3]
    np.testing.assert_array_equal(np.stack([np.asarray(Image.open(tmp_path / "best" / e["file"])) for e in written]), reranked)
    capsys.readouterr()
    (tmp_path / "not_a_picture.png").write_text("text")
    assert cli.main(["vary", *common, "--image", str(tmp_path / "not_a_picture.png"), "--out", str(tmp_path / "x")]) == 2
    assert "not a picture" in capsys.readouterr().err
    assert cli.main(["edit", *common, "--image", first, "--from", "a", "--to", "b", "--amount", "2", "--out", str(tmp_path / "y")]) == 2
    assert "amount must be in [0, 1]" in capsys.readouterr().err
    assert cli.main(["vary", "--decoder", str(tmp_path / "missing.keras"), "--image", first, "--out", str(tmp_path / "z")]) == 2


def test_the_bench_judges_every_operation(decoder, tmp_path):
    from bench import unclip_quality

    path = tmp_path / "decoder.keras"
    decoder.save(path)
    unclip_quality.main(["--decoder", str(path), "--count", "2", "--amounts", "0.5", "--json", str(tmp_path / "r.json")])
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["variation"]["one_object"]["pictures"] == 2
    assert set(results["edit"]) == {"color", "shape", "size", "position"}
    shares = [results["variation"][g]["keeps_caption"] for g in ("one_object", "two_object")]
    edits = results["edit"].values()
    assert all(e["pictures"] + e["captions_embedded_alike"] == 2 for e in edits)  # the tiny scorer cuts long captions
    shares += [e["0.5"][k] for e in edits if e["pictures"] for k in ("passes_new_caption", "keeps_the_rest")]
    shares.append(results["interpolation"]["valid_midpoints"])
    assert all(0.0 <= share <= 1.0 for share in shares)
    assert results["interpolation"]["pairs"] == 2
    assert set(results["interpolation"]["midpoints_failing"]) == {"color", "shape", "size", "position"}
    assert all(0.0 <= share <= 1.0 for share in results["interpolation"]["midpoints_failing"].values())
    assert -1.0 <= results["interpolation"]["midpoint_nearest_picture_cosine"] <= 1.0
    assert -1.0 <= results["interpolation"]["picture_nearest_other_picture_cosine"] <= 1.0
    unclip_quality.main(["--decoder", str(path), "--count", "2", "--rows", "variation", "--top-k", "1", "--candidates", "3",
                         "--json", str(tmp_path / "g.json")])
    greedy = json.loads((tmp_path / "g.json").read_text())["variation"]
    assert all(results["variation"][g]["token_difference_between_two_variations"] > 0.0 for g in greedy)  # sampled: seeds differ
    assert all(greedy[g]["token_difference_between_two_variations"] == 0.0 for g in greedy)  # greedy: seeds draw alike
    assert [greedy[g]["candidates"] for g in greedy] == [3, 3] and results["variation"]["one_object"]["candidates"] == 1
    prior_path = tmp_path / "prior.keras"
    tiny.prior(decoder.scorer).save(prior_path)
    unclip_quality.main(["--decoder", str(path), "--prior", str(prior_path), "--count", "2", "--amounts", "0.5",
                         "--json", str(tmp_path / "p.json")])
    prior = json.loads((tmp_path / "p.json").read_text())["prior"]
    for group in ("one_object", "two_object"):
        assert prior[group]["pictures"] == 2
        assert all(-1.0 <= prior[group][k] <= 1.0 for k in ("prior_to_image_cosine", "text_to_image_cosine", "prior_to_another_image_cosine"))
        assert 0.0 <= prior[group]["text_to_image_through_prior_passes_caption"] <= 1.0
    generator_path = tmp_path / "generator.keras"
    tiny.dalle().save(generator_path)
    with pytest.raises(SystemExit):  # the comparison draws through the prior
        unclip_quality.main(["--decoder", str(path), "--generator", str(generator_path), "--rows", "prior-vs-generator"])
    unclip_quality.main(["--decoder", str(path), "--prior", str(prior_path), "--generator", str(generator_path),
                         "--rows", "prior-vs-generator", "--per-group", "1", "--num", "2", "--json", str(tmp_path / "c.json")])
    compared = json.loads((tmp_path / "c.json").read_text())
    assert set(compared) == {"prior_vs_generator", "command"}  # only the rows asked for
    for path_name in ("generator", "prior_and_decoder"):
        for group in shapes.EVAL_GROUPS:
            measured = compared["prior_vs_generator"][path_name][group]
            assert measured["pictures"] == 2 and 0.0 <= measured["passes_caption"] <= 1.0
            assert measured["pixel_distance_within_prompt"] > 0.0  # two seeds draw two different pictures
            assert 0.0 <= measured["embedding_distance_within_prompt"] <= 2.0
    data = shapes.write_shapes_folder(tmp_path / "data", 6, seed=0, canvas_size=SIZE, progress=False)
    with pytest.raises(SystemExit):
        unclip_quality.main(["--decoder", str(path), "--data", str(data), "--prior", str(prior_path)])
    unclip_quality.main(["--decoder", str(path), "--data", str(data), "--count", "3", "--json", str(tmp_path / "f.json")])
    folder = json.loads((tmp_path / "f.json").read_text())["folder_variation"]
    assert folder["pictures"] == 3 and 0.0 <= folder["own_picture_nearest"] <= folder["own_picture_in_top5"] <= 1.0


def _png(picture):
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported_decoder(decoder, tmp_path_factory):
    """The tiny decoder's SavedModel at BASE/decoder/1."""
    from export import saved_model

    return saved_model.export_saved_model(decoder, tmp_path_factory.mktemp("serving") / "decoder" / "1")


@pytest.fixture(scope="module")
def served_decoder(exported_decoder):
    """The tiny decoder's SavedModel loaded once (its `signatures` live as long as it does)."""
    return tf.saved_model.load(str(exported_decoder))


def test_the_saved_model_varies_edits_and_interpolates_as_python_does(decoder, served_decoder):
    png = _png
    pictures = _data(2)[0]
    signatures = served_decoder.signatures
    assert {"vary", "edit", "interpolate", "generate", "serving_default"} <= set(signatures)
    settings = lambda n, **given: {  # noqa: E731  the decoder's defaults, per row
        name: tf.constant([given.get(name, value)] * n, dtype) for (name, value), dtype in
        zip(decoder.sampling_defaults().items(), (tf.float32, tf.int32, tf.float32, tf.float32))
    }
    seeds = tf.constant([11, 12], tf.int64)
    varied = signatures["vary"](image_bytes=tf.constant([png(p) for p in pictures]), seed=seeds, **settings(2))
    np.testing.assert_array_equal(varied["image"].numpy(), decoder.vary(pictures, 1, seed=11))
    # Amount 0 and theta 0 draw the first picture's own embedding: its variation, with the same seed.
    first = tf.constant([png(pictures[0])] * 2)
    edited = signatures["edit"](
        image_bytes=first, from_caption=tf.constant(["a red circle"] * 2), to_caption=tf.constant(["a blue square"] * 2),
        amount=tf.constant([0.0, 0.5]), seed=tf.constant([11, 11], tf.int64), **settings(2),
    )
    mixed = signatures["interpolate"](
        image_bytes=first, other_image_bytes=tf.constant([png(pictures[1])] * 2), theta=tf.constant([0.0, 1.0]),
        seed=tf.constant([11, 11], tf.int64), **settings(2),
    )
    np.testing.assert_array_equal(edited["image"].numpy()[0], varied["image"].numpy()[0])
    np.testing.assert_array_equal(mixed["image"].numpy()[0], varied["image"].numpy()[0])
    assert edited["image_bytes"].shape == (2,) and mixed["tokens"].shape == (2, decoder.image_length)
    with pytest.raises(tf.errors.InvalidArgumentError, match="amount must be in"):
        signatures["edit"](
            image_bytes=first[:1], from_caption=tf.constant(["a red circle"]), to_caption=tf.constant(["a blue square"]),
            amount=tf.constant([1.5]), seed=seeds[:1], **settings(1),
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="embed alike"):
        signatures["edit"](
            image_bytes=first[:1], from_caption=tf.constant(["a red circle"]), to_caption=tf.constant(["a red circle"]),
            amount=tf.constant([0.5]), seed=seeds[:1], **settings(1),
        )
    with pytest.raises(tf.errors.InvalidArgumentError):
        signatures["vary"](image_bytes=tf.constant([b"not a picture"]), seed=seeds[:1], **settings(1))

    # The serving client's requests for the three signatures (its predict here calls the signature itself).
    from serving.client import _Client

    class Direct(_Client):
        def predict(self, inputs, signature="serving_default", output_filter=()):
            outputs = signatures[signature](**{name: tf.constant(value) for name, value in inputs.items()})
            return {name: value.numpy() for name, value in outputs.items() if not output_filter or name in output_filter}

    decoded = lambda pngs: np.stack([np.asarray(Image.open(io.BytesIO(data))) for data in pngs])  # noqa: E731
    client = Direct()
    np.testing.assert_array_equal(decoded(client.vary(png(pictures[0]), num_images=2, seed=11)), decoder.vary(pictures[0], 2, seed=11))
    edits = decoded(client.edit(png(pictures[0]), "a red circle", "a blue square", amounts=[0.0, 0.5], seed=11))
    steps = decoded(client.interpolate(png(pictures[0]), png(pictures[1]), steps=3, seed=11))
    assert len(edits) == 2 and len(steps) == 3
    np.testing.assert_array_equal(edits[0], varied["image"].numpy()[0])
    np.testing.assert_array_equal(steps[0], varied["image"].numpy()[0])
    # Reranked: the client's candidates go to vary_best / edit_best, which keep what Python keeps.
    best = decoded(client.vary(png(pictures[0]), num_images=2, seed=11, candidates=3))
    np.testing.assert_array_equal(best, decoder.vary(pictures[0], 2, seed=11, candidates=3))
    best_edits = decoded(client.edit(png(pictures[0]), "a red circle", "a blue square", amounts=[0.2, 0.5], seed=11, candidates=3))
    np.testing.assert_array_equal(best_edits, decoder.edit(pictures[0], "a red circle", "a blue square", [0.2, 0.5], seed=11, candidates=3))
    with pytest.raises(ValueError, match="candidates"):
        client.vary(png(pictures[0]), candidates=0)


def test_the_saved_model_reranks_each_row_among_its_own_candidates(decoder, served_decoder):
    pictures = _data(2)[0]
    signatures = served_decoder.signatures
    settings = {
        name: tf.constant([value] * 2, dtype) for (name, value), dtype in
        zip(decoder.sampling_defaults().items(), (tf.float32, tf.int32, tf.float32, tf.float32))
    }
    inputs = dict(image_bytes=tf.constant([_png(p) for p in pictures]), seed=tf.constant([11, 12], tf.int64), **settings)
    # Row 0 keeps its one draw (vary's picture), row 1 the best of its 4.
    drawn = signatures["vary_best"](**inputs, candidates=tf.constant([1, 4], tf.int32))
    np.testing.assert_array_equal(drawn["image"].numpy()[0], decoder.vary(pictures[0], 1, seed=11)[0])
    # Candidate c of a two-row call draws with seed + 2c: row 1's four are seeds 12, 14, 16, 18.
    target = decoder.image_embeddings(pictures)  # (2, E)
    candidates = decoder.draw_from_embeddings(np.repeat(target[1:], 4, axis=0), seed=[12, 14, 16, 18])
    assert len({candidate.tobytes() for candidate in candidates}) > 1, "candidates all alike would check too little"
    nearest = np.argmax(decoder.image_embeddings(candidates) @ target[1])
    np.testing.assert_array_equal(drawn["image"].numpy()[1], candidates[nearest])
    np.testing.assert_allclose(drawn["score"].numpy(), np.sum(decoder.image_embeddings(drawn["image"].numpy()) * target, -1), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="candidates must be"):
        signatures["vary_best"](**inputs, candidates=tf.constant([0, 2], tf.int32))


def test_the_playground_offers_variations_and_edits_under_each_picture(decoder, exported_decoder, browser):
    from serving import server as serving_server

    limits = serving_server.Limits(max_batch_size=8, max_prompt_bytes=200, max_message_bytes=256 * 1024)
    repository = serving_server.ModelRepository([serving_server.ServedModel("decoder", exported_decoder.parent, limits)])
    shown = lambda d: d.find_elements("css selector", "#results img") or d.find_element("id", "error").is_displayed()  # noqa: E731
    pictures = lambda d: [Image.open(io.BytesIO(base64.b64decode(img.get_attribute("src").split(",", 1)[1])))  # noqa: E731
                          for img in d.find_elements("css selector", "#results img")]
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=limits, web=True) as running:
        browser.get(f"http://127.0.0.1:{running.rest_port}/?model=decoder")
        wait_until(browser, 60, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true")
        assert browser.find_element("id", "edit-settings").is_displayed()
        browser.find_element("id", "prompt").send_keys("a red circle")
        for name, value in (("count", "2"), ("seed", "7")):
            browser.find_element("id", name).clear()
            browser.find_element("id", name).send_keys(value)
        browser.find_element("id", "generate").click()
        wait_until(browser, 120, shown)
        first = np.asarray(pictures(browser)[0].convert("RGB"))
        browser.find_elements("css selector", "#results button.variations")[0].click()
        drawn = lambda kind: lambda d: (  # noqa: E731
            d.find_element("css selector", "#results img").get_attribute("alt").startswith(kind)
            or d.find_element("id", "error").is_displayed()
        )
        wait_until(browser, 120, drawn("variation"))
        assert not browser.find_element("id", "error").is_displayed(), browser.find_element("id", "error").text
        assert [img.get_attribute("alt") for img in browser.find_elements("css selector", "#results img")] == [
            "variation, seed 8", "variation, seed 9"]
        settings = {name: browser.find_element("id", name).get_attribute("value") for name in ("temperature", "top_k", "top_p", "cfg_scale")}
        settings = {name: int(v) if name == "top_k" else float(v) for name, v in settings.items()}
        expected = decoder.vary(first, num_images=2, seed=8, **settings)
        for got, want in zip(pictures(browser), expected):
            assert np.abs(np.asarray(got.convert("RGB")).astype(int) - want).max() <= 1
        browser.find_element("id", "edit_to").send_keys("a blue circle")
        browser.find_elements("css selector", "#results button.edit")[0].click()
        wait_until(browser, 120, drawn("edit"))
        assert not browser.find_element("id", "error").is_displayed(), browser.find_element("id", "error").text
        assert [img.get_attribute("alt") for img in browser.find_elements("css selector", "#results img")] == [
            f"edit {amount}, seed 8" for amount in (0.1, 0.2, 0.3, 0.4, 0.5)]
        assert not browser.find_element("id", "error").is_displayed()
        # "best of" 3: variations of the first edit (seed 8) through vary_best, as Python reranks them.
        edited = np.asarray(pictures(browser)[0].convert("RGB"))
        browser.find_element("id", "candidates").clear()
        browser.find_element("id", "candidates").send_keys("3")
        browser.find_elements("css selector", "#results button.variations")[0].click()
        wait_until(browser, 120, drawn("variation"))
        assert not browser.find_element("id", "error").is_displayed(), browser.find_element("id", "error").text
        assert [img.get_attribute("alt") for img in browser.find_elements("css selector", "#results img")] == [
            "variation, seed 9, best of 3", "variation, seed 10, best of 3"]
        for got, want in zip(pictures(browser), decoder.vary(edited, num_images=2, seed=9, candidates=3, **settings)):
            assert np.abs(np.asarray(got.convert("RGB")).astype(int) - want).max() <= 1


def test_tflite_varies_with_builtin_ops_as_python_does(decoder):
    from ai_edge_litert.interpreter import Interpreter

    from export import tflite
    from keras_dalle.sampling import noise_from_seeds

    interpreter = Interpreter(model_content=tflite.convert(decoder))  # raises on any non-builtin op
    assert "vary" in interpreter.get_signature_list()
    vary = interpreter.get_signature_runner("vary")
    picture = _data(1)[0]
    greedy = {"temperature": np.array([1.0], np.float32), "top_k": np.array([1], np.int32),
              "top_p": np.array([1.0], np.float32), "cfg_scale": np.array([2.0], np.float32)}
    noise = noise_from_seeds(tf.constant([3], tf.int64), decoder.image_length).numpy()
    tokens = vary(image=picture, noise=noise, **greedy)["tokens"]
    condition = (decoder.text_tokenizer.null_ids(1), tf.constant(decoder.image_embeddings(picture)))
    expected = decoder.sample_tokens(condition, temperature=1.0, top_k=1, cfg_scale=2.0, seed=3)
    np.testing.assert_array_equal(tokens, expected)
