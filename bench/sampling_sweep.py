"""Sampling settings sweep on tuning prompts (not the evaluation set), to choose a model's defaults.

    python bench/sampling_sweep.py --model M.keras [--per-group 30] [--num 2] [--temperatures 1 0.7]
        [--top-ks 0 16] [--cfg-scales 1 3]

Tuning prompts are `shapes.tuning_prompts()`: drawn like the evaluation prompts (one-object,
two-object, held-out pairs, "full") from another seed, with every evaluation prompt left out,
so choosing defaults here does not tune on `keras-dalle evaluate`'s prompts. Prints the
fraction of pictures with every stated attribute right per setting and group.
"""

import argparse
import itertools
import json

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model

GROUPS = ("one_object", "full", "two_object", "held_out", "overall")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--per-group", type=int, default=30, help="tuning prompts per group")
    parser.add_argument("--num", type=int, default=2, help="pictures per prompt")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7])
    parser.add_argument("--top-ks", type=int, nargs="+", default=[0, 16])
    parser.add_argument("--top-ps", type=float, nargs="+", default=[1.0])
    parser.add_argument("--cfg-scales", type=float, nargs="+", default=[1.0, 3.0])
    args = parser.parse_args()
    model = pretrained.load_model(args.model)
    prompts = shapes.tuning_prompts(args.per_group)
    rows = []
    print(f"{len(prompts)} tuning prompts x {args.num} pictures")
    print(f"{'temperature':>11} {'top_k':>5} {'top_p':>5} {'cfg':>4} " + " ".join(f"{g:>10}" for g in GROUPS))
    for temperature, top_k, top_p, cfg_scale in itertools.product(args.temperatures, args.top_ks, args.top_ps, args.cfg_scales):
        summary = evaluate_model(
            model, prompts, num_images=args.num, seed=1, progress=False, temperature=temperature, top_k=top_k,
            top_p=top_p, cfg_scale=cfg_scale,
        )
        row = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "cfg_scale": cfg_scale,
               **{g: summary[g]["all"] for g in summary}}
        rows.append(row)
        print(f"{temperature:11g} {top_k:5d} {top_p:5g} {cfg_scale:4g} " + " ".join(f"{row.get(g, 0):10.1%}" for g in GROUPS),
              flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
