"""Image tokens per second of the sampler: KV cache vs recomputing the sequence, compiled vs eager, XLA.

`python -m bench.sampling_speed [--preset small] [--batches 1,16] [--lengths 64,256] [--steps 16]`

Models of the preset's shape with random weights (speed does not depend on training): 64 image
tokens = 32 x 32 pictures (8 x 8 grid), 256 = 64 x 64 (16 x 16). Guidance on (cfg 3, so each step
runs 2 x batch rows), as `generate` runs by default. Every variant except the whole-loop ones
times `--steps` decoding steps after a warm-up; the per-step cost does not depend on the
position (the cache and the recomputed sequence have fixed lengths), so tokens/s = batch x steps / time.

Variants:
- cache, XLA steps: `TokenSampler.generate`'s path (one XLA-compiled function per step, Python loop).
- cache, compiled: the same without XLA (one tf.function per step).
- cache, eager: the same step functions without tf.function.
- cache, while loop: `generate_in_graph` in one tf.function (the export path), whole N tokens.
- cache, while loop + XLA: the same with jit_compile=True.
- recompute, compiled: no cache; every step runs the full sequence (one tf.function per step).
"""

import argparse
import time

import keras_dalle  # noqa: F401
import keras
import tensorflow as tf

from keras_dalle import presets
from keras_dalle.models.dalle import KerasDALLE
from keras_dalle.models.image_tokenizer import ImageTokenizer
from keras_dalle.layers.masks import padding_mask
from keras_dalle.sampling import guided, one_hot, sample_token

CFG = 3.0


def build_model(preset, image_tokens):
    grid = int(round(image_tokens**0.5))
    tokenizer_config = presets.preset(preset, "image_tokenizer")
    tokenizer_config["image_size"] = grid * tokenizer_config["downsample_factor"]
    tokenizer = ImageTokenizer(**tokenizer_config)
    tokenizer.build((None, tokenizer_config["image_size"], tokenizer_config["image_size"], 3))
    model = KerasDALLE(tokenizer, **{**presets.preset(preset, "text_to_image"), "adversarial_weight": 0.0})
    model.build(None)
    return model


def _inputs(model, batch):
    ids = model.text_tokenizer(tf.constant(["a red circle in the top left"] * batch))
    noise = tf.random.uniform((batch, model.image_length), seed=0)
    settings = (tf.constant(1.0), tf.constant(0), tf.constant(1.0), tf.constant(CFG))
    return ids, noise, settings


def _timed(function, repeats=1):
    function()  # warm-up: tracing and first allocations
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def cached_steps(model, batch, steps, compiled, jit=False):
    sampler = model.sampler
    ids, noise, settings = _inputs(model, batch)
    start_fn = lambda: sampler.start(ids, noise, *settings, True)  # noqa: E731
    advance_fn = lambda step, state: sampler.advance(step, state, noise, *settings, True)  # noqa: E731
    if compiled:
        start_fn, advance_fn = tf.function(start_fn, jit_compile=jit), tf.function(advance_fn, jit_compile=jit)
    state = start_fn()

    def run():
        current = state
        for step in range(1, steps + 1):
            current = advance_fn(tf.constant(step), current)
        return current[1].numpy()

    return batch * steps / _timed(run)


def whole_loop(model, batch, jit):
    ids, noise, settings = _inputs(model, batch)
    loop = tf.function(lambda: model.sampler.generate_in_graph(ids, noise, *settings, guidance=True), jit_compile=jit)
    return batch * model.image_length / _timed(lambda: loop().numpy())


def recompute_steps(model, batch, steps):
    ids, noise, (temperature, top_k, top_p, cfg) = _inputs(model, batch)
    both = tf.concat([ids, model.text_tokenizer.null_ids(batch)], axis=0)
    text_states, text_mask = model.text_encoder(both), padding_mask(both)

    @tf.function
    def step_fn(tokens, step):
        feed = tf.concat([tokens, tokens], axis=0)
        logits = tf.gather(model.generator(text_states, text_mask, feed), step, axis=1)  # full sequence, one position used
        token = sample_token(guided(logits, cfg, True), tf.gather(noise, step, axis=1), temperature, top_k, top_p)
        return tokens + one_hot(step, model.image_length)[None, :] * token[:, None]

    def run():
        tokens = tf.zeros((batch, model.image_length), tf.int32)
        for step in range(steps):
            tokens = step_fn(tokens, tf.constant(step))
        return tokens.numpy()

    return batch * steps / _timed(run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--lengths", default="64,256")
    parser.add_argument("--steps", type=int, default=16, help="decoding steps timed per variant")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rows = []
    for length in [int(x) for x in args.lengths.split(",")]:
        model = build_model(args.preset, length)
        for batch in [int(x) for x in args.batches.split(",")]:
            row = {"tokens": length, "batch": batch}
            row["cache XLA steps"] = cached_steps(model, batch, args.steps, compiled=True, jit=True)
            row["cache compiled"] = cached_steps(model, batch, args.steps, compiled=True)
            row["cache eager"] = cached_steps(model, batch, min(args.steps, 8), compiled=False)
            row["cache while"] = whole_loop(model, batch, jit=False)
            row["cache while+XLA"] = whole_loop(model, batch, jit=True)
            row["recompute compiled"] = recompute_steps(model, batch, min(args.steps, 8))
            rows.append(row)
            print(row, flush=True)
    names = ["cache XLA steps", "cache compiled", "cache eager", "cache while", "cache while+XLA", "recompute compiled"]
    print(f"\nimage tokens per second, preset {args.preset}, guidance on (2 x batch rows per step), "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads")
    print(f"{'tokens':>6} {'batch':>5} " + " ".join(f"{name:>18}" for name in names)
          + f" {'generate / recompute':>20} {'compiled / recompute':>20} {'XLA steps / compiled':>20}")
    for row in rows:
        print(f"{row['tokens']:6d} {row['batch']:5d} " + " ".join(f"{row[name]:18.1f}" for name in names)
              + f" {row['cache XLA steps'] / row['recompute compiled']:19.1f}x {row['cache compiled'] / row['recompute compiled']:19.1f}x"
              + f" {row['cache XLA steps'] / row['cache compiled']:19.2f}x")


if __name__ == "__main__":
    main()
