"""Generation quality: caption-checker accuracy of generated pictures on the evaluation prompts.

    python bench/generation_quality.py [NAME=M.keras ...] [--num 4] [--cfg-scales 3 1]

For each model (default: the shipped one), 4 pictures per prompt (seeds 0-3 of each prompt's
run) of the 400 built-in evaluation prompts, with the model's cfg_scale and with cfg_scale 1
(guidance off), and any other sampling overrides given. Targets, all stated attributes right:
>= 90% of one-object pictures, >= 85% of "full" ones (size, color, shape and position stated),
>= 60% two-object, >= 70% of pictures for prompts with held-out pairs. Prints one table of
groups and one of attributes per group; writes the rows to --json (default
bench/results/generation_quality.json).
"""

import argparse
import json
import pathlib

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.caption_checker import ATTRIBUTES
from keras_dalle.evaluation.generation import evaluate_model

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = {"one_object": 0.90, "full": 0.85, "two_object": 0.60, "held_out": 0.70}
GROUPS = ("one_object", "full", "two_object", "held_out", "overall")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["shipped="], help="NAME=PATH (empty PATH: the shipped model)")
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfg-scales", type=float, nargs="+", default=None, help="default: the model's, then 1")
    parser.add_argument("--temperature", type=float, default=None, help="default: the model's")
    parser.add_argument("--top-k", type=int, default=None, help="default: the model's")
    parser.add_argument("--top-p", type=float, default=None, help="default: the model's")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "generation_quality.json"))
    args = parser.parse_args()

    models = dict(item.split("=", 1) for item in args.models)
    prompts = shapes.evaluation_prompts()
    rows = []
    for name, path in models.items():
        model = pretrained.load_model(path or None)
        overrides = {k: v for k, v in (("temperature", args.temperature), ("top_k", args.top_k), ("top_p", args.top_p)) if v is not None}
        for cfg_scale in args.cfg_scales or sorted({model.cfg_scale, 1.0}, reverse=True):
            settings = {**model.sampling_defaults(), **overrides, "cfg_scale": cfg_scale}
            summary = evaluate_model(model, prompts, num_images=args.num, seed=args.seed, **settings)
            rows.append({"model": name, "path": str(path or pretrained.DEFAULT_MODEL), **settings,
                         "adversarial_weight": model.adversarial_weight, **{g: summary[g] for g in summary}})
    print()
    print(f"{len(prompts)} evaluation prompts x {args.num} pictures, seed {args.seed}; fraction of pictures with every stated attribute right")
    setting = lambda row: f"T{row['temperature']:g} k{row['top_k']} p{row['top_p']:g} cfg{row['cfg_scale']:g}"  # noqa: E731
    print(f"{'model':12} {'lambda':>6} {'sampling':>22} " + " ".join(f"{g:>11}" for g in GROUPS))
    for row in rows:
        print(f"{row['model']:12} {row['adversarial_weight']:6g} {setting(row):>22} " + " ".join(f"{row[g]['all']:11.1%}" for g in GROUPS))
    print("targets: " + "  ".join(f"{g} >= {t:.0%}" for g, t in TARGETS.items()))
    print()
    print("per attribute (fraction right among pictures whose prompt states it)")
    print(f"{'model':12} {'sampling':>22} {'group':>11} " + " ".join(f"{a:>9}" for a in ATTRIBUTES))
    for row in rows:
        for group in GROUPS:
            cells = " ".join(f"{row[group][a]:9.1%}" if a in row[group] else f"{'-':>9}" for a in ATTRIBUTES)
            print(f"{row['model']:12} {setting(row):>22} {group:>11} {cells}")
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
