"""Training as users run it: `keras-dalle train` on a folder (and on the built-in shapes), its
seconds per step against `bench.train_throughput`'s step of the same models, in one run.

`python -m bench.train_user_path [--data runs/emoji32 shapes] [--preset small] [--steps 20]`

For each data source, two fresh `keras-dalle train` processes as the README runs them (the
tokenizer stage, then the generator stage on that tokenizer), each for 2 epochs of `--steps`
steps at batch 32 and every other flag at its default (so the folder's validation split, the
generator's per-epoch tuning accuracy, the sample grids and the checkpoints all run). The CLI's
step is the second epoch's `step_seconds` from the run's TensorBoard logs: the median time from
one train batch's end to the next, which holds the input pipeline's wait but not the first step's
tracing nor the end-of-epoch work. Beside it, the process's whole seconds and the share of them
its 2 x `--steps` steps take (the rest: starting, reading the data, tracing, the per-epoch
tuning accuracy, grids and checkpoints, saving).

Then, each in a fresh process, models built from the configs the CLI runs wrote
(`RUN/*_config.json`) train on one repeated in-memory batch: their step by the CLI's estimator (a
fit's median gap between batch ends: what the goal compares the CLI with) and by
`bench.train_throughput`'s measure (whole fits of 10 steps, so a fit's own start and end are in
it); and the fraction of the fp32 matmul peak (measured now) each step reaches, FLOPs counted on
the traced train step.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

STAGES = (("tokenizer", "tokenizer_config.json"), ("generator", "generator_config.json"))


def logged_step_seconds(run, stage):
    """The last epoch's `step_seconds` that `keras-dalle train` wrote to its TensorBoard logs."""
    from bench.training_curve import epoch_scalars

    values = epoch_scalars(run / "logs" / stage / "train").get("epoch_step_seconds")
    if not values:
        raise SystemExit(f"no epoch_step_seconds in {run / 'logs' / stage}")
    return max(values)[1]  # (epoch, value) of the last epoch


def cli_run(data, out, stage, preset, steps):
    """(the second epoch's step seconds, whole seconds) of `keras-dalle train --stage STAGE` for 2 epochs."""
    command = [str(pathlib.Path(sys.executable).parent / "keras-dalle"), "train", "--stage", stage, "--data", data,
               "--out", str(out), "--preset", preset, "--epochs", "2", "--steps-per-epoch", str(steps)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    whole = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"  {stage} on {data}: {whole:.0f} s in all", flush=True)
    return logged_step_seconds(out, stage), whole


def _median_gap_step(model, batch, steps=20):
    """The CLI's estimator on the in-memory batch: a fit's `step_seconds` (median gap between batch ends)."""
    import tensorflow as tf

    from keras_dalle.training.callbacks import StepTime

    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=steps, verbose=0,
                        callbacks=[StepTime()])
    return history.history["step_seconds"][-1]


def in_memory_step(stage, config_path, tokenizer_path, batch_size):
    """(s/step of `bench.train_throughput.measure`, FLOPs per step, the median-gap step of a fit on the
    same batch) of the model the run's config describes."""
    import keras
    import tensorflow as tf

    from bench.train_throughput import measure
    from keras_dalle.data import shapes
    from keras_dalle.models.dalle import KerasDALLE
    from keras_dalle.models.image_tokenizer import ImageTokenizer
    from keras_dalle.models.saving import load_keras_file

    config = json.loads(config_path.read_text())
    config.pop("preset")
    keras.utils.set_random_seed(0)
    if stage == "tokenizer":
        model = ImageTokenizer(**config)
        size = config["image_size"]
        model.build((None, size, size, 3))
        images, _ = shapes.generate_shapes(batch_size, seed=0, canvas_size=size)
        batch = tf.constant(images)
    else:
        for key in ("image_tokenizer", "init_from", "two_object_fraction"):
            config.pop(key, None)
        tokenizer = load_keras_file(tokenizer_path, expected=ImageTokenizer)
        model = KerasDALLE(tokenizer, **config)
        model.build(None)
        images, captions = shapes.generate_shapes(batch_size, seed=0, canvas_size=tokenizer.image_size)
        batch = (model.text_tokenizer(tf.constant(captions)), tf.constant(images))
    _, flops, seconds = measure(model, batch, steps=10, jit=False)
    return seconds, flops, _median_gap_step(model, batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["runs/emoji32", "shapes"],
                        help="folders of captioned pictures, or 'shapes' (the built-in source)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch of the CLI runs (2 epochs each)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", nargs=3, metavar=("STAGE", "CONFIG", "TOKENIZER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, config, tokenizer = args.child
        print(json.dumps(in_memory_step(stage, pathlib.Path(config), pathlib.Path(tokenizer), 32)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, data in enumerate(args.data):
            run = pathlib.Path(scratch) / f"run{index}"
            for stage, config_name in STAGES:
                step, whole = cli_run(data, run, stage, args.preset, args.steps)
                rows.append({"data": data, "stage": stage, "cli_step": step, "cli_seconds": whole,
                             "config": run / config_name, "tokenizer": run / "image_tokenizer.keras"})
        for row in rows:  # each in a fresh process: in one process, later models of the same config ran up to 1.7x slower
            measured = subprocess.run(
                [sys.executable, "-m", "bench.train_user_path", "--child", row["stage"], str(row.pop("config")), str(row.pop("tokenizer"))],
                capture_output=True, text=True, check=True,
            )
            row["in_memory_step"], row["flops"], row["in_memory_gap_step"] = json.loads(measured.stdout.strip().splitlines()[-1])
            print(row, flush=True)
    from bench.train_throughput import matmul_peak

    peak = matmul_peak()
    print(f"\npreset {args.preset}, batch 32, fp32 matmul peak measured now: {peak / 1e9:.1f} GFLOP/s")
    print("s/step: the CLI's and an in-memory fit's median gap between batch ends; throughput = train_throughput's measure")
    print(f"{'data':>14} {'stage':>10} {'CLI s/step':>10} {'in-memory':>10} {'CLI/in-mem':>10} {'throughput':>10} "
          f"{'CLI of peak':>11} {'in-mem of peak':>14} {'CLI whole s':>11} {'steps share':>11}")
    for row in rows:
        print(f"{row['data']:>14} {row['stage']:>10} {row['cli_step']:10.3f} {row['in_memory_gap_step']:10.3f} "
              f"{row['cli_step'] / row['in_memory_gap_step']:10.2f} {row['in_memory_step']:10.3f} "
              f"{row['flops'] / row['cli_step'] / peak:11.1%} "
              f"{row['flops'] / row['in_memory_gap_step'] / peak:14.1%} {row['cli_seconds']:11.1f} "
              f"{2 * args.steps * row['cli_step'] / row['cli_seconds']:11.0%}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"preset": args.preset, "peak_flops": peak, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
