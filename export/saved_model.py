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
import keras
import tensorflow as tf

from export import graphs
from keras_dalle import pretrained
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.sampling import SEED_DTYPE, SETTING_DTYPES

WARMUP_PROMPTS = ("a big red circle in the top left", "a green square to the left of a blue triangle")


def build_archive(model, scorer=None):
    """An ExportArchive with the signatures of the module docstring (`scorer`: a `ContrastiveScorer` or None)."""
    if scorer is not None:
        scorer.check_fits(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    rows = lambda dtype, name: tf.TensorSpec((None,), dtype, name=name)  # noqa: E731
    prompt = rows(tf.string, "prompt")
    settings = [*(rows(dtype, name) for name, dtype in SETTING_DTYPES.items()), rows(SEED_DTYPE, "seed")]

    def sampling_defaults(prompt):
        batch = tf.shape(prompt)[:1]
        return {
            name: tf.fill(batch, tf.constant(value, SETTING_DTYPES[name])) for name, value in model.sampling_defaults().items()
        }

    def serving_default(prompt):
        batch = tf.shape(prompt)[:1]
        seed = tf.random.uniform(batch, maxval=2**31 - 1, dtype=SEED_DTYPE)
        return graphs.generate_from_prompts(model, prompt, **sampling_defaults(prompt), seed=seed)

    def generate(prompt, temperature, top_k, top_p, cfg_scale, seed):
        return graphs.generate_from_prompts(model, prompt, temperature, top_k, top_p, cfg_scale, seed)

    def complete(prompt, image_bytes, keep_rows, temperature, top_k, top_p, cfg_scale, seed):
        prefix = graphs.completion_prefix(model, graphs.pictures_from_bytes(image_bytes, model.image_size), keep_rows)
        return graphs.generate_from_prompts(model, prompt, temperature, top_k, top_p, cfg_scale, seed, prefix)

    def decode_tokens(tokens):
        images = graphs.images_from_tokens(model, tokens)
        return {"image": images, "image_bytes": graphs.png_bytes(images)}

    archive.add_endpoint("serving_default", serving_default, input_signature=[prompt])
    archive.add_endpoint("generate", generate, input_signature=[prompt, *settings])
    archive.add_endpoint(
        "complete", complete, input_signature=[prompt, rows(tf.string, "image_bytes"), rows(tf.int32, "keep_rows"), *settings]
    )
    archive.add_endpoint("sampling_defaults", sampling_defaults, input_signature=[prompt])
    archive.add_endpoint(
        "decode_tokens", decode_tokens, input_signature=[tf.TensorSpec((None, model.image_length), tf.int32, name="tokens")]
    )
    if scorer is not None:
        archive.track(scorer)

        def generate_best(prompt, temperature, top_k, top_p, cfg_scale, seed, candidates):
            return graphs.generate_best(model, scorer, prompt, temperature, top_k, top_p, cfg_scale, seed, candidates)

        def score(image, prompt):
            return {"score": graphs.scores(scorer, image, prompt)}

        archive.add_endpoint("generate_best", generate_best, input_signature=[prompt, *settings, rows(tf.int32, "candidates")])
        size = model.image_size
        archive.add_endpoint("score", score, input_signature=[tf.TensorSpec((None, size, size, 3), tf.uint8, name="image"), prompt])
    return archive


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
    build_archive(model, scorer).write_out(str(out_dir), verbose=False)
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
    print(f"wrote SavedModel with signatures serving_default, generate, complete, decode_tokens, sampling_defaults{extra} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
