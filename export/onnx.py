"""ONNX: `python -m export.onnx --model M.keras --out F.onnx` (tf2onnx, opset 17; runs in onnxruntime).

The graph is the TFLite export's `generate` function (batch 1, prompt ids and noise in, the
sampling loop inside), converted with `tf2onnx.convert.from_function`: inputs prompt_ids,
noise, temperature, top_k, top_p, cfg_scale; outputs image (uint8) and tokens.
"""

import argparse
import pathlib
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)

import tensorflow as tf

from export import graphs

from keras_dalle import pretrained

OPSET = 17


def _erfc_as_one_minus_erf(ctx, node, name, args):
    """tf2onnx has no handler for Erfc (exact GELU uses it): rewrite it as 1 - Erf(x)."""
    import numpy as np
    from tf2onnx import utils

    node.type = "Erf"
    one = ctx.make_const(utils.make_name("one"), np.array(1.0, np.float32))
    difference = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(f"{node.name}_one_minus"))
    ctx.replace_inputs(difference, [one.output[0], node.output[0]])
    ctx.copy_shape(node.output[0], difference.output[0])
    ctx.set_dtype(difference.output[0], ctx.get_dtype(node.output[0]))


def convert(model):
    """The ONNX ModelProto of `model`'s batch-1 generate graph."""
    import tf2onnx

    batch_one = graphs.BatchOneGraphs(model)
    function = tf.function(batch_one.generate, input_signature=batch_one.generate_signature)
    proto, _ = tf2onnx.convert.from_function(
        function,
        input_signature=batch_one.generate_signature,
        opset=OPSET,
        custom_op_handlers={"Erfc": (_erfc_as_one_minus_erf, [])},
    )
    return proto


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description="Export a KerasDALLE .keras model to ONNX.")
    parser.add_argument("--model", default=None, help="a .keras model or a shipped one (shapes, emoji; default: shapes)")
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    args = parser.parse_args(argv)
    try:
        proto = convert(pretrained.load_model(args.model))
    except (FileNotFoundError, ValueError) as err:
        print(f"{prog or 'export.onnx'}: error: {err}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, opset {OPSET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
