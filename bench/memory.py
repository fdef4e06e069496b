"""Peak resident memory of generation and of a train step against batch size.

`python -m bench.memory [--preset small] [--batches 1,4,16,64] [--works generate,...]`

Each point runs in a fresh process (peak RSS only grows within a process): build the model, note
the resident memory, run the work (generation: `KerasDALLE.generate` of `batch` pictures with
guidance; train: 3 `fit` steps of the text-to-image model with its discriminator, and of the image
tokenizer), then read the process's peak RSS (getrusage). The table shows the baseline after
building, the peak, and the peak's growth over the baseline.
"""

import argparse
import json
import resource
import subprocess
import sys


WORKS = ("generate", "train text-to-image", "train tokenizer")


def resident_mb(pid="self"):
    """VmRSS of a process in MB (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def child(work, preset, batch):
    import keras_dalle  # noqa: F401
    import keras
    import tensorflow as tf

    from keras_dalle import presets
    from keras_dalle.data import shapes
    from keras_dalle.models.dalle import KerasDALLE
    from keras_dalle.models.image_tokenizer import ImageTokenizer

    keras.utils.set_random_seed(0)
    config = presets.preset(preset, "image_tokenizer")
    size = config["image_size"]
    tokenizer = ImageTokenizer(**{**config, "adversarial_start": 0})
    tokenizer.build((None, size, size, 3))
    if work != "train tokenizer":  # KerasDALLE freezes the tokenizer it wraps
        model = KerasDALLE(tokenizer, **{**presets.preset(preset, "text_to_image"), "adversarial_start": 0})
        model.build(None)
    images, captions = shapes.generate_shapes(batch, seed=0, canvas_size=size)
    data = tf.data.Dataset.from_tensors((tf.constant(captions), tf.constant(images))).repeat()
    baseline = resident_mb()
    if work == "generate":
        model.generate(list(captions), seed=0)
    else:
        trained = tokenizer if work == "train tokenizer" else model
        trained.compile(optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
        trained.build_optimizers()
        trained.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline": baseline, "peak": peak}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--works", default=",".join(WORKS), help=f"comma-separated, from {list(WORKS)}")
    parser.add_argument("--child", nargs=2, metavar=("WORK", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.preset, int(args.child[1]))
        return
    rows = []
    for work in args.works.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            result = subprocess.run([sys.executable, "-m", "bench.memory", "--preset", args.preset, "--child", work, str(batch)],
                                    capture_output=True, text=True, check=True)
            numbers = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append((work, batch, numbers["baseline"], numbers["peak"]))
            print(rows[-1], flush=True)
    print(f"\npeak resident memory (MB), preset {args.preset}, one fresh process per row")
    print(f"{'work':22} {'batch':>5} {'after build':>11} {'peak':>8} {'peak - build':>12}")
    for work, batch, baseline, peak in rows:
        print(f"{work:22} {batch:5d} {baseline:11.0f} {peak:8.0f} {peak - baseline:12.0f}")


if __name__ == "__main__":
    main()
