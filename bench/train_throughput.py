"""Train-step throughput: samples/s and achieved FLOP/s of each train step, against this machine's matmul peak.

`python -m bench.train_throughput [--preset small] [--batch-size 32] [--steps 10] [--jit both|on|off]
[--precisions float32,mixed_bfloat16]`

The steps run as `model.fit` runs them (the model's train function on a repeated batch of shapes
pictures). FLOPs are counted on the traced train step's graph with TensorFlow's profiler
(forward, backward and optimizer ops), with FLOP counts registered here for the ops it does not
count (Einsum, BatchMatMulV2, convolution gradients). The reference is tf.matmul of two
2048 x 2048 float32 matrices measured in the same run. Rows: the image tokenizer step (with its
discriminator step) and the text-to-image step with and without the adversarial term, for each
dtype policy in `--precisions` (mixed_bfloat16: bfloat16 matmuls, which this CPU runs on its AMX
units; `keras-dalle train --mixed-precision` uses it on CPUs). FLOPs are counted the same way for both.
"""

import argparse
import itertools
import re
import statistics
import time

import keras_dalle  # noqa: F401
import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.profiler import model_analyzer, option_builder

from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_tokenizer import ImageTokenizer


def _input_shape(graph, node, index):
    """Static shape of a NodeDef's index-th input."""
    name = node.input[index]
    return tf.TensorShape(graph.get_tensor_by_name(name if ":" in name else name + ":0").shape).as_list()


def _register(op_type, flops_of_node):
    try:
        tf_ops.RegisterStatistics(op_type, "flops")(lambda graph, node: tf_ops.OpStats("flops", flops_of_node(graph, node)))
    except KeyError:  # already registered by TensorFlow
        pass


def _einsum_flops(graph, node):
    """2 x the product of every index size, for a two-operand contraction (1 x for one operand)."""
    equation = node.attr["equation"].s.decode()
    inputs = equation.split("->")[0].split(",")
    sizes = {}
    for index, subscripts in enumerate(inputs):
        for letter, size in zip(re.sub(r"\.\.\.", "", subscripts), _input_shape(graph, node, index)):
            sizes[letter] = size
    return (2 if len(inputs) == 2 else 1) * int(np.prod(list(sizes.values())))


def _batch_matmul_flops(graph, node):
    a, b = _input_shape(graph, node, 0), _input_shape(graph, node, 1)
    m, k = (a[-1], a[-2]) if node.attr["adj_x"].b else (a[-2], a[-1])
    n = b[-2] if node.attr["adj_y"].b else b[-1]
    batch = int(np.prod(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))) if len(a) > 2 or len(b) > 2 else 1
    return 2 * batch * m * k * n


def _conv_backprop_flops(graph, node):
    """Conv2DBackpropInput / Filter: the forward conv's count, from the output gradient and the filter sizes."""
    gradient = _input_shape(graph, node, 2)  # out_backprop [B, H, W, Cout]
    if node.op == "Conv2DBackpropInput":
        kernel = _input_shape(graph, node, 1)  # [kh, kw, Cin, Cout]
    else:
        kernel = tf.make_ndarray(graph.get_operation_by_name(node.input[1].split(":")[0]).get_attr("value")).tolist()
    kh, kw, cin = kernel[0], kernel[1], kernel[2]
    return 2 * int(np.prod(gradient)) * kh * kw * cin


for _op, _count in (("Einsum", _einsum_flops), ("BatchMatMulV2", _batch_matmul_flops), ("BatchMatMulV3", _batch_matmul_flops),
                    ("Conv2DBackpropInput", _conv_backprop_flops), ("Conv2DBackpropFilter", _conv_backprop_flops)):
    _register(_op, _count)


def count_flops(concrete_function):
    """Float operations of one call of a concrete function (forward, gradients and updates are all in its graph)."""
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(concrete_function.graph, options=options).total_float_ops


def matmul_peak(n=2048, repeats=10):
    """Measured fp32 matmul FLOP/s of this machine (tf.matmul, n x n)."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul()
    start = time.perf_counter()
    for _ in range(repeats):
        result = matmul()
    result.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def measure(model, batch, steps, jit, repeats=3):
    """(samples/s, FLOPs per step, s/step) of `model`'s train step on one repeated batch.

    s/step is the median over `repeats` timed fits of `steps` steps: single fits on this shared
    machine now and then took exactly twice as long for the same code.
    """
    model.compile(optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit)
    model.build_optimizers()
    flops = count_flops(tf.function(model.train_step).get_concrete_function(batch))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: tracing, XLA compilation
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        timings.append((time.perf_counter() - start) / steps)
    seconds = statistics.median(timings)
    return batch_rows(batch) / seconds, flops, seconds


def batch_rows(batch):
    """Rows of a batch: images [B, ...] or (captions or ids, images)."""
    return int((batch[1] if isinstance(batch, tuple) else batch).shape[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--jit", choices=("both", "on", "off"), default="both")
    parser.add_argument("--precisions", default="float32", help="comma-separated Keras dtype policies")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    tokenizer_config = presets.preset(args.preset, "image_tokenizer")
    size = tokenizer_config["image_size"]
    images, captions = shapes.generate_shapes(args.batch_size, seed=0, canvas_size=size)
    peak = matmul_peak()
    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
    rows = []
    for precision, jit in itertools.product(args.precisions.split(","), jits):
        keras.mixed_precision.set_global_policy(precision)
        tokenizer = ImageTokenizer(**{**tokenizer_config, "adversarial_start": 0})
        tokenizer.build((None, size, size, 3))
        rows.append(("image tokenizer (+ discriminator)", precision, jit, *measure(tokenizer, tf.constant(images), args.steps, jit)))
        for weight, label in ((0.05, "text-to-image (+ discriminator)"), (0.0, "text-to-image, no adversarial")):
            dalle = KerasDALLE(tokenizer, **{**presets.preset(args.preset, "text_to_image"), "adversarial_weight": weight,
                                             "adversarial_start": 0})
            dalle.build(None)
            ids = dalle.text_tokenizer(tf.constant(captions))  # ids, so the step compiles with XLA too
            rows.append((label, precision, jit, *measure(dalle, (ids, tf.constant(images)), args.steps, jit)))
        print(rows[-3:], flush=True)
    print(f"\npreset {args.preset}, batch {args.batch_size}, fp32 matmul peak measured now: {peak / 1e9:.1f} GFLOP/s")
    print(f"{'train step':34} {'policy':>14} {'XLA':>4} {'samples/s':>10} {'s/step':>7} {'GFLOP/step':>11} {'GFLOP/s':>8} "
          f"{'of peak':>8}")
    for label, precision, jit, rate, flops, seconds in rows:
        achieved = flops / seconds
        print(f"{label:34} {precision:>14} {'on' if jit else 'off':>4} {rate:10.1f} {seconds:7.3f} {flops / 1e9:11.2f} "
              f"{achieved / 1e9:8.1f} "
              f"{achieved / peak:8.1%}")


if __name__ == "__main__":
    main()
