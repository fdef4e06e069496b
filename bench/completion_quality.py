"""Image completion quality: does continuing a real picture keep it true to its caption?

    python bench/completion_quality.py [--model M.keras] [--per-group 100] [--keep-rows 0 2 4 6]

Real pictures of the shapes generator (seed 2025, held-out color-shape pairs included, so no
training picture), `--per-group` of each evaluation group (one-object, full, two-object,
held-out). Each picture is completed under its own caption, keeping the top R rows of its token
grid (R = 0: plain generation from the caption alone, the baseline), one picture per caption,
seed i for picture i, the model's default sampling settings. The caption checker grades every
result; the table shows, per group, the fraction with every stated attribute right. The
goal: completing the top half keeps the accuracy of full generation or better. Writes
bench/results/completion_quality.json.
"""

import argparse
import json
import pathlib

import numpy as np

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.caption_checker import check_caption, summarize
from keras_dalle.progress import progress_bar

ROOT = pathlib.Path(__file__).resolve().parent.parent
PICTURE_SEED = 2025
CHUNK = 32


def real_pictures(per_group, canvas_size):
    """({group: (pictures uint8 [n, S, S, 3], captions)}) from samples 0, 1, ... of `PICTURE_SEED`."""
    found = {group: ([], []) for group in shapes.EVAL_GROUPS}
    index = 0
    while any(len(captions) < per_group for _, captions in found.values()):
        sample = shapes.make_sample(PICTURE_SEED, index, canvas_size, include_held_out=True)
        pictures, captions = found[shapes.eval_prompt(sample.caption).group]
        if len(captions) < per_group:
            pictures.append(sample.image)
            captions.append(sample.caption)
        index += 1
    return {group: (np.stack(pictures), captions) for group, (pictures, captions) in found.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument("--per-group", type=int, default=100)
    parser.add_argument("--keep-rows", type=int, nargs="+", default=[0, 2, 4, 6], help="0 = plain generation")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "completion_quality.json"))
    args = parser.parse_args()

    model = pretrained.load_model(args.model)
    groups = real_pictures(args.per_group, model.image_size)
    rows = {}
    total = len(args.keep_rows) * sum(len(captions) for _, captions in groups.values())
    with progress_bar(total=total, desc="completing", unit="img") as bar:
        for keep_rows in args.keep_rows:
            results = {}
            for group, (pictures, captions) in groups.items():
                checked = []
                for start in range(0, len(captions), CHUNK):
                    completion = {"image": pictures[start : start + CHUNK], "keep_rows": keep_rows} if keep_rows else {}
                    drawn = model.generate(captions[start : start + CHUNK], seed=start, **completion)
                    checked += [check_caption(picture, caption) for picture, caption in zip(drawn, captions[start : start + CHUNK])]
                    bar.update(len(drawn))
                results[group] = {"pictures": len(checked), **summarize(checked)}
            rows[keep_rows] = results

    print()
    print(f"{args.per_group} real pictures per group (seed {PICTURE_SEED}), each completed under its own caption; "
          f"fraction with every stated attribute right")
    print(f"{'kept rows':>22} " + " ".join(f"{g:>11}" for g in shapes.EVAL_GROUPS))
    for keep_rows, results in rows.items():
        label = "0 (plain generation)" if keep_rows == 0 else f"{keep_rows} of {model.grid_size}"
        print(f"{label:>22} " + " ".join(f"{results[g]['all']:11.1%}" for g in shapes.EVAL_GROUPS))
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": args.model or str(pretrained.DEFAULT_MODEL), "picture_seed": PICTURE_SEED,
                                "per_group": args.per_group, "rows": {str(k): v for k, v in rows.items()}}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
