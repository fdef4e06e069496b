"""Image tokenizer quality on the shapes dataset, with and without the adversarial term.

    python bench/tokenizer_quality.py [--minutes 12] [--train 20000] [--held-out 1000]

Trains the `small` preset on 20k shapes pictures (32 x 32) for a wall-clock budget per
variant on this machine, then measures on 1k held-out pictures (another seed, held-out
color-shape pairs included): PSNR, caption-checker accuracy of the reconstructions against
the true captions, and codebook usage (distinct codes used on the held-out set / K, and the
training metric: codes chosen in the last 100 steps). Targets: PSNR >= 28 dB,
checker >= 98%, usage >= 50%. Writes bench/results/tokenizer_quality.json and
docs/tokenizer_reconstructions.png.
"""

import argparse
import json
import pathlib
import time

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np
import tensorflow as tf

from keras_dalle import presets
from keras_dalle.data import shapes
from keras_dalle.evaluation import caption_checker
from keras_dalle.models.image_tokenizer import ImageTokenizer, psnr
from keras_dalle.training.callbacks import TimeBudget
from keras_dalle.training.common import gan_optimizer
from keras_dalle.visualize import image_grid

ROOT = pathlib.Path(__file__).resolve().parent.parent


def train_variant(images, adversarial_weight, minutes, batch_size, learning_rate, seed):
    keras.utils.set_random_seed(seed)
    config = {**presets.preset("small", "image_tokenizer"), "adversarial_weight": adversarial_weight, "seed": seed}
    model = ImageTokenizer(**config)
    model.compile(optimizer=gan_optimizer(learning_rate), d_optimizer=gan_optimizer(learning_rate))
    model.build_optimizers()
    dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=True).repeat().prefetch(2)
    budget = TimeBudget(minutes)
    start = time.monotonic()
    history = model.fit(dataset, epochs=10**6, steps_per_epoch=200, callbacks=[budget], verbose=2)
    seconds = time.monotonic() - start
    return model, {
        "steps": int(model.optimizer.iterations),
        "train_seconds": round(seconds, 1),
        "train_usage": float(history.history["codebook_usage"][-1]),
    }


def evaluate(model, images, captions, batch_size=250):
    tokens = np.concatenate([model.encode(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
    recon = np.concatenate([model.decode(tokens[i : i + batch_size]) for i in range(0, len(tokens), batch_size)])
    check = caption_checker.accuracy(recon, captions)
    return recon, {
        "psnr_db": float(psnr(images, recon)),
        "checker_all": check["all"],
        "checker": {k: v for k, v in check.items() if k not in ("all", "count")},
        "held_out_code_usage": len(np.unique(tokens)) / model.codebook_size,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per variant (<= 30)")
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--adversarial-weight", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-models", default=None, help="folder to save each variant's .keras file")
    args = parser.parse_args()

    train_images, _ = shapes.generate_shapes(args.train, seed=args.seed)
    held_images, held_captions = shapes.generate_shapes(args.held_out, seed=args.seed + 1, include_held_out=True)
    rows = {}
    for name, weight in (("adversarial", args.adversarial_weight), ("no adversarial", 0.0)):
        model, train_info = train_variant(
            train_images, weight, args.minutes, args.batch_size, args.learning_rate, args.seed
        )
        recon, metrics = evaluate(model, held_images, held_captions)
        rows[name] = {"adversarial_weight": weight, **train_info, **metrics}
        if args.save_models:
            pathlib.Path(args.save_models).mkdir(parents=True, exist_ok=True)
            model.save(pathlib.Path(args.save_models) / f"image_tokenizer_{name.replace(' ', '_')}.keras")
        if name == "adversarial":
            grid = image_grid(
                np.concatenate([held_images[:8], recon[:8]]),
                held_captions[:8] + ["reconstruction"] * 8,
                columns=8,
                title="held-out pictures (top) and their reconstructions from 8 x 8 tokens (bottom)",
            )
            grid.save(ROOT / "docs" / "tokenizer_reconstructions.png")

    print()
    print(f"image tokenizer, preset small, {args.train} training pictures, {args.held_out} held-out, "
          f"{args.minutes:g} min per variant on this CPU")
    print(f"{'variant':16} {'steps':>6} {'PSNR dB':>8} {'checker':>8} {'usage(held-out)':>16} {'usage(train)':>13}")
    for name, row in rows.items():
        print(
            f"{name:16} {row['steps']:6d} {row['psnr_db']:8.2f} {row['checker_all']:8.2%} "
            f"{row['held_out_code_usage']:16.2%} {row['train_usage']:13.2%}"
        )
    print("targets: PSNR >= 28 dB, checker >= 98%, usage >= 50%")
    result = {"args": vars(args), "rows": rows}
    out = ROOT / "bench" / "results" / "tokenizer_quality.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
