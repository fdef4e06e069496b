"""SavedModel for TF Serving: `python -m export.saved_model --model M.keras --out BASE/NAME/VERSION`.

Signatures (the contract; `saved_model_cli show --dir OUT --all` lists them):
- `serving_default`: prompt (string [B]) -> image_bytes (PNG string [B]), image (uint8 [B, S, S, 3]),
  tokens (int32 [B, N]); the model's default sampling settings and a fresh random seed per row.
- `generate`: prompt plus per-row temperature (float32 [B]), top_k (int32 [B]), top_p (float32 [B]),
  cfg_scale (float32 [B]), seed (int64 [B]) -> the same outputs. Per-row inputs keep every
  input batchable by TF Serving's batcher.
- `complete`: image completion. The `generate` inputs plus image_bytes (an encoded picture per
  row: PNG, JPEG, GIF or BMP, any size or mode, converted as training data is) and keep_rows
  (int32 [B], 1 .. grid rows - 1) -> the same outputs; row i keeps the top keep_rows[i] rows of
  its picture's token grid and draws the rest under its prompt. Corrupt bytes or a keep_rows
  out of range fail with InvalidArgument.
- `decode_tokens`: tokens (int32 [B, N]) -> image, image_bytes.
- With a contrastive scorer (`--scorer`), two more:
  - `generate_best`: the `generate` inputs plus candidates (int32 [B]) -> the same outputs and
    score (float32 [B]): row i keeps the best of candidates[i] pictures by the scorer (candidate c
    uses seed + c * B, so candidate 0 is `generate`'s picture). One Predict call reranks.
  - `score`: image (uint8 [B, S, S, 3]) and prompt -> score (float32 [B]), the cosine similarity.
- An unCLIP decoder (`keras-dalle train --stage decoder`) adds five, each with the `generate`
  settings and seed per row (a row's picture is drawn from an embedding alone, the null caption):
  - `vary`: image_bytes (an encoded picture per row) -> a picture drawn from its scorer embedding.
  - `edit`: image_bytes, from_caption, to_caption (strings [B]), amount (float32 [B] in [0, 1]) ->
    the picture drawn from slerp(its embedding, normalize(z_text(to) - z_text(from)), amount).
  - `interpolate`: image_bytes, other_image_bytes, theta (float32 [B] in [0, 1]) -> the picture
    drawn from slerp(the two embeddings, theta); one seed over a row of thetas holds the noise.
  - `vary_best`, `edit_best`: the `vary` / `edit` inputs plus candidates (int32 [B]) -> the same
    outputs and score (float32 [B]): row i keeps, of candidates[i] pictures (seeds as
    `generate_best`), the one whose scorer embedding lies nearest (cosine: the score) the
    embedding it was drawn from, as `UnCLIPDecoder.vary` / `edit` with `candidates` do.
  Amounts out of range, captions the scorer embeds alike, candidates below 1 and bytes that do
  not decode fail with InvalidArgument.
- `sampling_defaults`: prompt (string [B], values unused) -> temperature, top_k, top_p, cfg_scale
  [B]: the model's defaults, which `serving_default` uses and clients fill in for `generate`
  settings the user leaves out. It takes a batched input (not none) so that TF Serving's
  batcher, which batches every input along dimension 0, accepts it.

The graph needs TensorFlow and tensorflow-text ops only (TF Serving's model server links both):
tokenizing, the sampling loop with its key/value cache, decoding and PNG encoding all run inside.
Bad inputs fail with InvalidArgument and a message. A warmup file is written to
`assets.extra/tf_serving_warmup_requests` for `--enable_model_warmup`.
"""

import argparse
import pathlib
import shutil
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import tensorflow as tf

from export import graphs
from keras_dalle import pretrained
from keras_dalle.models.unclip import UnCLIPDecoder, slerp_rows
from keras_dalle.sampling import SEED_DTYPE, SETTING_DTYPES

WARMUP_PROMPTS = ("a big red circle in the top left", "a green square to the left of a blue triangle")


def _rows(dtype, name):
    """A batched input of one value per row: [B]."""
    return tf.TensorSpec((None,), dtype, name=name)


def _settings_and_seed():
    """The per-row sampling settings and seed every generating signature takes."""
    return [*(_rows(dtype, name) for name, dtype in SETTING_DTYPES.items()), _rows(SEED_DTYPE, "seed")]


class ServingGraphs(graphs.ExportGraphs):
    """The SavedModel's signatures of the module docstring, batched (`scorer`: a `ContrastiveScorer`
    or None; with one, also `generate_best` and `score`)."""

    def endpoints(self):
        prompt = _rows(tf.string, "prompt")
        settings = _settings_and_seed()
        endpoints = {
            "serving_default": [prompt],
            "generate": [prompt, *settings],
            "complete": [prompt, _rows(tf.string, "image_bytes"), _rows(tf.int32, "keep_rows"), *settings],
            "sampling_defaults": [prompt],
            "decode_tokens": [tf.TensorSpec((None, self.model.image_length), tf.int32, name="tokens")],
        }
        if self.scorer is not None:
            size = self.model.image_size
            endpoints["generate_best"] = [prompt, *settings, _rows(tf.int32, "candidates")]
            endpoints["score"] = [tf.TensorSpec((None, size, size, 3), tf.uint8, name="image"), prompt]
        return endpoints

    def sampling_defaults(self, prompt):
        batch = tf.shape(prompt)[:1]
        return {
            name: tf.fill(batch, tf.constant(value, SETTING_DTYPES[name]))
            for name, value in self.model.sampling_defaults().items()
        }

    def serving_default(self, prompt):
        seed = tf.random.uniform(tf.shape(prompt)[:1], maxval=2**31 - 1, dtype=SEED_DTYPE)
        return graphs.generate_from_prompts(self.model, prompt, **self.sampling_defaults(prompt), seed=seed)

    def generate(self, prompt, temperature, top_k, top_p, cfg_scale, seed):
        return graphs.generate_from_prompts(self.model, prompt, temperature, top_k, top_p, cfg_scale, seed)

    def complete(self, prompt, image_bytes, keep_rows, temperature, top_k, top_p, cfg_scale, seed):
        pictures = graphs.pictures_from_bytes(image_bytes, self.model.image_size)
        prefix = graphs.completion_prefix(self.model, pictures, keep_rows)
        return graphs.generate_from_prompts(self.model, prompt, temperature, top_k, top_p, cfg_scale, seed, prefix)

    def decode_tokens(self, tokens):
        images = graphs.images_from_tokens(self.model, tokens)
        return {"image": images, "image_bytes": graphs.png_bytes(images)}

    def generate_best(self, prompt, temperature, top_k, top_p, cfg_scale, seed, candidates):
        return graphs.generate_best(self.model, self.scorer, prompt, temperature, top_k, top_p, cfg_scale, seed, candidates)

    def score(self, image, prompt):
        return {"score": graphs.scores(self.scorer, image, prompt)}


class DecoderGraphs(ServingGraphs):
    """An unCLIP decoder's SavedModel: the `ServingGraphs` signatures (prompts alone: the zero
    embedding) and `vary`, `edit`, `interpolate` of the module docstring."""

    def endpoints(self):
        settings = _settings_and_seed()
        picture = _rows(tf.string, "image_bytes")
        return {
            **super().endpoints(),
            "vary": [picture, *settings],
            "edit": [picture, _rows(tf.string, "from_caption"), _rows(tf.string, "to_caption"), _rows(tf.float32, "amount"), *settings],
            "interpolate": [picture, _rows(tf.string, "other_image_bytes"), _rows(tf.float32, "theta"), *settings],
            "vary_best": [picture, *settings, _rows(tf.int32, "candidates")],
            "edit_best": [
                picture, _rows(tf.string, "from_caption"), _rows(tf.string, "to_caption"), _rows(tf.float32, "amount"),
                *settings, _rows(tf.int32, "candidates"),
            ],
        }

    def vary(self, image_bytes, temperature, top_k, top_p, cfg_scale, seed):
        embeddings = graphs.image_embeddings(self.model, image_bytes)
        return graphs.draw_from_embeddings(self.model, embeddings, temperature, top_k, top_p, cfg_scale, seed)

    def edit(self, image_bytes, from_caption, to_caption, amount, temperature, top_k, top_p, cfg_scale, seed):
        embeddings = self._edited_embeddings(image_bytes, from_caption, to_caption, amount)
        return graphs.draw_from_embeddings(self.model, embeddings, temperature, top_k, top_p, cfg_scale, seed)

    def vary_best(self, image_bytes, temperature, top_k, top_p, cfg_scale, seed, candidates):
        embeddings = graphs.image_embeddings(self.model, image_bytes)
        return graphs.draw_best_from_embeddings(self.model, embeddings, temperature, top_k, top_p, cfg_scale, seed, candidates)

    def edit_best(self, image_bytes, from_caption, to_caption, amount, temperature, top_k, top_p, cfg_scale, seed, candidates):
        embeddings = self._edited_embeddings(image_bytes, from_caption, to_caption, amount)
        return graphs.draw_best_from_embeddings(self.model, embeddings, temperature, top_k, top_p, cfg_scale, seed, candidates)

    def _edited_embeddings(self, image_bytes, from_caption, to_caption, amount):
        """slerp(picture embedding, normalize(z_text(to) - z_text(from)), amount) per row [B, E]."""
        with tf.control_dependencies(graphs.check_fraction(amount, "amount")):
            direction = graphs.edit_direction(self.model, from_caption, to_caption)
        return slerp_rows(graphs.image_embeddings(self.model, image_bytes), direction, amount)

    def interpolate(self, image_bytes, other_image_bytes, theta, temperature, top_k, top_p, cfg_scale, seed):
        with tf.control_dependencies(graphs.check_fraction(theta, "theta")):
            start = graphs.image_embeddings(self.model, image_bytes)
        embeddings = slerp_rows(start, graphs.image_embeddings(self.model, other_image_bytes), theta)
        return graphs.draw_from_embeddings(self.model, embeddings, temperature, top_k, top_p, cfg_scale, seed)


def write_warmup(out_dir, model_name, prompts=WARMUP_PROMPTS):
    """Writes `assets.extra/tf_serving_warmup_requests`: one serving_default Predict per prompt."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    extra = pathlib.Path(out_dir) / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(extra / "tf_serving_warmup_requests")) as writer:
        for text in prompts:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default")
            )
            request.inputs["prompt"].CopyFrom(tf.make_tensor_proto([text], dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def export_saved_model(model, out_dir, overwrite=False, scorer=None):
    """Writes the SavedModel (with `scorer`: also `generate_best` and `score`) and its warmup file to `out_dir` (BASE/NAME/VERSION)."""
    out_dir = pathlib.Path(out_dir)
    if not out_dir.name.isdigit():
        raise ValueError(f"{out_dir}: the last folder must be an integer version (BASE/NAME/VERSION, e.g. models/keras_dalle/1)")
    if out_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{out_dir} exists; pass --overwrite or choose a new version number")
        shutil.rmtree(out_dir)
    graphs_class = DecoderGraphs if isinstance(model, UnCLIPDecoder) else ServingGraphs
    graphs_class(model, scorer).archive().write_out(str(out_dir), verbose=False)
    write_warmup(out_dir, out_dir.parent.name)
    return out_dir


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description="Export a KerasDALLE .keras model as a SavedModel for TF Serving.")
    parser.add_argument("--model", default=None, help="a .keras model or a shipped one (shapes, emoji; default: shapes)")
    parser.add_argument("--out", required=True, help="BASE/NAME/VERSION, e.g. models/keras_dalle/1")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--scorer", default=None, help="a ContrastiveScorer .keras or a shipped one (shapes, emoji): adds the generate_best and score signatures")
    args = parser.parse_args(argv)
    try:
        scorer = pretrained.load_scorer(args.scorer) if args.scorer else None
        out = export_saved_model(pretrained.load_model(args.model), args.out, args.overwrite, scorer)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"{prog or 'export.saved_model'}: error: {err}", file=sys.stderr)
        return 2
    extra = ", generate_best, score" if args.scorer else ""
    print(f"wrote SavedModel with signatures serving_default, generate, complete, sampling_defaults, decode_tokens{extra} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
