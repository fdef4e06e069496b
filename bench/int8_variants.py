"""int8 TFLite variants: what keeping some ops in float, or other scales, buys against float32.

    python -m bench.int8_variants [--model M.keras] [--prompts 400] [--seeds 2] [--variants ...]
        (from the repository root)

The shipped int8 export (`export/tflite.py`) quantizes every op with an int8 kernel, one scale per
dense weight matrix. The variants here change one thing each, on the same calibration:
- `int8`: the shipped export;
- `int8-per-channel`: one scale per output channel of each dense matrix (the converter's default);
- `int8-float-softmax`: every SOFTMAX (attention and sampling) stays float;
- `int8-float-head`: the logits head and the sampling softmax stay float (the ops that set the
  distribution tokens are drawn from);
- `int16x8`: int16 activations, int8 weights (float where no 16x8 kernel exists).
Float ops in an int8 file are fine for the CPU and GPU delegates; integer-only NPUs and DSPs
hand them back to the CPU.

Accuracy: the caption checker (all stated attributes right) on every k-th evaluation prompt,
`--seeds` pictures each, the same prompt ids and noise for every variant. The denylisted variants
quantize the calibrated model with `mlir_quantize`'s op and node denylists, the calls
`tf.lite.experimental.QuantizationDebugger` makes (private converter functions in TF 2.21).
"""

import argparse
import tempfile

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import numpy as np
import tensorflow as tf

from bench.export_report import grade, listed, spread_prompts, tflite_runner
from export import graphs, tflite
from keras_dalle import pretrained

VARIANTS = ("float32", "int8", "int8-per-channel", "int8-float-softmax", "int8-float-head", "int16x8")
# Output tensor names of the logits head and the sampling softmax in the converted signatures (the
# `generate` and `complete` graphs and their nested while-loop bodies), as the converter names them.
FLOAT_HEAD_NODES = [
    *(f"{scope}head_1/MatMul;{scope}head_1/BiasAdd{suffix}" for scope in ("", "while/while/") for suffix in ("", "1")),
    *(f"{scope}Softmax{suffix}" for scope in ("", "while/while/") for suffix in ("", "1")),
]


def _converter(model, workdir):
    signatures = graphs.BatchOneGraphs(model)
    with tflite.int8_tracing():  # as the shipped int8 export traces it
        signatures.archive().write_out(workdir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(workdir, signature_keys=signatures.signature_keys)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: tflite.representative_dataset(model)
    return converter


def float_tensors(content, names):
    """The tensors of a .tflite flatbuffer, in any subgraph, that have one of `names` and are float32."""
    from tensorflow.lite.python import schema_py_generated as schema

    flatbuffer = schema.Model.GetRootAsModel(content, 0)
    found = []
    for index in range(flatbuffer.SubgraphsLength()):
        subgraph = flatbuffer.Subgraphs(index)
        for tensor in (subgraph.Tensors(i) for i in range(subgraph.TensorsLength())):
            if tensor.Name().decode() in names and tensor.Type() == schema.TensorType.FLOAT32:
                found.append(tensor.Name().decode())
    return found


def convert_variants(model, variants):
    """{variant: .tflite bytes, or the error message if the converter refused it}."""
    from tensorflow.lite.python import convert as tflite_convert

    out, calibrated = {}, None
    for variant in variants:
        try:
            if variant == "float32":
                out[variant] = tflite.convert(model, "none")
            elif variant == "int8":
                out[variant] = tflite.convert(model, "int8")
            elif variant == "int16x8":
                with tempfile.TemporaryDirectory() as tmp:
                    converter = _converter(model, tmp)
                    converter.target_spec.supported_ops = [
                        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                        tf.lite.OpsSet.TFLITE_BUILTINS,
                    ]
                    out[variant] = converter.convert()
            else:
                if calibrated is None:
                    with tempfile.TemporaryDirectory() as tmp:
                        converter = _converter(model, tmp)
                        converter._experimental_calibrate_only = True
                        calibrated = converter.convert()
                denylist = {
                    "int8-per-channel": {},
                    "int8-float-softmax": {"denylisted_ops": ["SOFTMAX"]},
                    "int8-float-head": {"denylisted_nodes": FLOAT_HEAD_NODES},
                }[variant]
                out[variant] = tflite_convert.mlir_quantize(
                    calibrated, disable_per_channel_for_dense_layers=variant != "int8-per-channel", **denylist
                )
                if variant == "int8-float-head" and not any("head" in n for n in float_tensors(out[variant], FLOAT_HEAD_NODES)):
                    out[variant] = "none of the head's tensor names is in this model: nothing was kept float"
        except Exception as error:  # noqa: BLE001 (a refused conversion is a result of this benchmark)
            out[variant] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=2, help="pictures per prompt")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {','.join(VARIANTS)}")
    args = parser.parse_args()
    variants = listed(parser, args.variants, VARIANTS, "variants")
    model = pretrained.load_model(args.model)
    prompts = spread_prompts(args.prompts)
    rows = {}
    for variant, content in convert_variants(model, ["float32", *[v for v in variants if v != "float32"]]).items():
        if isinstance(content, str):
            rows[variant] = content
            continue
        run = tflite_runner(content)
        correct, _ = grade(lambda prompt, seed: run(model, prompt, seed), prompts, args.seeds)
        rows[variant] = (len(content), float(np.mean(correct)), len(correct))
    float_bytes, float_accuracy, _ = rows["float32"]
    print(f"{len(prompts)} evaluation prompts x {args.seeds} seeds; accuracy: every stated attribute right")
    print(f"{'variant':20} {'size MB':>8} {'of float':>9} {'accuracy':>9} {'vs float':>9}")
    for variant, row in rows.items():
        if isinstance(row, str):
            print(f"{variant:20} not converted: {row}")
            continue
        size, accuracy, _ = row
        print(f"{variant:20} {size / 1e6:8.2f} {size / float_bytes:9.1%} {accuracy:9.1%} {100 * (accuracy - float_accuracy):+9.1f}")
    standard_error = 100 * np.sqrt(2 * float_accuracy * (1 - float_accuracy) / rows["float32"][2])
    print(f"standard error of a difference between two variants: about {standard_error:.1f} points")


if __name__ == "__main__":
    main()
