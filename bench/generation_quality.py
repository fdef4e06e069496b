"""Generation quality: caption-checker accuracy of generated pictures on the evaluation prompts.

    python bench/generation_quality.py [NAME=M.keras ...] [--num 4] [--cfg-scales 3 1]

For each model (default: the shipped one), 4 pictures per prompt (fixed seeds) of the 300
built-in evaluation prompts, with the model's cfg_scale and with cfg_scale 1 (guidance off). Targets (issue 4), all
stated attributes right: >= 90% of one-object pictures, >= 60% two-object, >= 70% of
pictures for prompts with held-out pairs. Writes the rows to --json (default bench/results/generation_quality.json).
"""

import argparse
import json
import pathlib

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = {"one_object": 0.90, "two_object": 0.60, "held_out": 0.70}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["shipped="], help="NAME=PATH (empty PATH: the shipped model)")
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfg-scales", type=float, nargs="+", default=None, help="default: the model's, then 1")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "generation_quality.json"))
    args = parser.parse_args()

    models = dict(item.split("=", 1) for item in args.models)
    prompts = shapes.evaluation_prompts()
    rows = []
    for name, path in models.items():
        model = pretrained.load_model(path or None)
        for cfg_scale in args.cfg_scales or sorted({model.cfg_scale, 1.0}, reverse=True):
            summary = evaluate_model(model, prompts, num_images=args.num, seed=args.seed, cfg_scale=cfg_scale)
            rows.append({"model": name, "path": str(path or pretrained.DEFAULT_MODEL), "cfg_scale": cfg_scale,
                         "adversarial_weight": model.adversarial_weight, **{g: summary[g] for g in summary}})
    print()
    print(f"{len(prompts)} evaluation prompts x {args.num} pictures, seed {args.seed}; fraction of pictures with every stated attribute right")
    print(f"{'model':12} {'lambda':>6} {'cfg':>4} {'one-object':>11} {'two-object':>11} {'held-out':>9} {'overall':>8}")
    for row in rows:
        cells = " ".join(f"{row[g]['all']:{w}.1%}" for g, w in (("one_object", 11), ("two_object", 11), ("held_out", 9), ("overall", 8)))
        print(f"{row['model']:12} {row['adversarial_weight']:6g} {row['cfg_scale']:4g} {cells}")
    print("targets:      " + "  ".join(f"{g} >= {t:.0%}" for g, t in TARGETS.items()))
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
