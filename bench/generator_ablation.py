"""One row of the generator ablation: train on the built-in shapes for a fixed number of steps, then
measure caption-checker accuracy on tuning prompts.

    python -m bench.generator_ablation NAME --tokenizer T.keras --steps 700 [--batch-size 32] [--set KEY=VALUE ...]
        [--threads N] [--json bench/results/ablation_NAME.json]

`--set` overrides a `small` preset value of the text-to-image model (e.g. `image_grid_positions=false`,
`adversarial_weight=0.05`, `caption_dropout=0.2`) or `learning_rate=...`. Rows meant to be
compared run with the same steps and batch size, side by side with `--threads 1` each on this
2-core machine (equal compute), or one after the other. Prints wall time, final cross-entropy and
accuracy per group (tuning prompts, 2 pictures each, default sampling).
"""

import argparse
import json
import pathlib
import tempfile
import time

import tensorflow as tf

from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model

GROUPS = ("one_object", "full", "two_object", "held_out", "overall")


def parse_value(text):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from keras_dalle.training import stages

    overrides = {key: parse_value(value) for key, value in (item.split("=", 1) for item in args.set)}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run:
        model, history = stages.train_text_to_image(
            "shapes", run, image_tokenizer=args.tokenizer, epochs=1, steps_per_epoch=args.steps,
            batch_size=args.batch_size, verbose=0, **overrides,
        )
    minutes = (time.perf_counter() - start) / 60
    summary = evaluate_model(model, shapes.tuning_prompts(25), num_images=2, seed=1, progress=False)
    row = {"name": args.name, "overrides": overrides, "steps": args.steps, "batch_size": args.batch_size,
           "minutes": minutes, "cross_entropy": history.history["cross_entropy"][-1],
           **{group: summary[group]["all"] for group in GROUPS}}
    print(f"{'row':24} {'steps':>6} {'min':>5} {'xent':>6} " + " ".join(f"{g:>10}" for g in GROUPS))
    print(f"{args.name:24} {args.steps:6d} {minutes:5.1f} {row['cross_entropy']:6.3f} "
          + " ".join(f"{row[g]:10.1%}" for g in GROUPS))
    out = pathlib.Path(args.json or f"bench/results/ablation_{args.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
