"""Does the scorer-based grade order checkpoints as the caption checker does? Spearman rank agreement.

    python -m bench.rank_agreement --scorer runs/scorer_a/scorer.keras [--epochs 8] [--steps-per-epoch 150]
        [--per-group 50] [--out runs/rank_agreement]

`keras-dalle evaluate --data DIR --scorer S` grades a model on data the caption checker cannot read;
this checks that grade against the checker where both apply. One training run of the `small`
generator on the shapes source (the shipped model's image tokenizer, frozen), and after each epoch
(a checkpoint) one picture per evaluation prompt (`--per-group` of each group, seed 0), graded two
ways: the caption checker (all stated attributes right) and, with the grading scorer,
CLIP-R-precision (own caption against every one-attribute distractor) and CLIP score. The rank
correlation (Spearman) of the checkpoints' checker accuracy with each scorer grade is the number;
goal >= 0.8 (issue 14). Grade with a scorer other than the one that reranks the shipped model.

Writes bench/results/rank_agreement.json and docs/rank_agreement.png.
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
        embeddings = self.scorer.embed_images(pictures)
        row = {
            "step": (epoch + 1) * self.steps_per_epoch,
            "checker_accuracy": float(np.mean([check_caption(p, t).all_hold for p, t in zip(pictures, texts)])),
            "r_precision": r_precision(self.scorer, embeddings, texts, self.distractors),
            "clip_score": clip_score(embeddings, self.scorer.embed_text(texts)),
        }
        self.rows.append(row)
        print(f"\n{row}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", required=True, help="the grading scorer (not the one that reranks)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-group", type=int, default=50, help="evaluation prompts per group")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", default="runs/rank_agreement")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "rank_agreement.json"))
    parser.add_argument("--chart", default=str(ROOT / "docs" / "rank_agreement.png"))
    args = parser.parse_args()
    scorer = load_keras_file(args.scorer, expected=ContrastiveScorer)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_path = out / "shipped_image_tokenizer.keras"
    pretrained.load_model().image_tokenizer.save(tokenizer_path)
    grades = CheckpointGrades(shapes.evaluation_prompts(per_group=args.per_group), scorer, args.steps_per_epoch)
    train_text_to_image(
        "shapes", out, image_tokenizer=str(tokenizer_path), preset="small", epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, seed=args.seed, callbacks=[grades], verbose=2,
    )
    checker = [row["checker_accuracy"] for row in grades.rows]
    result = {
        "args": vars(args),
        "checkpoints": grades.rows,
        "spearman_r_precision": spearman(checker, [row["r_precision"] for row in grades.rows]),
        "spearman_clip_score": spearman(checker, [row["clip_score"] for row in grades.rows]),
    }
    pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'step':>6} {'checker':>8} {'R-precision':>12} {'CLIP score':>10}")
    for row in grades.rows:
        print(f"{row['step']:6d} {row['checker_accuracy']:8.1%} {row['r_precision']:12.1%} {row['clip_score']:10.3f}")
    print(f"Spearman, checker vs R-precision: {result['spearman_r_precision']:.3f}; "
          f"vs CLIP score: {result['spearman_clip_score']:.3f} (goal >= 0.8)")
    steps = [row["step"] for row in grades.rows]
    chart = line_chart(
        {"caption checker": (steps, checker), "CLIP-R-precision": (steps, [row["r_precision"] for row in grades.rows])},
        "checkpoints of one run: caption checker vs the scorer's R-precision", "training step", y_range=(0, 1),
    )
    chart.save(args.chart)
    print(f"wrote {args.json} and {args.chart}")


if __name__ == "__main__":
    main()
