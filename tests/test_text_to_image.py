import concurrent.futures
import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny
from keras_dalle import cli, sampling
from keras_dalle.data import shapes
from keras_dalle.layers.masks import decoding_mask_row, prefix_mask, word_indices, word_mask

SIZE = tiny.SIZE


def _model(**overrides):
    return tiny.dalle(optimizer=keras.optimizers.Adam(3e-3), **overrides)


def _batch(count=8):
    images, captions = shapes.generate_shapes(count, seed=1, canvas_size=SIZE)
    return tf.data.Dataset.from_tensors((tf.constant(captions), images))


def test_loss_falls():
    model = _model(caption_dropout=0.0)
    before = model.evaluate(_batch(), verbose=0, return_dict=True)["cross_entropy"]
    model.fit(_batch().repeat(40), epochs=1, verbose=0)
    after = model.evaluate(_batch(), verbose=0, return_dict=True)["cross_entropy"]
    assert after < 0.7 * before


def test_prefix_mask_holds(trained):
    model, _ = trained
    ids = model.text_tokenizer(tf.constant(["a red circle", "a blue square"]))
    tokens = np.random.default_rng(0).integers(0, model.codebook_size, (2, model.image_length))
    changed = tokens.copy()
    changed[:, 9] = (changed[:, 9] + 1) % model.codebook_size
    logits, changed_logits = model((ids, tokens)).numpy(), model((ids, changed)).numpy()
    # Output t predicts token t from tokens < t: changing token 9 leaves outputs 0..9 alone.
    np.testing.assert_allclose(logits[:, :10], changed_logits[:, :10], atol=1e-5)
    assert not np.allclose(logits[:, 10:], changed_logits[:, 10:])
    other_text = model((model.text_tokenizer(tf.constant(["a green square", "a red circle"])), tokens)).numpy()
    assert not np.allclose(logits[:, 0], other_text[:, 0])


@pytest.mark.parametrize("row_length", [1, 3, 9])
def test_decoding_mask_row_sees_each_key_of_the_full_mask_row_once(row_length):
    """Image query `step` sees, over the settled slots and the row slots together, the keys of its
    row of the full mask, each in one place only: earlier rows' keys (and the begin token) settled,
    its own row's up to itself in the row cache."""
    text_mask = tf.constant([[True, True, False], [True, False, False]])
    full = prefix_mask(text_mask, 9).numpy()  # (2, 12, 12)
    for step in range(1, 9):
        mask = decoding_mask_row(text_mask, 9, row_length, tf.constant(step)).numpy()[:, 0]  # (2, 3 + 9 + R)
        settled, row = mask[:, :12], mask[:, 12:]
        start = step // row_length * row_length
        in_row = np.zeros_like(settled)
        in_row[:, 3 + start : 3 + start + row_length] = row[:, : 9 - start]
        assert not (settled & in_row).any()
        np.testing.assert_array_equal(settled | in_row, full[:, 3 + step])


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_cached_equals_uncached(trained, cfg_scale):
    model, _ = trained
    prompts = ["a red circle", "a small blue square at the top"]
    cached = model.generate_tokens(prompts, num_images=2, seed=4, cfg_scale=cfg_scale)
    uncached = model.generate_tokens(prompts, num_images=2, seed=4, cfg_scale=cfg_scale, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_chunked_generate_with_a_cut_prefill_draws_the_uncached_tokens(trained, cfg_scale):
    model, _ = trained
    prompts = ["a red circle", "a blue square"]  # 13 bytes of 24: a chunked prefill runs 16 positions
    default, model.sampler.tokens_per_call = model.sampler.tokens_per_call, 4
    try:
        assert model.sampler.prompt_positions(model.text_tokenizer(tf.constant(prompts)), rows=2) == 16
        cached = model.generate_tokens(prompts, seed=3, cfg_scale=cfg_scale)
    finally:
        model.sampler.tokens_per_call = default
    uncached = model.generate_tokens(prompts, seed=3, cfg_scale=cfg_scale, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)


@pytest.mark.parametrize("text_steps", [None, 13])  # all L text positions; the prompts' 13 (the pads after cut)
def test_prefill_and_decode_steps_give_the_teacher_forced_logits(trained, text_steps):
    """The prefill (attention over the text and the begin token alone, its top block for the last
    query only) and each cached decoding step give the teacher-forced logits, position by position,
    also when the prefill runs the prompts without their trailing pads; guidance's null-caption
    rows, prefilled once and copied, hold the cache a batch prefill gives."""
    model, _ = trained
    generator, sampler = model.generator, model.sampler
    ids = model.text_tokenizer(tf.constant(["a red circle", "a blue square"]))  # 12 and 13 bytes
    assert sampling.prefill_length(ids, multiple=1) == 13
    text_states, text_mask = sampler.encode_prompts(ids, guidance=False)
    tokens = np.random.default_rng(0).integers(0, model.codebook_size, (2, model.image_length))
    expected = generator(text_states, text_mask, tokens).numpy()  # (B, N, K): position t predicts token t
    ids = ids[:, :text_steps]
    text_states, text_mask = sampler.encode_prompts(ids, guidance=False)
    logits, cache = generator.prefill(text_states, text_mask)
    decoding_mask = generator.text_mask_for_cache(text_mask)  # (B, L)
    started = cache
    for settle_every_step in (False, True):  # settling a row in parts changes nothing a step reads
        cache, steps = started, [logits]
        for step in range(1, model.image_length):
            step_logits, cache = generator.decode_step(tokens[:, step - 1], step, decoding_mask, cache)
            steps.append(step_logits)
            if settle_every_step or (step + 1) % generator.row_length == 0:
                cache = generator.settle_row(step, cache)
        np.testing.assert_allclose(np.stack(steps, axis=1), expected, atol=1e-4)

    noise = tf.zeros((2, model.image_length))
    *_, guided_cache = sampler.start(ids, noise, 1.0, 0, 1.0, 3.0, guidance=True)
    null_states, null_mask = sampler.encode_prompts(model.text_tokenizer.null_ids(2)[:, :text_steps], guidance=False)
    _, null_cache = generator.prefill(null_states, null_mask)
    for guided_values, null_values in zip(guided_cache, null_cache):
        np.testing.assert_allclose(guided_values[2:], null_values, atol=1e-5)


def test_prefill_length_cuts_the_padding_every_prompt_has():
    ids = tf.constant([[5, 6, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0]])
    assert sampling.prefill_length(ids, multiple=1) == 2
    assert sampling.prefill_length(ids, multiple=4) == 4
    assert sampling.prefill_length(ids, multiple=16) == 6  # never past L
    assert sampling.prefill_length(tf.constant([[0, 5, 0, 0]]), multiple=1) == 2  # the last real position counts
    assert sampling.prefill_length(tf.zeros((2, 6), tf.int32), multiple=1) == 1  # all pads: the null caption's one


def test_generate_does_not_retrace_and_is_reproducible(trained):
    model, _ = trained
    first = model.generate(["a red circle", "a green triangle"], seed=1, top_k=5)
    count = model.sampler.tracing_count()
    second = model.generate(["a blue square", "a green triangle"], seed=2, top_k=7, temperature=0.5)
    assert model.sampler.tracing_count() == count
    again = model.generate(["a red circle", "a green triangle"], seed=1, top_k=5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)
    alone = model.generate(["a green triangle"], seed=2, top_k=5)  # picture 1 of the first call used seed 1 + 1
    np.testing.assert_array_equal(first[1], alone[0])


@pytest.mark.parametrize("tokens_per_call", [3, None])  # several calls per picture (a shared cache), one call
def test_threads_sharing_a_model_get_the_pictures_they_would_alone(trained, tokens_per_call):
    # `generate` keeps its key/value cache in variables between its compiled calls: threads must not mix them.
    model, _ = trained
    jobs = [(["a red circle", "a small blue square at the top"], seed, cfg) for seed in range(4) for cfg in (1.0, 3.0)]
    default, model.sampler.tokens_per_call = model.sampler.tokens_per_call, tokens_per_call
    try:
        alone = [model.generate_tokens(prompts, seed=seed, cfg_scale=cfg) for prompts, seed, cfg in jobs]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda job: model.generate_tokens(job[0], seed=job[1], cfg_scale=job[2]), jobs))
    finally:
        model.sampler.tokens_per_call = default
    for expected, got in zip(alone, together):
        np.testing.assert_array_equal(got, expected)


def test_generate_shapes_dtypes_and_progress(trained):
    model, _ = trained
    steps = []
    pictures = model.generate(["a red circle", "a blue square"], num_images=3, seed=0, on_token=lambda s, t: steps.append((s, t)))
    assert pictures.shape == (6, SIZE, SIZE, 3) and pictures.dtype == np.uint8
    assert steps == [(model.image_length, model.image_length)]  # 6 rows: one call
    row = int(model.image_length**0.5)  # a 4 x 4 grid
    steps.clear()
    default, model.sampler.tokens_per_call = model.sampler.tokens_per_call, row
    try:
        model.generate(["a red circle"], seed=0, on_token=lambda s, t: steps.append((s, t)))
    finally:
        model.sampler.tokens_per_call = default
    assert steps == [(s, model.image_length) for s in range(row, model.image_length + 1, row)]  # one call per row


def test_chunk_tokens_from_the_batch_rows(trained):
    sampler = trained[0].sampler
    row = int(sampler.image_length**0.5)  # a 4 x 4 grid, 16 tokens
    assert sampler.chunk_tokens(1) == sampler.image_length  # batch 1: one call
    assert sampler.chunk_tokens(sampling.MIN_TOKEN_ROWS_PER_CALL // (2 * row)) == 2 * row  # whole rows, enough work per call
    assert sampler.chunk_tokens(10_000) == row  # big batches: one row per call (at most PROGRESS_UPDATES calls)


@pytest.mark.parametrize("tokens_per_call", [1, 3, 16])
def test_chunked_generation_equals_the_whole_loop(trained, tokens_per_call):
    model, _ = trained
    ids = model.text_tokenizer(tf.constant(["a red circle", "a blue square"]))
    noise = tf.random.uniform((2, model.image_length), seed=3)
    settings = (0.9, 5, 0.95, 2.0)
    whole = tf.function(model.sampler.generate_in_graph)(ids, noise, *settings)
    default, model.sampler.tokens_per_call = model.sampler.tokens_per_call, tokens_per_call
    try:
        chunked = model.sampler.generate(ids, noise, *settings)
    finally:
        model.sampler.tokens_per_call = default
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_completion_keeps_the_input_rows_and_cached_equals_uncached(trained, cfg_scale):
    model, _ = trained
    pictures, _ = shapes.generate_shapes(2, seed=7, canvas_size=SIZE)
    given = model.image_tokens(pictures).numpy()
    keep = 2 * model.grid_size  # keep_rows=2
    prompts = ["a red circle", "a blue square above a green triangle"]
    completed = model.generate_tokens(prompts, seed=3, cfg_scale=cfg_scale, image=pictures, keep_rows=2).numpy()
    np.testing.assert_array_equal(completed[:, :keep], given[:, :keep])
    uncached = model.generate_tokens(prompts, seed=3, cfg_scale=cfg_scale, image=pictures, keep_rows=2, use_cache=False)
    np.testing.assert_array_equal(completed, uncached)
    # One picture serves every prompt and picture; candidates keep the input rows too.
    shared = model.generate_tokens(prompts, num_images=2, seed=3, image=pictures[0], keep_rows=1).numpy()
    np.testing.assert_array_equal(shared[:, : model.grid_size], np.tile(given[:1, : model.grid_size], (4, 1)))
    assert not (shared[:, model.grid_size :] == given[:1, model.grid_size :]).all()
    # Reranked: each kept picture is one of its two candidates, and both candidates keep its input's rows.
    best = model.generate(prompts, seed=3, image=pictures, keep_rows=2, candidates=2, scorer=tiny.scorer())
    candidates = model.generate_tokens(prompts * 2, seed=3, image=np.tile(pictures, (2, 1, 1, 1)), keep_rows=2).numpy()
    np.testing.assert_array_equal(candidates[:, :keep], np.tile(given[:, :keep], (2, 1)))
    drawn = model.decode_tokens(candidates).reshape(2, 2, *best.shape[1:])
    assert all(any(np.array_equal(best[i], drawn[c, i]) for c in range(2)) for i in range(2))


def test_completion_takes_any_size_and_mode(trained):
    from PIL import Image

    model, _ = trained
    picture = shapes.generate_shapes(1, seed=8, canvas_size=3 * SIZE)[0][0]
    big = Image.fromarray(picture)
    as_array = model.generate_tokens("a red circle", seed=1, image=picture, keep_rows=1).numpy()
    for image in (big, big.convert("RGBA"), [big], picture[None], picture.astype(np.float32) / 255):
        np.testing.assert_array_equal(model.generate_tokens("a red circle", seed=1, image=image, keep_rows=1), as_array)
    grey = model.generate_tokens("a red circle", seed=1, image=big.convert("L"), keep_rows=1).numpy()
    np.testing.assert_array_equal(grey, model.generate_tokens("a red circle", seed=1, image=np.asarray(big.convert("L")), keep_rows=1))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(keep_rows=0), "keep_rows must be an int in 1..3"),
        (dict(keep_rows=4), "keep_rows must be an int in 1..3"),
        (dict(keep_rows=1.5), "keep_rows must be an int"),
        (dict(keep_rows=True), "keep_rows must be an int"),
        (dict(image=None), "give an image too"),
        (dict(image="pictures3"), "one per prompt"),
        (dict(image=np.zeros((2, 8, 8, 2), np.uint8)), "1, 3 or 4 channels"),
        (dict(image=np.zeros((2, 2, 8, 8, 3), np.uint8)), "must be"),
        (dict(image=np.array(["a"])), "numeric"),
    ],
)
def test_bad_completion_arguments_raise(trained, kwargs, message):
    model, _ = trained
    pictures = shapes.generate_shapes(3, seed=7, canvas_size=SIZE)[0]
    arguments = {"image": pictures[0], "keep_rows": 1, **kwargs}
    if isinstance(arguments["image"], str):
        arguments["image"] = pictures
    with pytest.raises(ValueError, match=message):
        model.generate(["a red circle", "a blue square"], **arguments)


def test_keras_file_round_trip_gives_identical_generations(trained):
    model, path = trained
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.generate(["a red circle"], 2, seed=9), model.generate(["a red circle"], 2, seed=9))
    assert json.loads(json.dumps(restored.get_config())) == json.loads(json.dumps(model.get_config()))


def test_loading_builds_every_layer_without_a_symbolic_trace(trained, monkeypatch):
    # Layers made of sub-layers (`CompositeLayer`) build on the model's first call; a layer that Keras
    # had to trace symbolically first would make loading seconds slower.
    import keras.src.layers.layer as keras_layer

    traced = []
    original = keras_layer.backend.compute_output_spec
    monkeypatch.setattr(
        keras_layer.backend, "compute_output_spec",
        lambda function, *args, **kwargs: traced.append(getattr(function, "__self__", function)) or original(function, *args, **kwargs),
    )
    model, path = trained
    restored = keras.saving.load_model(path)
    assert traced == []
    assert [w.path for w in restored.weights] == [w.path for w in model.weights]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(top_k=-1), "top_k"),
        (dict(top_k=10**6), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(cfg_scale=-0.5), "cfg_scale"),
        (dict(prompts=["   "]), "empty"),
        (dict(prompts=[]), "non-empty"),
        (dict(num_images=0), "num_images"),
    ],
)
def test_bad_arguments_raise(trained, kwargs, message):
    model, _ = trained
    prompts = kwargs.pop("prompts", ["a red circle"])
    with pytest.raises(ValueError, match=message):
        model.generate(prompts, **kwargs)


def test_long_prompt_is_truncated_with_a_warning(trained, caplog):
    model, _ = trained
    with caplog.at_level(logging.WARNING, logger="keras_dalle"):
        model.generate(["a red circle " * 10], seed=0)
        model.generate(["a red circle " * 10], seed=1)  # the same prompt again: already told
        model.generate(["a blue square " * 10], seed=0)
    assert caplog.text.count("truncated") == 2  # once per prompt


def test_adversarial_weight_zero_has_no_discriminator():
    model = _model(adversarial_weight=0.0)
    assert model.discriminator is None
    model.fit(_batch().repeat(2), epochs=1, verbose=0)


def test_discriminator_work_starts_at_adversarial_start():
    model = _model(adversarial_start=3)
    before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    model.fit(_batch().repeat(3), epochs=1, verbose=0)
    # Before the start the compiled step has no discriminator update at all.
    assert int(model.d_optimizer.iterations) == 0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.discriminator.trainable_weights))
    model.fit(_batch().repeat(2), epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 5 and int(model.d_optimizer.iterations) == 2
    assert not all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.discriminator.trainable_weights))


def test_word_attention_keeps_each_words_states_to_itself(trained, tmp_path):
    ids = tf.constant([[70, 34, 80, 81, 34, 90, 0, 0]])  # three words: [70] [34 80 81] [34 90], then pad
    np.testing.assert_array_equal(word_mask(ids).numpy()[0, :6, :6], [
        [1, 0, 0, 0, 0, 0], [0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 1, 1],
    ])
    assert not word_mask(ids).numpy()[0, :, 6:].any()  # pad keys are never seen
    model = _model(word_attention=True)
    encode = lambda prompt: model.text_encoder(model.text_tokenizer(tf.constant([prompt]))).numpy()[0]  # noqa: E731
    triangle, circle = encode("a red triangle"), encode("a red circle")
    # "a red" has the same states before any shape word; the shape word's own states differ.
    np.testing.assert_allclose(triangle[:5], circle[:5], atol=1e-6)
    assert not np.allclose(triangle[5:12], circle[5:12])
    # Without it, every byte sees the whole caption.
    model, _ = trained
    encode = lambda prompt: model.text_encoder(model.text_tokenizer(tf.constant([prompt]))).numpy()[0]  # noqa: E731
    assert not np.allclose(encode("a red triangle")[:5], encode("a red circle")[:5], atol=1e-6)
    # The option is saved with the model.
    word_model = _model(word_attention=True)
    word_model.save(tmp_path / "word.keras")
    assert keras.saving.load_model(tmp_path / "word.keras").text_encoder.word_attention


def test_sentence_layers_and_word_positions_on_top_of_word_attention(tmp_path):
    np.testing.assert_array_equal(word_indices(tf.constant([[70, 34, 80, 81, 34, 90, 0]])).numpy(), [[0, 1, 1, 1, 2, 2, 2]])
    encode = lambda model, prompt: model.text_encoder(model.text_tokenizer(tf.constant([prompt]))).numpy()[0]  # noqa: E731
    # A top block over the whole caption: "a red" now depends on the shape word after it.
    binding = _model(word_attention=True, text_layers=2, sentence_layers=1)
    assert not np.allclose(encode(binding, "a red triangle")[:5], encode(binding, "a red circle")[:5], atol=1e-6)
    # Word positions: the word " X" at bytes 3-4 is the third word in "D N X" and the second in "DEN X".
    # Within-word attention alone gives it the same states in both; its word index tells them apart.
    ids = tf.constant([[70, 34, 80, 34, 90] + [0] * 19, [70, 71, 80, 34, 90] + [0] * 19])  # (2, L = 24)
    plain = _model(word_attention=True).text_encoder(ids).numpy()
    np.testing.assert_allclose(plain[0, 3:5], plain[1, 3:5], atol=1e-6)
    indexed = _model(word_attention=True, word_positions=True)
    states = indexed.text_encoder(ids).numpy()
    assert not np.allclose(states[0, 3:5], states[1, 3:5], atol=1e-6)
    # Both options are saved with the model.
    binding.save(tmp_path / "binding.keras")
    loaded = keras.saving.load_model(tmp_path / "binding.keras").text_encoder
    assert (loaded.word_attention, loaded.sentence_layers, loaded.word_positions) == (True, 1, False)
    with pytest.raises(ValueError, match="needs word_attention"):
        _model(text_layers=2, sentence_layers=1)
    with pytest.raises(ValueError, match=r"sentence_layers must be in \[0, 1\)"):
        _model(word_attention=True, sentence_layers=1)


def test_grid_positions_mark_rows_and_columns():
    model = _model(image_grid_positions=True)
    grid = model.generator.grid_positions
    side = model.grid_size
    flat = grid(tf.zeros((1, side * side, model.width))).numpy()[0]  # (N, D): the cell of each image input
    expected = (grid.rows.numpy()[:, None, :] + grid.columns.numpy()[None, :, :]).reshape(side * side, -1)
    np.testing.assert_allclose(flat, expected, atol=1e-6)
    # A decoding step at cell 5 gets the same embedding as cell 5 of the whole grid.
    one = grid(tf.zeros((1, 1, model.width)), start_index=5).numpy()[0, 0]
    np.testing.assert_allclose(one, expected[5], atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        from keras_dalle.models.text_to_image import Generator

        Generator(32, 8, 12, 16, 1, 2, image_grid_positions=True)


def test_package_model_drops_optimizer_state_only(trained, tmp_path):
    model, path = trained  # saved after fit: it carries optimizer slots
    small = tmp_path / "small.keras"
    assert cli.main(["package-model", str(path), "--out", str(small)]) == 0
    assert small.stat().st_size < path.stat().st_size
    restored = keras.saving.load_model(small)
    np.testing.assert_array_equal(restored.generate(["a red circle"], seed=3), model.generate(["a red circle"], seed=3))
    tuned = tmp_path / "tuned.keras"
    assert cli.main(["package-model", str(path), "--out", str(tuned), "--top-k", "5", "--temperature", "0.5"]) == 0
    restored = keras.saving.load_model(tuned)
    assert (restored.top_k, restored.temperature, restored.cfg_scale) == (5, 0.5, model.cfg_scale)
    np.testing.assert_array_equal(
        restored.generate(["a red circle"], seed=3), model.generate(["a red circle"], seed=3, top_k=5, temperature=0.5)
    )
    assert cli.main(["package-model", str(path), "--out", str(tuned), "--top-k", "-2"]) == 2


def test_cli_writes_grid_manifest_and_evaluation(trained, tmp_path, capsys):
    _, path = trained
    grid = tmp_path / "grid.png"
    assert cli.main(["generate", "a red circle", "--model", str(path), "--num", "2", "--out", str(grid)]) == 0
    assert grid.stat().st_size > 0
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\na blue square above a green circle\n")
    out = tmp_path / "pictures"
    assert cli.main(["generate", "--prompts", str(prompts), "--model", str(path), "--num", "2", "--seed", "5", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(x["prompt"], x["seed"]) for x in lines] == [
        ("a red circle", 5), ("a red circle", 6), ("a blue square above a green circle", 7), ("a blue square above a green circle", 8)
    ]
    assert all((out / x["file"]).is_file() for x in lines)
    # A prompt at a time (the pictures are written chunk by chunk): the same pictures and manifest.
    one_by_one = tmp_path / "one_by_one"
    assert cli.main(["generate", "--prompts", str(prompts), "--model", str(path), "--num", "2", "--seed", "5", "--out", str(one_by_one),
                     "--batch-prompts", "1"]) == 0
    assert (one_by_one / "manifest.jsonl").read_text() == (out / "manifest.jsonl").read_text()
    assert all((one_by_one / x["file"]).read_bytes() == (out / x["file"]).read_bytes() for x in lines)
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(path), "--prompts", str(prompts), "--num", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["one_object"]["pictures"] == 1 and summary["two_object"]["pictures"] == 1
    # Completion: the grid shows the input first, then the pictures.
    from PIL import Image

    Image.fromarray(shapes.generate_shapes(1, seed=3, canvas_size=2 * SIZE)[0][0]).convert("L").save(tmp_path / "in.png")
    completion = ["generate", "a red circle", "--model", str(path), "--num", "3", "--image", str(tmp_path / "in.png")]
    assert cli.main([*completion, "--keep-rows", "2", "--out", str(grid)]) == 0
    assert cli.main(["generate", "a red circle", "--model", str(path), "--num", "3", "--out", str(tmp_path / "plain.png")]) == 0
    tile, pad = SIZE * 4, 6  # image_grid's default scale and padding
    assert Image.open(grid).width - Image.open(tmp_path / "plain.png").width == tile + pad  # one more tile
    top = (12 + 3 + 6) + pad  # below the title line (font size 12)
    first = np.asarray(Image.open(grid).convert("RGB"))[top : top + tile, pad : pad + tile].reshape(-1, 3).astype(int)
    assert (first[:, 0] == first[:, 1]).all() and (first[:, 1] == first[:, 2]).all()  # the grey input comes first
    assert cli.main([*completion, "--keep-rows", str(4), "--out", str(grid)]) == 2
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    assert cli.main(["generate", "a red circle", "--model", str(path), "--image", str(tmp_path / "bad.png"), "--out", str(grid)]) == 2
    assert cli.main(["generate", "a red circle", "--model", str(path), "--keep-rows", "1", "--out", str(grid)]) == 2
    assert cli.main(["generate", "a red circle", "--model", str(tmp_path / "missing.keras"), "--out", str(grid)]) == 2
    assert cli.main(["generate", "a red circle", "--model", str(path), "--top-p", "2", "--out", str(grid)]) == 2


def test_compiled_decoding_and_noise_equal_the_eager_ones(trained):
    from keras_dalle.sampling import compiled_noise_from_seeds, noise_from_seeds

    model, _ = trained
    tokens = model.generate_tokens(["a red circle", "a blue square"], num_images=2, seed=3)
    eager = np.asarray(model.images_from_tokens(tf.constant(tokens)))
    np.testing.assert_array_equal(model.decode_tokens(tokens), eager)
    seeds = np.array([5, 0, 2**40], np.int64)
    np.testing.assert_array_equal(compiled_noise_from_seeds(tf.constant(seeds), 7).numpy(), noise_from_seeds(seeds, 7).numpy())
