"""Image tokens per second of the sampler, against the whole-loop XLA rate, this machine's matmul peak
and the best peer.

`python -m bench.sampling_speed [--shapes peer,small-64,small-256] [--batches 1,16] [--repeats 3] [--top-k 0]
[--prompt "a red circle in the top left"]`

Models with random weights (speed does not depend on training), one per shape:
- `peer`: the configuration DALLE-pytorch was measured at (generator width 256, 4 layers, 8 heads
  of 32, 64 text + 64 image tokens);
- `small-64`, `small-256`: the `small` preset's generator with 64 image tokens (32 x 32 pictures,
  8 x 8 grid) and 256 (64 x 64 pictures, 16 x 16 grid).
Each row is one batch size with guidance off (cfg 1) or on (cfg 3: 2 x batch rows per step), at
temperature 1, top-p 1 and `--top-k` (default 0: no filter, drawn in code order without a sort
in `generate` and loop+XLA since 2026-11-30; every run before sorted all 512 logits per step, as
the export loop still does; 16, the shipped default, sorts only the 64 largest in `generate` and
loop+XLA; 256, what DALLE-pytorch's default `filter_thres=0.5` keeps of 512 codes, sorts all
of them).

Variants (each times whole calls, prefill included: tokens/s = batch x N / seconds, best of
`--repeats` after a warm-up; the variants of a row are timed in turn, one call each per round,
so a slow spell of this shared machine falls on all of them and their ratios hold):
- user path: `KerasDALLE.generate`, what users call: the prompt tokenized, noise from the seeds,
  the sampler, the tokens decoded into pictures, uint8 numpy out, a progress callback
  (`generate_rate.user_path_call`). The peer column compares it with DALLE-pytorch's
  `generate_images`, which also returns pictures (decoded by its VAE).
- generate: `TokenSampler.generate`, what the API and the CLI run: the XLA-compiled token loop in
  whole rows of the token grid per call, progress reported after each (`TokenSampler.chunk_tokens`:
  one call at batch 1, up to 8 for big batches), the key/value cache in variables between calls.
- per token: the same with one compiled call per token (`tokens_per_call=1`; the loop `generate`
  ran before: it returned to Python after every token).
- loop+XLA: the whole sequence in one XLA-compiled `generate_in_graph` (no progress), with the
  sort `generate` picks (`sampling.sort_for`) and the text positions it runs
  (`TokenSampler.prompt_positions`: the prompt's, rounded up to 16, where `generate` makes a
  picture in several calls; all 64 where one call makes it): the bound `generate` is measured against.
- export loop: `generate_in_graph` as the exports run it (one tf.function, no XLA, all L text
  positions).
- recompute: no cache, the whole sequence per token (a reference; 8 tokens timed).

Every row's prompt is `--prompt` (28 bytes by default, so at batch 16 `generate` prefills 32 of the
64 text positions; a prompt of 49 bytes or more makes it prefill all 64, as DALLE-pytorch always does).
`bench/generate_rate.py` times `generate` alone at these shapes, with a file that also runs against
older checkouts (for before / after tables).

"prefill ms" times `TokenSampler.start` alone (XLA-compiled: the text encoder and the generator over
the prompt's text positions as `generate` cuts them, the first token), the part of every row's
time that does not depend on the image length.

FLOP/token counts the float ops of one compiled decoding step (TensorFlow's profiler, guidance rows
included) per picture; "of peak" is generate's FLOP/s over tf.matmul 2048 x 2048 fp32 measured in the
same run. At batch 1 a step is a row of matrix-vector products, bound by memory and per-op overhead,
so a small fraction of the matmul peak is expected there.
"""

import argparse

import keras_dalle  # noqa: F401
import keras
import tensorflow as tf

from bench import generate_rate as generate_alone
from bench.generate_rate import (
    CFG, PEER_TOKENS_PER_SECOND, PROMPT as DEFAULT_PROMPT, SHAPES, best_seconds, build_model, inputs, interleaved_best_seconds,
)
from bench.train_throughput import count_flops, matmul_peak
from keras_dalle.sampling import SETTING_DTYPES, sort_for
from keras_dalle.sampling import reference

TOP_K = 0  # set by --top-k
PROMPT = DEFAULT_PROMPT  # set by --prompt


def _inputs(model, batch, cfg):
    return inputs(model, batch, cfg, PROMPT, TOP_K)


def _generate_positions(model, ids, batch, cfg):
    """The text positions `generate` runs for these ids (guidance doubles the rows)."""
    return model.sampler.prompt_positions(ids, batch * (2 if cfg != 1.0 else 1))


def _setting_tensors(settings):
    """Settings as tensors, as `generate` and the exports take them: as Python constants XLA would
    fold them into the graph and time a loop specialised to one setting."""
    return [tf.constant(value, dtype) for value, dtype in zip(settings, SETTING_DTYPES.values())]


def generate_call(model, batch, cfg, tokens_per_call):
    """One `generate` call (`tokens_per_call` None: the sampler's own chunks)."""
    call, sampler = generate_alone.generate_call(model, batch, cfg, PROMPT, TOP_K), model.sampler

    def run():
        default, sampler.tokens_per_call = sampler.tokens_per_call, tokens_per_call or sampler.tokens_per_call
        try:
            return call()
        finally:
            sampler.tokens_per_call = default

    return run


def whole_loop_call(model, batch, cfg, jit):
    """One `generate_in_graph` call in one tf.function, with XLA (the sort and text positions `generate`
    runs) or without (as the exports run it)."""
    ids, noise, settings = _inputs(model, batch, cfg)
    if jit:  # the text positions `generate` runs; the exports take all L
        ids = ids[:, : _generate_positions(model, ids, batch, cfg)]
    settings = _setting_tensors(settings)
    loop = tf.function(
        lambda *args: model.sampler.generate_in_graph(
            *args, guidance=cfg != 1.0, sort=sort_for(TOP_K, 1.0) if jit else "full"
        ), jit_compile=jit
    )
    return lambda: loop(ids, noise, *settings).numpy()


def recompute_call(model, batch, cfg, steps):
    """`steps` tokens with no cache, the whole sequence per token."""
    ids, noise, settings = _inputs(model, batch, cfg)
    guidance = cfg != 1.0
    sampler = model.sampler
    text_states, text_mask = sampler.encode_prompts(ids, guidance)
    step_fn = tf.function(
        lambda tokens, step: reference.recompute_step(sampler, step, tokens, text_states, text_mask, noise, *settings, guidance)
    )

    def run():
        tokens = tf.zeros((batch, model.image_length), tf.int32)
        for step in range(steps):
            tokens = step_fn(tokens, tf.constant(step))
        return tokens.numpy()

    return run


def prefill_seconds(model, batch, cfg, repeats):
    """Seconds of one XLA-compiled `TokenSampler.start` (prefill and first token), best of `repeats`."""
    ids, noise, settings = _inputs(model, batch, cfg)
    ids = ids[:, : _generate_positions(model, ids, batch, cfg)]
    settings = _setting_tensors(settings)
    start = tf.function(
        lambda *args: model.sampler.start(*args, guidance=cfg != 1.0, sort=sort_for(TOP_K, 1.0))[1], jit_compile=True
    )
    return best_seconds(lambda: start(ids, noise, *settings).numpy(), repeats)


def flops_per_token(model, batch, cfg):
    """Float ops of one decoding step (all rows, guidance included) per picture."""
    ids, noise, (t, k, p, c) = _inputs(model, batch, cfg)
    guidance = cfg != 1.0
    state = model.sampler.start(ids, noise, t, k, p, c, guidance)
    step = tf.function(lambda s: model.sampler.advance(tf.constant(5), s, noise, t, k, p, c, guidance))
    return count_flops(step.get_concrete_function(state)) / batch


VARIANTS = ("user path", "generate", "per token", "loop+XLA", "export loop", "recompute")


RECOMPUTE_STEPS = 8


def measure_row(model, batch, cfg, repeats):
    """{variant: image tokens per second} for one batch size and guidance setting, timed interleaved."""
    calls = {
        "user path": generate_alone.user_path_call(model, batch, cfg, PROMPT, TOP_K),
        "generate": generate_call(model, batch, cfg, None),
        "per token": generate_call(model, batch, cfg, 1),
        "loop+XLA": whole_loop_call(model, batch, cfg, True),
        "export loop": whole_loop_call(model, batch, cfg, False),
        "recompute": recompute_call(model, batch, cfg, RECOMPUTE_STEPS),
    }
    seconds = interleaved_best_seconds(calls, repeats)
    tokens = {name: batch * (RECOMPUTE_STEPS if name == "recompute" else model.image_length) for name in calls}
    return {name: tokens[name] / seconds[name] for name in VARIANTS}


def main():
    global TOP_K, PROMPT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="peer,small-64,small-256", help=f"comma-separated, from {list(SHAPES)}")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per variant (the best counts)")
    parser.add_argument("--top-k", type=int, default=0,
                        help="0: no filter; 16: the shipped default; 256: DALLE-pytorch's default filter")
    parser.add_argument("--prompt", default=PROMPT,
                        help="every row's prompt; its length sets generate's prefill length (`sampling.prefill_length`)")
    args = parser.parse_args()
    TOP_K, PROMPT = args.top_k, args.prompt
    keras.utils.set_random_seed(0)
    peak = matmul_peak()
    rows = []
    for shape in args.shapes.split(","):
        model = build_model(shape)
        for batch in [int(x) for x in args.batches.split(",")]:
            for cfg in (1.0, CFG):
                row = {"shape": shape, "batch": batch, "guidance": cfg != 1.0, **measure_row(model, batch, cfg, args.repeats)}
                row["flops_per_token"] = flops_per_token(model, batch, cfg)
                row["prefill_ms"] = 1e3 * prefill_seconds(model, batch, cfg, args.repeats)
                rows.append(row)
                print(row, flush=True)
    print(f"\nimage tokens per second at top-k {TOP_K}, prompt {PROMPT!r} ({len(PROMPT.encode())} bytes) "
          f"({tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads; "
          f"fp32 matmul peak measured now: {peak / 1e9:.0f} GFLOP/s)")
    header = (f"{'shape':>9} {'batch':>5} {'cfg':>4} " + " ".join(f"{name:>11}" for name in VARIANTS)
              + f" {'gen/loop':>8} {'exp/gen':>7} {'gen/token':>9} {'prefill ms':>10} {'MFLOP/tok':>9} {'of peak':>7} {'peer':>6}"
              + f" {'user/peer':>9}")
    print(header)
    for row in rows:
        peer = PEER_TOKENS_PER_SECOND.get((row["batch"], row["guidance"])) if row["shape"] == "peer" else None
        print(f"{row['shape']:>9} {row['batch']:5d} {'on' if row['guidance'] else 'off':>4} "
              + " ".join(f"{row[name]:11.1f}" for name in VARIANTS)
              + f" {row['generate'] / row['loop+XLA']:7.0%} {row['export loop'] / row['generate']:7.0%}"
              + f" {row['generate'] / row['per token']:8.2f}x {row['prefill_ms']:10.1f}"
              + f" {row['flops_per_token'] / 1e6:9.2f} {row['generate'] * row['flops_per_token'] / peak:7.2%}"
              + (f" {peer:6.0f} {row['user path'] / peer:8.2f}x" if peer else f" {'':>6} {'':>9}"))


if __name__ == "__main__":
    main()
