"""TFLite for Android: `python -m export.tflite --model M.keras --out F.tflite [--quantize none|dynamic|float16|int8]`.

Builtin ops only (LiteRT on Android ships no Flex delegate), batch 1, static shapes. Signatures:
- `generate`: prompt_ids (int32 [1, L], from the byte tokenizer's contract, made in app code),
  noise (float32 [1, N], uniform in [0, 1): one number per image token, from any seeded
  generator), temperature (float32 [1]), top_k (int32 [1]), top_p (float32 [1]),
  cfg_scale (float32 [1]) -> image (uint8 [1, S, S, 3]), tokens (int32 [1, N]).
- `complete`: image completion: the `generate` inputs plus image (uint8 [1, S, S, 3], already at
  the model's size) and keep_rows (int32 [1], 1 .. grid rows - 1) -> image, tokens; the top
  keep_rows rows of the picture's token grid are kept and the rest drawn under the prompt.
- `decode_tokens`: tokens (int32 [1, N]) -> image (uint8 [1, S, S, 3]).
- With `--scorer S` also `score`: image (uint8 [1, S, S, 3]) and prompt_ids (int32 [1, L'], the
  scorer's own text length) -> score (float32 [1]), the cosine similarity app code reranks
  candidates by.

int8 is full-integer quantization (int8 weights and activations, float input and output
tensors) calibrated on training-distribution prompts and pictures. Two graph details make it
work, both in keras_dalle/layers/attention.py: masked attention scores are not filled with a huge
constant (it would take the whole int8 range of the scores), and the cache write's condition is
not `cast(equal(...))`, which the converter turns into a ONE_HOT op whose int8 "off" value is 0.5.

Settings are not checked in the graph (TFLite has no Assert op): app code validates them as
`keras_dalle.sampling.validate_sampling_arguments` does. The model's default settings go beside
the file as `F.json` (`{"sampling_defaults": {...}}`), which the Android sample reads, so the
defaults live in the model alone. PNG encoding stays out (Flex only);
Android builds a Bitmap from the RGB bytes.
"""

import argparse
import contextlib
import json
import pathlib
import sys
import tempfile

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import numpy as np
import tensorflow as tf

from export import graphs
from keras_dalle import pretrained
from keras_dalle.layers.embedding import one_hot_lookups
from keras_dalle.sampling.loop import no_pass_through_cache

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
_CUSTOM = 32  # BuiltinOperator.CUSTOM: Flex and custom ops both appear as CUSTOM


def representative_dataset(model, count=32, seed=0, scorer=None):
    """int8 calibration inputs per signature: captions and pictures from the shapes generator."""
    from keras_dalle.data import shapes

    rng = np.random.default_rng(seed)
    images, captions = shapes.generate_shapes(count, seed=seed + 1000, canvas_size=model.image_size)
    ids = model.text_tokenizer(tf.constant(captions)).numpy()
    tokens = model.image_tokens(images).numpy().astype(np.int32)
    for index in range(count):
        sampling = {
            "prompt_ids": ids[index : index + 1],
            "noise": rng.random((1, model.image_length), dtype=np.float32),
            "temperature": np.array([model.temperature], np.float32),
            "top_k": np.array([model.top_k], np.int32),
            "top_p": np.array([model.top_p], np.float32),
            "cfg_scale": np.array([model.cfg_scale], np.float32),
        }
        yield "generate", sampling
        keep_rows = np.array([1 + index % (model.grid_size - 1)], np.int32)
        yield "complete", {**sampling, "image": images[index : index + 1], "keep_rows": keep_rows}
        yield "decode_tokens", {"tokens": tokens[index : index + 1]}
        if scorer is not None:
            yield "score", {"image": images[index : index + 1], "prompt_ids": scorer.text_tokenizer(tf.constant(captions[index : index + 1])).numpy()}


@contextlib.contextmanager
def int8_tracing():
    """How the full-int8 export traces its graphs: the image-token table as a matmul weight, stored
    once (`one_hot_lookups`), and no decoding-loop output that is its input (`no_pass_through_cache`)."""
    with one_hot_lookups(), no_pass_through_cache():
        yield


def convert(model, quantize="none", scorer=None):
    """The .tflite bytes of `model` (and `scorer`'s `score` signature, if given) with builtin ops only."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    with tempfile.TemporaryDirectory() as tmp:
        signatures = graphs.BatchOneGraphs(model, scorer)
        with int8_tracing() if quantize == "int8" else contextlib.nullcontext():
            signatures.archive().write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=signatures.signature_keys)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            converter.representative_dataset = lambda: representative_dataset(model, scorer=scorer)
            # One scale per dense weight matrix instead of one per output channel: a smaller file
            # at the same caption accuracy (the README's export table measures both). TF 2.21 has
            # this only as a private converter attribute; tests/test_export.py checks it took effect.
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        content = converter.convert()
    non_builtin = custom_ops(content)
    if non_builtin:
        raise RuntimeError(f"the converted model uses non-builtin ops {non_builtin}; Android's LiteRT cannot run it")
    return content


def sidecar(model):
    """What app code needs besides the .tflite: the model's default sampling settings."""
    return {"sampling_defaults": model.sampling_defaults()}


def custom_ops(content):
    """Names of the Flex / custom operators in a .tflite flatbuffer (empty for builtin-only models)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    names = set()
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == _CUSTOM:
            names.add(code.CustomCode().decode())
    return sorted(names)


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description="Export a KerasDALLE .keras model as a builtin-ops TFLite model.")
    parser.add_argument("--model", default=None, help="a .keras model or a shipped one (shapes, emoji; default: shapes)")
    parser.add_argument("--out", required=True, help="the .tflite file to write")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none")
    parser.add_argument("--scorer", default=None, help="a ContrastiveScorer .keras or a shipped one (shapes, emoji): adds the score signature")
    args = parser.parse_args(argv)
    try:
        model = pretrained.load_model(args.model)
        scorer = pretrained.load_scorer(args.scorer) if args.scorer else None
        content = convert(model, args.quantize, scorer)
    except (FileNotFoundError, ValueError) as err:
        print(f"{prog or 'export.tflite'}: error: {err}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    out.with_suffix(".json").write_text(json.dumps(sidecar(model), indent=2) + "\n")
    print(f"wrote {out} ({len(content) / 1e6:.2f} MB, quantize={args.quantize}, builtin ops only) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
