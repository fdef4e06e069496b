"""Sampling settings sweep on tuning prompts (not the evaluation set), to choose a model's defaults.

    python bench/sampling_sweep.py --model M.keras [--prompts 120] [--temperatures 1 0.7] [--top-ks 0 16] [--cfg-scales 1 3]

Tuning prompts are the shapes generator's own captions (seed 777, held-out pairs excluded), so
choosing defaults here does not tune on `keras-dalle evaluate`'s prompts. Prints the fraction of
pictures with every stated attribute right per setting.
"""

import argparse
import itertools
import json

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--prompts", type=int, default=120)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7])
    parser.add_argument("--top-ks", type=int, nargs="+", default=[0, 16])
    parser.add_argument("--cfg-scales", type=float, nargs="+", default=[1.0, 3.0])
    args = parser.parse_args()
    model = pretrained.load_model(args.model)
    prompts = [shapes.eval_prompt(shapes.make_sample(777, i).caption) for i in range(args.prompts)]
    rows = []
    print(f"{'temperature':>11} {'top_k':>5} {'cfg':>4} {'one-object':>10} {'two-object':>10} {'overall':>8}")
    for temperature, top_k, cfg_scale in itertools.product(args.temperatures, args.top_ks, args.cfg_scales):
        summary = evaluate_model(
            model, prompts, num_images=1, seed=1, progress=False, temperature=temperature, top_k=top_k, cfg_scale=cfg_scale
        )
        row = {"temperature": temperature, "top_k": top_k, "cfg_scale": cfg_scale, **{g: summary[g]["all"] for g in summary}}
        rows.append(row)
        print(
            f"{temperature:11g} {top_k:5d} {cfg_scale:4g} {row.get('one_object', 0):10.1%} "
            f"{row.get('two_object', 0):10.1%} {row['overall']:8.1%}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
