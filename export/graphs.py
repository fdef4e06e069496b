"""The graph functions every export wraps: checked settings, sampling, decoding, PNG encoding, scoring
and reranking with a contrastive scorer, and the batch-1 signatures that TFLite and ONNX share."""

import keras
import tensorflow as tf

from keras_dalle.data.images import resize_and_center_crop_tf
from keras_dalle.models.image_codec import to_unit_range
from keras_dalle.models.unclip import UnCLIPDecoder
from keras_dalle.sampling import SETTING_DTYPES, SETTING_RULES, noise_from_seeds


def check_settings(model, temperature, top_k, top_p, cfg_scale):
    """In-graph checks of per-row sampling settings (`SETTING_RULES`, as the Python side checks them);
    failing ones raise InvalidArgument with the rule's message."""
    values = (temperature, top_k, top_p, cfg_scale)
    return [check for rule, value in zip(SETTING_RULES, values) for check in rule.graph_checks(value, model.codebook_size)]


def prompt_ids(model, prompt):
    """Prompt strings [B] -> ids [B, L] in the graph; invalid UTF-8 or an empty prompt raises InvalidArgument."""
    repaired = tf.strings.unicode_transcode(prompt, "UTF-8", "UTF-8", errors="replace")
    # Assert with the message only: an assert that printed the prompt would make TF's error text invalid UTF-8 too.
    valid = tf.debugging.Assert(tf.reduce_all(tf.equal(repaired, prompt)), ["prompt must be valid UTF-8"])
    with tf.control_dependencies([valid]):
        ids, lengths = model.text_tokenizer.ids_and_lengths(prompt)  # one normalization for both
    check = tf.debugging.assert_greater(lengths, 0, message="prompt must not be empty (after normalization)")
    with tf.control_dependencies([check]):
        return tf.identity(ids)


def images_from_tokens(model, tokens):
    """Flat tokens int32 [B, N] -> uint8 pictures [B, S, S, 3]; out-of-range tokens raise InvalidArgument."""
    checks = [
        tf.debugging.assert_greater_equal(tokens, 0, message="tokens must be >= 0"),
        tf.debugging.assert_less(tokens, model.codebook_size, message=f"tokens must be < {model.codebook_size}"),
    ]
    with tf.control_dependencies(checks):
        return model.images_from_tokens(tokens)


def png_bytes(images):
    """uint8 [B, S, S, 3] -> PNG strings [B]."""
    return tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)


def sample_tokens(model, condition, noise, temperature, top_k, top_p, cfg_scale, prefix=None):
    """The whole sampling loop in one graph, guidance always on (cfg_scale 1 equals no guidance);
    `condition` is the model's (`KerasDALLE.prompt_condition` of prompt ids: the ids themselves for
    the text-to-image model); `prefix` as in `TokenSampler` (image completion)."""
    return model.sampler.generate_in_graph(
        condition, noise, temperature, top_k, top_p, cfg_scale, guidance=True, prefix=prefix
    )


def pictures_from_bytes(image_bytes, size):
    """Encoded pictures (PNG, JPEG, GIF, BMP strings [B]) -> uint8 [B, size, size, 3], converted as
    training data is: transparency composited onto black, grey to RGB, the shorter side resized to
    `size` and the center cropped. Bytes that do not decode raise InvalidArgument."""

    def one(data):
        rgba = tf.cast(tf.io.decode_image(data, channels=4, expand_animations=False), tf.float32)  # grey, RGB: opaque
        rgb = tf.cast(tf.round(rgba[..., :3] * rgba[..., 3:] / 255.0), tf.uint8)
        return resize_and_center_crop_tf(rgb, size)

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8))


def completion_prefix(model, image, keep_rows):
    """In-graph twin of `KerasDALLE.completion_prefix`: uint8 pictures [B, S, S, 3] and keep_rows int32 [B]
    -> (given tokens [B, N], keep [B]); keep_rows outside 1 .. grid_size - 1 raises InvalidArgument."""
    rows = model.grid_size
    checks = [
        tf.debugging.assert_greater_equal(keep_rows, 1, message=f"keep_rows must be in 1..{rows - 1}"),
        tf.debugging.assert_less_equal(keep_rows, rows - 1, message=f"keep_rows must be in 1..{rows - 1}"),
    ]
    with tf.control_dependencies(checks):
        return kept_rows_prefix(model, image, keep_rows)


def kept_rows_prefix(model, image, keep_rows):
    """Unchecked: uint8 pictures [B, S, S, 3] and keep_rows [B] -> (their tokens [B, N], tokens kept [B])."""
    return tf.cast(model.image_tokens(image), tf.int32), keep_rows * model.grid_size


def generate_from_prompts(model, prompt, temperature, top_k, top_p, cfg_scale, seed, prefix=None):
    """Prompt strings and per-row settings [B] -> {"image_bytes", "image", "tokens"}; `prefix`
    (`completion_prefix`) continues pictures instead."""
    with tf.control_dependencies(check_settings(model, temperature, top_k, top_p, cfg_scale)):
        ids = prompt_ids(model, prompt)
    return _drawn(model, model.prompt_condition(ids), temperature, top_k, top_p, cfg_scale, seed, prefix)


def _drawn(model, condition, temperature, top_k, top_p, cfg_scale, seed, prefix=None):
    """Pictures for a condition (settings checked already) -> {"image_bytes", "image", "tokens"}."""
    noise = noise_from_seeds(seed, model.image_length)
    tokens = sample_tokens(model, condition, noise, temperature, top_k, top_p, cfg_scale, prefix)
    images = images_from_tokens(model, tokens)
    return {"image_bytes": png_bytes(images), "image": images, "tokens": tokens}


def image_embeddings(model, image_bytes):
    """Encoded pictures [B] -> the unCLIP decoder's scorer's unit image embeddings [B, E] (the
    pictures converted as training data is; bytes that do not decode raise InvalidArgument)."""
    pictures = pictures_from_bytes(image_bytes, model.image_size)
    return model.scorer.embed_image_pixels(to_unit_range(pictures))


def draw_from_embeddings(model, embeddings, temperature, top_k, top_p, cfg_scale, seed):
    """The unCLIP decoder's pictures from unit embeddings [B, E] alone (the null caption), per-row
    settings and seeds as `generate_from_prompts` takes them -> {"image_bytes", "image", "tokens"}."""
    with tf.control_dependencies(check_settings(model, temperature, top_k, top_p, cfg_scale)):
        ids = model.text_tokenizer.null_ids(tf.shape(embeddings)[0])
    return _drawn(model, (ids, embeddings), temperature, top_k, top_p, cfg_scale, seed)


def edit_direction(model, from_caption, to_caption):
    """normalize(z_text(to) - z_text(from)) per row [B, E] by the decoder's scorer; captions it
    embeds alike raise InvalidArgument."""
    scorer = model.scorer
    difference = scorer.embed_ids(prompt_ids(scorer, to_caption)) - scorer.embed_ids(prompt_ids(scorer, from_caption))
    norm = tf.norm(difference, axis=-1)
    check = tf.debugging.assert_greater(norm, 1e-6, message="the two captions embed alike: there is no direction between them")
    with tf.control_dependencies([check]):
        return difference / norm[:, None]


def check_fraction(value, name):
    """InvalidArgument unless every value [B] is in [0, 1]."""
    return [
        tf.debugging.assert_greater_equal(value, 0.0, message=f"{name} must be in [0, 1]"),
        tf.debugging.assert_less_equal(value, 1.0, message=f"{name} must be in [0, 1]"),
    ]


def scores(scorer, images, prompt):
    """Cosine similarity of uint8 picture i [B, S, S, 3] with prompt string i [B] -> float32 [B]."""
    image_embeddings = scorer.embed_image_pixels(to_unit_range(images))  # (B, E)
    text_embeddings = scorer.embed_ids(prompt_ids(scorer, prompt))  # (B, E)
    return tf.reduce_sum(image_embeddings * text_embeddings, axis=-1)


def _candidate_rows(seed, candidates):
    """The batch of a reranking call: seeds [B] and candidates [B] (each >= 1, else InvalidArgument)
    -> (tile: [B, ...] -> [count * B, ...] candidate-major with count = max(candidates), seeds
    [count * B]: seed_i + c * B for candidate c of row i, so candidate 0 is the unreranked draw)."""
    check = tf.debugging.assert_greater_equal(candidates, 1, message="candidates must be >= 1")
    with tf.control_dependencies([check]):
        count = tf.reduce_max(candidates)
    batch = tf.shape(seed)[0]

    def tile(x):
        return tf.tile(x, [count] + [1] * (len(x.shape) - 1))

    candidate = tf.repeat(tf.range(count), batch)  # (count * B,)
    return tile, tile(seed) + tf.cast(candidate, seed.dtype) * tf.cast(batch, seed.dtype)


def _keep_best(drawn, rated, candidates):
    """Of `drawn` ({name: [count * B, ...]}, candidate-major) keep per row the candidate with the
    highest `rated` ([count * B]) among its own candidates[i] -> the same names [B, ...] plus
    "score" [B]."""
    batch = tf.shape(candidates)[0]
    rated = tf.reshape(rated, [-1, batch])  # (count, B)
    allowed = tf.range(tf.shape(rated)[0])[:, None] < candidates[None, :]
    best = tf.argmax(tf.where(allowed, rated, -float("inf")), axis=0, output_type=tf.int32)  # (B,)
    rows = best * batch + tf.range(batch)
    kept = {name: tf.gather(value, rows) for name, value in drawn.items()}
    return {**kept, "score": tf.gather(tf.reshape(rated, [-1]), rows)}


def generate_best(model, scorer, prompt, temperature, top_k, top_p, cfg_scale, seed, candidates):
    """Reranked generation: row i draws `candidates[i]` pictures (seeds seed_i + c * B, c = 0, 1, ...;
    candidate 0 is what `generate_from_prompts` makes) and keeps the one `scorer` rates highest.

    All rows run max(candidates) candidates in one batch of [max * B] rows (candidate-major); a
    row's candidates past its own count are masked out. Returns {"image_bytes", "image", "tokens",
    "score"}, each [B, ...].
    """
    tile, seeds = _candidate_rows(seed, candidates)
    drawn = generate_from_prompts(model, tile(prompt), tile(temperature), tile(top_k), tile(top_p), tile(cfg_scale), seeds)
    return _keep_best(drawn, scores(scorer, drawn["image"], tile(prompt)), candidates)


def draw_best_from_embeddings(model, embeddings, temperature, top_k, top_p, cfg_scale, seed, candidates):
    """`draw_from_embeddings` reranked as `UnCLIPDecoder.draw_from_embeddings(candidates=...)`: row i
    draws `candidates[i]` pictures (seeds as `generate_best`) and keeps the one whose scorer image
    embedding lies nearest (cosine, the "score") its embedding [B, E]."""
    tile, seeds = _candidate_rows(seed, candidates)
    targets = tile(embeddings)  # (count * B, E)
    drawn = draw_from_embeddings(model, targets, tile(temperature), tile(top_k), tile(top_p), tile(cfg_scale), seeds)
    nearness = tf.reduce_sum(model.scorer.embed_image_pixels(to_unit_range(drawn["image"])) * targets, axis=-1)
    return _keep_best(drawn, nearness, candidates)


class ExportGraphs:
    """A set of named graph functions over a model (and a contrastive scorer that fits it), each a
    method of the subclass whose input signature `endpoints()` gives; `archive()` exports them all.
    The SavedModel's signatures (`export.saved_model.ServingGraphs`) and the batch-1 ones of TFLite
    and ONNX (`BatchOneGraphs`) are the two kinds."""

    def __init__(self, model, scorer=None):
        if scorer is not None:
            scorer.check_fits(model)
        self.model = model
        self.scorer = scorer

    def endpoints(self):
        """{method name: its input signature (a list of `tf.TensorSpec`)}, in export order."""
        raise NotImplementedError

    @property
    def signature_keys(self):
        return list(self.endpoints())

    def archive(self):
        """An ExportArchive with the signatures; it carries the weights so the converters freeze them."""
        archive = keras.export.ExportArchive()
        archive.track(self.model)
        if self.scorer is not None:
            archive.track(self.scorer)
        for name, signature in self.endpoints().items():
            archive.add_endpoint(name, getattr(self, name), input_signature=signature)
        return archive


class BatchOneGraphs(ExportGraphs):
    """The batch-1 signatures over the model's sampling graph (shared by TFLite and ONNX): `generate`,
    `complete` (image completion: the `generate` inputs plus image uint8 [1, S, S, 3] and keep_rows
    int32 [1]), `decode_tokens`, for an unCLIP decoder `vary` (image uint8 [1, S, S, 3] in place of
    the prompt ids: a picture from its embedding), and with a contrastive `scorer` also `score` (uint8 image
    [1, S, S, 3] and the scorer's prompt ids int32 [1, L'] -> score float32 [1]), so app code can
    rerank candidates."""

    def __init__(self, model, scorer=None):
        super().__init__(model, scorer)
        length, tokens = model.text_length, model.image_length
        scalar = lambda dtype, name: tf.TensorSpec((1,), dtype, name=name)  # noqa: E731
        self.generate_signature = [
            tf.TensorSpec((1, length), tf.int32, name="prompt_ids"),
            tf.TensorSpec((1, tokens), tf.float32, name="noise"),
            *(scalar(dtype, name) for name, dtype in SETTING_DTYPES.items()),
        ]
        self.image_signature = tf.TensorSpec((1, model.image_size, model.image_size, 3), tf.uint8, name="image")
        self.complete_signature = [*self.generate_signature, self.image_signature, scalar(tf.int32, "keep_rows")]

    def endpoints(self):
        endpoints = {
            "generate": self.generate_signature,
            "complete": self.complete_signature,
            "decode_tokens": [tf.TensorSpec((1, self.model.image_length), tf.int32, name="tokens")],
        }
        if isinstance(self.model, UnCLIPDecoder):
            endpoints["vary"] = [self.image_signature, *self.generate_signature[1:]]
        if self.scorer is not None:
            endpoints["score"] = [
                self.image_signature, tf.TensorSpec((1, self.scorer.text_length), tf.int32, name="prompt_ids")
            ]
        return endpoints

    def generate(self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale):
        condition = self.model.prompt_condition(prompt_ids)
        tokens = sample_tokens(self.model, condition, noise, temperature, top_k, top_p, cfg_scale)
        return {"image": self.model.images_from_tokens(tokens), "tokens": tokens}

    def complete(self, prompt_ids, noise, temperature, top_k, top_p, cfg_scale, image, keep_rows):
        prefix = kept_rows_prefix(self.model, image, keep_rows)
        condition = self.model.prompt_condition(prompt_ids)
        tokens = sample_tokens(self.model, condition, noise, temperature, top_k, top_p, cfg_scale, prefix)
        return {"image": self.model.images_from_tokens(tokens), "tokens": tokens}

    def decode_tokens(self, tokens):
        return {"image": self.model.images_from_tokens(tokens)}

    def vary(self, image, noise, temperature, top_k, top_p, cfg_scale):
        """An unCLIP decoder's picture drawn from the embedding of uint8 image [1, S, S, 3] alone."""
        embedding = self.model.scorer.embed_image_pixels(to_unit_range(image))  # (1, E)
        condition = (self.model.text_tokenizer.null_ids(1), embedding)
        tokens = sample_tokens(self.model, condition, noise, temperature, top_k, top_p, cfg_scale)
        return {"image": self.model.images_from_tokens(tokens), "tokens": tokens}

    def score(self, image, prompt_ids):
        image_embeddings = self.scorer.embed_image_pixels(to_unit_range(image))
        return {"score": tf.reduce_sum(image_embeddings * self.scorer.embed_ids(prompt_ids), axis=-1)}
