"""Does the scorer-based grade order checkpoints as the caption checker does? Spearman rank agreement.

    python -m bench.rank_agreement --scorer runs/scorer_a/scorer.keras [--epochs 8] [--steps-per-epoch 150]
        [--per-group 50] [--out runs/rank_agreement]
    python -m bench.rank_agreement --scorer runs/scorer_a/scorer.keras --models 7k=A.keras 12k=B.keras ...
        [--per-group 100] [--num 2]

`keras-dalle evaluate --data DIR --scorer S` grades a model on data the caption checker cannot read;
this checks that grade against the checker where both apply. One training run of the `small`
generator on the shapes source (the shipped model's image tokenizer, frozen), and after each epoch
(a checkpoint) one picture per evaluation prompt (`--per-group` of each group, seed 0), graded two
ways: the caption checker (all stated attributes right) and, with the grading scorer,
CLIP-R-precision (own caption against every one-attribute distractor) and CLIP score. The rank
correlation (Spearman) of the checkpoints' checker accuracy with each scorer grade is the number;
goal >= 0.8. Grade with a scorer other than the one that reranks the shipped model.

Early checkpoints of one run are far apart in quality. `--models NAME=PATH ...` is the harder test:
it trains nothing and grades saved text-to-image models that differ by a few points (for example
the shipped run's checkpoints), `--num` pictures per prompt, with each model's defaults.

Writes bench/results/rank_agreement.json and docs/rank_agreement.png (with `--models`:
bench/results/rank_agreement_models.json, no chart).
"""

import argparse
import json
import pathlib

import keras
import numpy as np

from keras_dalle import pretrained
from keras_dalle.data import shapes
from keras_dalle.evaluation.caption_checker import check_caption
from keras_dalle.evaluation.contrastive import clip_score, distractor_captions, r_precision
from keras_dalle.evaluation.generation import generate_in_chunks
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.pretrained import load_keras_file
from keras_dalle.training.stages import train_text_to_image
from keras_dalle.visualize import line_chart

ROOT = pathlib.Path(__file__).resolve().parent.parent


def average_ranks(values):
    """Ranks 1..n of values, ties sharing their mean rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of two equally long sequences (Pearson's r of their average ranks)."""
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def grade(pictures, texts, scorer, distractors):
    """Checker accuracy, CLIP-R-precision and CLIP score of pictures [P] drawn for texts [P]."""
    embeddings = scorer.embed_images(pictures)
    return {
        "checker_accuracy": float(np.mean([check_caption(p, t).all_hold for p, t in zip(pictures, texts)])),
        "r_precision": r_precision(scorer, embeddings, texts, distractors),
        "clip_score": clip_score(embeddings, scorer.embed_text(texts)),
    }


class CheckpointGrades(keras.callbacks.Callback):
    """After each epoch: pictures for `prompts`, graded by the caption checker and by `scorer`."""

    def __init__(self, prompts, scorer, steps_per_epoch):
        super().__init__()
        self.prompts = list(prompts)
        self.scorer = scorer
        self.steps_per_epoch = steps_per_epoch
        self.distractors = distractor_captions([p.prompt for p in self.prompts])
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        texts = [p.prompt for p in self.prompts]
        pictures = np.concatenate([chunk for _, chunk in generate_in_chunks(self.model, texts, num_images=1, progress=False)])
        row = {"step": (epoch + 1) * self.steps_per_epoch, **grade(pictures, texts, self.scorer, self.distractors)}
        self.rows.append(row)
        print(f"\n{row}", flush=True)


def grade_models(models, prompts, scorer, num_images):
    """One row per NAME=PATH in `models`: `num_images` pictures per prompt, each model's defaults, graded."""
    texts = [p.prompt for p in prompts]
    repeated = [t for t in texts for _ in range(num_images)]
    distractors = distractor_captions(repeated)
    rows = []
    for name, path in models:
        print(f"{name}: {path}", flush=True)
        model = pretrained.load_model(path)
        pictures = np.concatenate([chunk for _, chunk in generate_in_chunks(model, texts, num_images=num_images)])
        rows.append({"name": name, "path": path, **grade(pictures, repeated, scorer, distractors)})
        print(rows[-1], flush=True)
    return rows


def train_and_grade(args, prompts, scorer):
    """One row per epoch of a fresh `small` run on the shapes source, graded as it trains."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_path = out / "shipped_image_tokenizer.keras"
    pretrained.load_model().image_tokenizer.save(tokenizer_path)
    grades = CheckpointGrades(prompts, scorer, args.steps_per_epoch)
    train_text_to_image(
        "shapes", out, image_tokenizer=str(tokenizer_path), preset="small", epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, seed=args.seed, callbacks=[grades], verbose=2,
    )
    return [{"name": str(row["step"]), **row} for row in grades.rows]


def named_path(text):
    """NAME=PATH -> (NAME, PATH), for argparse."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    if not pathlib.Path(path).is_file():
        raise argparse.ArgumentTypeError(f"no model file at {path!r}")
    return name, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", required=True, help="the grading scorer (not the one that reranks)")
    parser.add_argument("--models", nargs="+", type=named_path, metavar="NAME=PATH",
                        help="grade these saved models instead of training a run (at least 3)")
    parser.add_argument("--num", type=int, default=1, help="pictures per prompt (with --models)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-group", type=int, default=50, help="evaluation prompts per group")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", default="runs/rank_agreement")
    parser.add_argument("--json", help="default: bench/results/rank_agreement.json, or rank_agreement_models.json with --models")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "rank_agreement.png"), help="the training run's chart")
    args = parser.parse_args()
    if args.models is not None and len(args.models) < 3:
        parser.error("--models needs at least 3 models to rank")
    if args.num < 1:
        parser.error("--num must be at least 1")
    results = ROOT / "bench" / "results"
    json_path = pathlib.Path(args.json or results / ("rank_agreement_models.json" if args.models else "rank_agreement.json"))
    scorer = load_keras_file(args.scorer, expected=ContrastiveScorer)
    prompts = shapes.evaluation_prompts(per_group=args.per_group)
    if args.models:
        rows = grade_models(args.models, prompts, scorer, args.num)
    else:
        rows = train_and_grade(args, prompts, scorer)
    checker = [row["checker_accuracy"] for row in rows]
    result = {
        "args": vars(args),
        "checkpoints": rows,
        "spearman_r_precision": spearman(checker, [row["r_precision"] for row in rows]),
        "spearman_clip_score": spearman(checker, [row["clip_score"] for row in rows]),
    }
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'checkpoint':>10} {'checker':>8} {'R-precision':>12} {'CLIP score':>10}")
    for row in rows:
        print(f"{row['name']:>10} {row['checker_accuracy']:8.1%} {row['r_precision']:12.1%} {row['clip_score']:10.3f}")
    print(f"Spearman, checker vs R-precision: {result['spearman_r_precision']:.3f}; "
          f"vs CLIP score: {result['spearman_clip_score']:.3f} (goal >= 0.8)")
    print(f"wrote {json_path}")
    if not args.models:
        steps = [row["step"] for row in rows]
        chart = line_chart(
            {"caption checker": (steps, checker), "CLIP-R-precision": (steps, [row["r_precision"] for row in rows])},
            "checkpoints of one run: caption checker vs the scorer's R-precision", "training step", y_range=(0, 1),
        )
        chart.save(args.chart)
        print(f"wrote {args.chart}")


if __name__ == "__main__":
    main()
