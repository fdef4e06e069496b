"""`generate`'s image tokens per second alone, at the named shapes of `bench/sampling_speed.py`, against
the peer: a file that also times older checkouts of the library.

`python bench/generate_rate.py [--shapes peer] [--batches 1,16] [--repeats 5] [--top-k 0] [--prompt P]`

It imports nothing else from `bench/` and uses only the API the library has had since before issue
15 (`KerasDALLE(image_tokenizer, **preset)`, `model.text_tokenizer`, `model.sampler.generate(ids,
noise, temperature, top_k, top_p, cfg_scale)`), so one file times the code before and after a
change, in one sitting, alternately:

    PYTHONPATH=/tmp/old-checkout .venv/bin/python bench/generate_rate.py
    PYTHONPATH=. .venv/bin/python bench/generate_rate.py

Models with random weights (speed does not depend on training). Each row times whole `generate`
calls (prefill included): tokens/s = batch x N / seconds, best of `--repeats` after a warm-up, at
temperature 1, top-p 1 and `--top-k`; guidance off (cfg 1) and on (cfg 3: 2 x batch rows per step).
"""

import argparse
import time

import keras
import tensorflow as tf

import keras_dalle  # noqa: F401
from keras_dalle import presets
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_tokenizer import ImageTokenizer

CFG = 3.0
PROMPT = "a red circle in the top left"
# DALLE-pytorch `generate_images` (KV cache) at the `peer` shape, image tokens/s, measured on this
# 2-core machine side by side with keras_dalle (2026-11-29): {(batch, guidance): tokens/s}.
PEER_TOKENS_PER_SECOND = {(1, False): 220.0, (1, True): 112.0, (16, False): 1480.0, (16, True): 765.0}
SHAPES = {
    "peer": dict(preset="small", image_tokens=64, text_to_image=dict(
        text_length=64, text_width=256, text_layers=1, text_heads=8, width=256, generator_layers=4, generator_heads=8)),
    "small-64": dict(preset="small", image_tokens=64, text_to_image={}),
    "small-256": dict(preset="small", image_tokens=256, text_to_image={}),
}


def build_model(shape):
    """A random-weight `KerasDALLE` of a named shape (`SHAPES`)."""
    spec = SHAPES[shape]
    grid = int(round(spec["image_tokens"] ** 0.5))
    tokenizer_config = presets.preset(spec["preset"], "image_tokenizer")
    tokenizer_config["image_size"] = grid * tokenizer_config["downsample_factor"]
    tokenizer = ImageTokenizer(**tokenizer_config)
    tokenizer.build((None, tokenizer_config["image_size"], tokenizer_config["image_size"], 3))
    config = {**presets.preset(spec["preset"], "text_to_image"), **spec["text_to_image"], "adversarial_weight": 0.0}
    model = KerasDALLE(tokenizer, **config)
    model.build(None)
    return model


def inputs(model, batch, cfg, prompt=PROMPT, top_k=0):
    """(prompt ids [batch, L], noise [batch, N], (temperature, top_k, top_p, cfg)) for one timed row."""
    ids = model.text_tokenizer(tf.constant([prompt] * batch))
    noise = tf.random.uniform((batch, model.image_length), seed=0)
    return ids, noise, (1.0, top_k, 1.0, cfg)


def interleaved_best_seconds(calls, repeats):
    """{name: shortest seconds} of zero-argument calls: one untimed call each (tracing, compilation,
    first allocations), then `repeats` rounds that time every call once, in turn, so a slow spell of
    the machine falls on all of them alike and their ratios hold."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: min(seconds) for name, seconds in times.items()}


def best_seconds(function, repeats):
    """The shortest of `repeats` timed calls of function, after one untimed (tracing, compilation)."""
    return interleaved_best_seconds({"call": function}, repeats)["call"]


def generate_call(model, batch, cfg, prompt=PROMPT, top_k=0):
    """A function that runs one `model.sampler.generate` call of `batch` pictures to the end."""
    ids, noise, settings = inputs(model, batch, cfg, prompt, top_k)
    return lambda: model.sampler.generate(ids, noise, *settings).numpy()


def user_path_call(model, batch, cfg, prompt=PROMPT, top_k=0):
    """A function that runs one `model.generate` call as users make it: `batch` pictures of `prompt`
    (tokenized, noise from seeds, decoded, uint8 numpy out) with a progress callback."""
    steps = []

    def run():
        pictures = model.generate([prompt], num_images=batch, temperature=1.0, top_k=top_k, top_p=1.0, cfg_scale=cfg, seed=0,
                                  on_token=lambda step, total: steps.append(step))
        assert pictures.shape[0] == batch and pictures.dtype == "uint8"
        return pictures

    return run


def generate_rate(model, batch, cfg, repeats, prompt=PROMPT, top_k=0):
    """`model.sampler.generate`'s image tokens per second (best of `repeats`)."""
    return batch * model.image_length / best_seconds(generate_call(model, batch, cfg, prompt, top_k), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="peer", help=f"comma-separated, from {list(SHAPES)}")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row (the best counts)")
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--prompt", default=PROMPT, help="every row's prompt")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    print(f"generate, image tokens per second (top-k {args.top_k}, prompt {args.prompt!r}, library {keras_dalle.__file__})")
    print(f"{'shape':>9} {'batch':>5} {'cfg':>4} {'generate':>9} {'peer':>6} {'x peer':>7}")
    for shape in args.shapes.split(","):
        model = build_model(shape)
        for batch in [int(x) for x in args.batches.split(",")]:
            for cfg in (1.0, CFG):
                rate = generate_rate(model, batch, cfg, args.repeats, args.prompt, args.top_k)
                peer = PEER_TOKENS_PER_SECOND.get((batch, cfg != 1.0)) if shape == "peer" else None
                print(f"{shape:>9} {batch:5d} {'on' if cfg != 1.0 else 'off':>4} {rate:9.1f}"
                      + (f" {peer:6.0f} {rate / peer:6.2f}x" if peer else ""), flush=True)


if __name__ == "__main__":
    main()
