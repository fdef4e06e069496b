"""Export report: file size, batch-1 generate latency and caption-checker accuracy per format.

    python -m bench.export_report [--model M.keras] [--prompts 60] [--seeds 1] [--runs 5] [--formats keras,tflite-int8]

Formats: Keras (.keras), SavedModel (generate signature), TFLite none / dynamic / float16 /
int8, ONNX. All take the same prompt ids and noise (seed per picture), so differences come
from the format alone. Latency: median of `--runs` batch-1 generate calls after one warm-up
call. Accuracy: the fraction of pictures with every stated attribute right, on every k-th
evaluation prompt, `--seeds` pictures each (more pictures shrink the noise of a difference
between formats); token agreement: the fraction of image tokens equal to Keras's for the same
prompt and seed. Ratios are to Keras, measured in this run; `--formats` keeps Keras and the
named formats only.
"""

import argparse
import json
import pathlib
import statistics
import tempfile
import time

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import numpy as np
import tensorflow as tf

from export import onnx as onnx_export
from export import saved_model, tflite
from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.caption_checker import check_caption
from keras_dalle.sampling import noise_from_seeds


def _settings(model):
    return dict(
        temperature=np.array([model.temperature], np.float32),
        top_k=np.array([model.top_k], np.int32),
        top_p=np.array([model.top_p], np.float32),
        cfg_scale=np.array([model.cfg_scale], np.float32),
    )


def _first(outputs):
    return outputs["image"][0], outputs["tokens"][0]


def batch_one_inputs(model, prompt, seed):
    """The batch-1 `generate` inputs of TFLite and ONNX for one prompt and seed (the model's default settings)."""
    return dict(
        prompt_ids=model.text_tokenizer(tf.constant([prompt])).numpy(),
        noise=noise_from_seeds([seed], model.image_length).numpy(),
        **_settings(model),
    )


def tflite_runner(content):
    """function(model, prompt, seed) -> (uint8 picture [S, S, 3], tokens [N]) over a .tflite's `generate`."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=content).get_signature_runner("generate")
    return lambda model, prompt, seed: _first(runner(**batch_one_inputs(model, prompt, seed)))


def grade(run, prompts, seeds):
    """`run(prompt, seed)` for every prompt, `seeds` pictures each (seed i + k * len(prompts)):
    -> (all-attributes-right per picture [P * seeds], tokens [P * seeds, N])."""
    pictures = [(p, i + k * len(prompts)) for k in range(seeds) for i, p in enumerate(prompts)]
    results = [run(p.prompt, seed) for p, seed in pictures]
    correct = np.array([check_caption(image, p.prompt).all_hold for (image, _), (p, _) in zip(results, pictures)])
    return correct, np.stack([t for _, t in results])


FORMATS = ("keras", "savedmodel", *(f"tflite-{q}" for q in tflite.QUANTIZATIONS), "onnx")


def runners(model, workdir, formats=FORMATS):
    """{format: (file size in bytes, function(prompt, seed) -> (uint8 picture [S, S, 3], tokens [N]))}
    for "keras" and the other `formats`."""
    import onnxruntime

    keras_path = workdir / "model.keras"
    model.save(keras_path)
    def keras_run(prompt, seed):
        tokens = model.generate_tokens([prompt], seed=seed)
        return model.decode_tokens(tokens)[0], tokens.numpy()[0]

    out = {"keras": (keras_path.stat().st_size, keras_run)}
    if "savedmodel" in formats:
        out["savedmodel"] = _saved_model_runner(model, workdir)
    for quantize in tflite.QUANTIZATIONS:
        if f"tflite-{quantize}" in formats:
            content = tflite.convert(model, quantize)
            out[f"tflite-{quantize}"] = (len(content), lambda p, s, r=tflite_runner(content): r(model, p, s))
    if "onnx" in formats:
        proto = onnx_export.convert(model).SerializeToString()
        runtime = onnxruntime.InferenceSession(proto)
        out["onnx"] = (len(proto), lambda p, s: _first(dict(zip(["image", "tokens"], runtime.run(None, batch_one_inputs(model, p, s))))))
    return out


def _saved_model_runner(model, workdir):
    served = saved_model.export_saved_model(model, workdir / "serving" / "keras_dalle" / "1")
    signature = tf.saved_model.load(str(served)).signatures["generate"]
    size = sum(f.stat().st_size for f in served.rglob("*") if f.is_file())
    settings = _settings(model)

    def saved_model_run(prompt, seed):
        result = signature(prompt=tf.constant([prompt]), seed=tf.constant([seed], tf.int64),
                           **{k: tf.constant(v) for k, v in settings.items()})
        return result["image"].numpy()[0], result["tokens"].numpy()[0]

    return size, saved_model_run


def listed(parser, value, allowed, what):
    """The items of a comma-separated option `value`, each one of `allowed` (else `parser.error`)."""
    items = value.split(",")
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return items


def spread_prompts(count):
    """`count` evaluation prompts, every k-th one, so each group is represented."""
    everything = shapes.evaluation_prompts()
    return everything[:: max(1, len(everything) // count)][:count]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--prompts", type=int, default=60, help="evaluation prompts used for accuracy")
    parser.add_argument("--seeds", type=int, default=1, help="pictures per prompt (seeds differ per picture)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, from {','.join(FORMATS)}")
    args = parser.parse_args()
    formats = listed(parser, args.formats, FORMATS, "formats")
    model = pretrained.load_model(args.model)
    prompts = spread_prompts(args.prompts)
    rows, tokens = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (size, run) in runners(model, pathlib.Path(tmp), formats).items():
            run(prompts[0].prompt, 0)  # warm-up
            times = []
            for index in range(args.runs):
                start = time.perf_counter()
                run(prompts[index % len(prompts)].prompt, index)
                times.append(time.perf_counter() - start)
            correct, tokens[name] = grade(run, prompts, args.seeds)
            rows[name] = {
                "bytes": size,
                "latency_s": statistics.median(times),
                "accuracy": float(np.mean(correct)),
                "token_agreement": float(np.mean(tokens[name] == tokens["keras"])),
            }
    base = rows["keras"]
    print(f"{len(prompts)} evaluation prompts x {args.seeds} seeds, batch 1, median of {args.runs} runs")
    print(f"{'format':16} {'size MB':>8} {'x keras':>8} {'latency s':>10} {'x keras':>8} {'accuracy':>9} {'tokens = keras':>15}")
    for name, row in rows.items():
        print(
            f"{name:16} {row['bytes'] / 1e6:8.2f} {row['bytes'] / base['bytes']:8.2f} {row['latency_s']:10.3f} "
            f"{row['latency_s'] / base['latency_s']:8.2f} {row['accuracy']:9.1%} {row['token_agreement']:15.1%}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
