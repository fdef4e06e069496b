"""The `keras-dalle` command line.

    keras-dalle demo [--out DIR]
    keras-dalle data shapes --out DIR [--num N] [--seed S] [--objects 1|2|mixed] [--size 32]
    keras-dalle data pack SRC --out DIR [--shards N] [--image-size S] [--skip-uncaptioned]
    keras-dalle data check SRC [--skip-uncaptioned]
    keras-dalle check IMAGE "CAPTION"
    keras-dalle train --stage tokenizer --data DIR --out RUN [--preset tiny|small|base] [--epochs E]
                      [--batch-size B] [--steps-per-epoch N] [--adversarial-weight L]

Expected errors (bad paths, bad captions, bad arguments) print one line and exit with status 2.
"""

import argparse
import pathlib
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend before anything imports keras)
from keras_dalle.data import grammar, loader, shapes


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def cmd_demo(args):
    """Until a trained model ships: the built-in dataset as a labelled preview grid."""
    from keras_dalle.visualize import image_grid

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images, captions = shapes.generate_shapes(args.num, seed=args.seed, canvas_size=args.size)
    path = out / "shapes_preview.png"
    image_grid(images, captions, columns=4, scale=4, title=f"built-in shapes dataset, seed {args.seed}").save(path)
    print(f"wrote {len(images)} captioned pictures of the built-in shapes dataset to {path}")
    return 0


def cmd_data_shapes(args):
    out = shapes.write_shapes_folder(
        args.out, args.num, args.seed, args.size, args.objects, args.include_held_out, progress=True
    )
    print(f"wrote {args.num} pictures with captions to {out}")
    return 0


def cmd_data_pack(args):
    report = loader.pack_folder(args.source, args.out, args.shards, args.image_size, args.skip_uncaptioned)
    print(report.summary())
    print(f"wrote TFRecord shards to {args.out}")
    return 0


def cmd_data_check(args):
    _, report = loader.scan_folder(args.source, args.skip_uncaptioned)
    print(report.summary())
    return 0


def cmd_check(args):
    import numpy as np
    from PIL import Image

    from keras_dalle.evaluation import check_caption

    try:
        with Image.open(args.image) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
        raise loader.DataError(f"{args.image}: cannot read image ({err})") from None
    result = check_caption(pixels, args.caption)
    for attribute, ok in result.attributes.items():
        print(f"{attribute:9s} {'yes' if ok else 'NO'}")
    print(f"{'all':9s} {'yes' if result.all_hold else 'NO'}")
    return 0 if result.all_hold else 1


def cmd_train(args):
    from keras_dalle.training.image_tokenizer_stage import TOKENIZER_FILE, train_image_tokenizer

    overrides = {}
    if args.adversarial_weight is not None:
        overrides["adversarial_weight"] = args.adversarial_weight
    if args.adversarial_start is not None:
        overrides["adversarial_start"] = args.adversarial_start
    train_image_tokenizer(
        args.data,
        args.out,
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        learning_rate=args.learning_rate,
        seed=args.seed,
        **overrides,
    )
    print(f"saved {pathlib.Path(args.out) / TOKENIZER_FILE}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-dalle", description="Text-to-image for TensorFlow/Keras.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the main job on the built-in default")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--num", type=_positive_int, default=16)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", type=_positive_int, default=32)
    demo.set_defaults(run=cmd_demo)

    data = commands.add_parser("data", help="datasets: the built-in shapes, packing, checking")
    data_commands = data.add_subparsers(dest="data_command", required=True)

    gen = data_commands.add_parser("shapes", help="write the built-in shapes dataset as PNG + .txt")
    gen.add_argument("--out", required=True)
    gen.add_argument("--num", type=_positive_int, default=1000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--objects", choices=shapes.OBJECT_COUNTS, default="mixed")
    gen.add_argument("--size", type=_positive_int, default=32, help="canvas side in pixels (default 32)")
    gen.add_argument(
        "--include-held-out",
        action="store_true",
        help=f"also draw the held-out pairs {sorted(grammar.HELD_OUT_PAIRS)}",
    )
    gen.set_defaults(run=cmd_data_shapes)

    pack = data_commands.add_parser("pack", help="pack a captioned image folder into TFRecord shards")
    pack.add_argument("source")
    pack.add_argument("--out", required=True)
    pack.add_argument("--shards", type=_positive_int, default=8)
    pack.add_argument("--image-size", type=_positive_int, default=None, help="resize and center-crop while packing")
    pack.add_argument("--skip-uncaptioned", action="store_true")
    pack.set_defaults(run=cmd_data_pack)

    check_data = data_commands.add_parser("check", help="scan a folder and report what would be used")
    check_data.add_argument("source")
    check_data.add_argument("--skip-uncaptioned", action="store_true")
    check_data.set_defaults(run=cmd_data_check)

    train = commands.add_parser("train", help="train a model stage on a folder of captioned images")
    train.add_argument("--stage", choices=["tokenizer"], required=True)
    train.add_argument("--data", required=True, help="a folder of captioned images or packed shards")
    train.add_argument("--out", required=True, help="run folder: model, checkpoints, logs, grids")
    train.add_argument("--preset", choices=["tiny", "small", "base"], default="small")
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--batch-size", type=_positive_int, default=32)
    train.add_argument("--steps-per-epoch", type=_positive_int, default=None)
    train.add_argument("--learning-rate", type=float, default=5e-4)
    train.add_argument("--adversarial-weight", type=float, default=None, help="0 trains without a discriminator")
    train.add_argument("--adversarial-start", type=int, default=None, help="step at which the discriminator starts")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=cmd_train)

    check = commands.add_parser("check", help="check a picture against a shapes-grammar caption")
    check.add_argument("image")
    check.add_argument("caption")
    check.set_defaults(run=cmd_check)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (loader.DataError, grammar.CaptionError, ValueError) as err:
        print(f"keras-dalle: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
