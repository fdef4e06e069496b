"""Training curves of a run as a picture: `python -m bench.training_curve RUN [--out PNG] [--steps-per-epoch N]`.

Reads the epoch scalars Keras's TensorBoard callback wrote under RUN/logs/generator (train and
validation) and draws two charts: the tuning accuracy (the caption checker's on the shapes, the
nearest real picture's top-1 and top-5 on other folders) and cross-entropy (training, and
validation when the run held data out), against training steps.
"""

import argparse
import json
import pathlib

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_dalle.visualize import line_chart


def epoch_scalars(log_dir):
    """{tag: [(epoch, value), ...]} from the event files of one TensorBoard folder."""
    scalars = {}
    for path in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", default=None, help="PNG to write (default RUN/training_curve.png)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="x axis in steps (default: epochs)")
    args = parser.parse_args()
    logs = pathlib.Path(args.run) / "logs" / "generator"
    train, validation = epoch_scalars(logs / "train"), epoch_scalars(logs / "validation")
    scale = args.steps_per_epoch or 1
    x_label = "training step" if args.steps_per_epoch else "epoch"

    def curve(scalars, tag):
        points = sorted(scalars.get(tag, []))
        return [(epoch + 1) * scale for epoch, _ in points], [value for _, value in points]

    charts = []
    # Folder runs judged by the nearest real picture log `tuning_top5` beside `tuning_accuracy`;
    # shapes runs log the caption checker's accuracy per group.
    nearest = "epoch_tuning_top5" in train
    top1 = "top-1" if nearest else "all groups"
    accuracy = {name.replace("epoch_tuning_", "").replace("accuracy", top1).replace("top5", "top-5"): curve(train, name) for name in sorted(train) if name.startswith("epoch_tuning_")}
    if accuracy:
        title = ("nearest-picture accuracy on the tuning captions (the nearest real picture carries the caption)" if nearest
                 else "caption-checker accuracy on tuning prompts (all attributes right)")
        charts.append(line_chart(accuracy, title, x_label, y_range=(0, 1)))
    losses = {"training": curve(train, "epoch_cross_entropy"), "validation": curve(validation, "epoch_cross_entropy")}
    charts.append(line_chart(losses, "cross-entropy (nats per image token)", x_label))
    canvas = Image.new("RGB", (max(c.width for c in charts), sum(c.height for c in charts)))
    for index, chart in enumerate(charts):
        canvas.paste(chart, (0, sum(c.height for c in charts[:index])))
    out = pathlib.Path(args.out or pathlib.Path(args.run) / "training_curve.png")
    canvas.save(out)
    print(json.dumps({name: dict(zip(*map(lambda v: np.round(v, 4).tolist(), points)))
                      for name, points in {**accuracy, **losses}.items()}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
