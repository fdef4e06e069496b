"""Reranked generation: caption-checker accuracy of the best of N candidates, and the time per picture.

    python bench/reranking.py --scorer runs/scorer/scorer.keras [--model M.keras] [--candidates 1 2 4 8]
        [--per-group 100] [--num 2]

For each N, the model draws N candidates for every picture of the evaluation prompts (the first
`--per-group` of each group, `--num` pictures each, the model's default sampling settings),
keeps the one the scorer rates highest, and the caption checker grades the kept pictures.
N = 1 is plain generation. Goals with 8 candidates: one-object >= 97%, full >= 95%,
two-object >= 85%, held-out pairs >= 85%. Time per picture includes the candidates and scoring,
measured in this run on this machine.
"""

import argparse
import collections
import json
import pathlib
import time

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model
from keras_dalle.models.scorer import ContrastiveScorer

ROOT = pathlib.Path(__file__).resolve().parent.parent
GROUPS = ("one_object", "full", "two_object", "held_out", "overall")
GOALS = {"one_object": 0.97, "full": 0.95, "two_object": 0.85, "held_out": 0.85}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", required=True)
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--candidates", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--per-group", type=int, default=100)
    parser.add_argument("--num", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "reranking.json"))
    args = parser.parse_args()

    model = pretrained.load_model(args.model)
    scorer = pretrained.load_keras_file(args.scorer, expected=ContrastiveScorer)
    by_group = collections.defaultdict(list)
    for prompt in shapes.evaluation_prompts():
        by_group[prompt.group].append(prompt)
    prompts = [prompt for group in by_group.values() for prompt in group[: args.per_group]]
    rows = []
    for candidates in args.candidates:
        started = time.perf_counter()
        summary = evaluate_model(model, prompts, num_images=args.num, seed=args.seed, candidates=candidates, scorer=scorer)
        seconds = (time.perf_counter() - started) / (len(prompts) * args.num)
        rows.append({"candidates": candidates, "seconds_per_picture": seconds, **{g: summary[g]["all"] for g in GROUPS}})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(prompts)} evaluation prompts x {args.num} pictures; fraction with every stated attribute right")
    print(f"{'N':>3} " + " ".join(f"{g:>11}" for g in GROUPS) + f" {'s/picture':>10}")
    for row in rows:
        print(f"{row['candidates']:3d} " + " ".join(f"{row[g]:11.1%}" for g in GROUPS) + f" {row['seconds_per_picture']:10.3f}")
    print("goals at N = 8: " + "  ".join(f"{g} >= {v:.0%}" for g, v in GOALS.items()))
    pathlib.Path(args.json).write_text(json.dumps({"scorer": args.scorer, "model": args.model or "shipped", "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
