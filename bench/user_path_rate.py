"""What users call against the sampler alone: `KerasDALLE.generate` (tokenizing, noise from seeds,
the sampler, decoding, numpy pictures out, a progress callback) as a share of `sampler.generate`
(image tokens only, from prepared ids and noise), at the peer shape and the shipped `small` shape.

`python -m bench.user_path_rate [--shapes peer,small-64] [--batches 1,16] [--top-ks 16,0] [--repeats 5]`

Random weights (speed does not depend on training). The two calls of a row are timed in turn,
best of `--repeats` after a warm-up (`generate_rate.interleaved_best_seconds`); a row prints both
rates in image tokens per second and the user path's share. Guidance off (cfg 1) and on (cfg 3).
It uses only `generate(prompts, num_images, temperature, top_k, top_p, cfg_scale, seed, on_token)`
and `sampler.generate`, which older checkouts have too: `PYTHONPATH=OLD python -m
bench.user_path_rate` times one.
"""

import argparse

from bench.generate_rate import CFG, PROMPT, build_model, generate_call, interleaved_best_seconds, user_path_call


def row(model, batch, cfg, top_k, repeats):
    """(sampler tokens/s, generate tokens/s) for `batch` pictures of one prompt."""
    seconds = interleaved_best_seconds(
        {"sampler": generate_call(model, batch, cfg, PROMPT, top_k), "generate": user_path_call(model, batch, cfg, PROMPT, top_k)},
        repeats,
    )
    tokens = batch * model.image_length
    return tokens / seconds["sampler"], tokens / seconds["generate"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="peer,small-64")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--top-ks", default="16,0", help="top-k filters to time (16: the shipped default; 0: off)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'shape':>9} {'batch':>5} {'cfg':>4} {'top-k':>5} {'sampler tok/s':>13} {'generate tok/s':>14} {'share':>6}")
    for shape in args.shapes.split(","):
        model = build_model(shape)
        for batch in [int(b) for b in args.batches.split(",")]:
            for cfg in (1.0, CFG):
                for top_k in [int(k) for k in args.top_ks.split(",")]:
                    sampler, user = row(model, batch, cfg, top_k, args.repeats)
                    print(f"{shape:>9} {batch:5d} {cfg:4g} {top_k:5d} {sampler:13.0f} {user:14.0f} {user / sampler:6.2f}", flush=True)


if __name__ == "__main__":
    main()
