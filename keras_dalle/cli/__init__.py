"""The `keras-dalle` command line.

    keras-dalle demo [--out DIR] [--candidates 8]            best of 8 by the shipped scorer (1 = plain generation)
    keras-dalle data shapes --out DIR [--num N] [--seed S] [--objects 1|2|mixed] [--size 32]
    keras-dalle data emoji --out DIR [--size 32] [--num N] [--seed S] [--held-out DIR]   (make emoji-font first)
    keras-dalle data pack SRC --out DIR [--shards N] [--image-size S] [--skip-uncaptioned]
    keras-dalle data check SRC [--skip-uncaptioned]
    keras-dalle check IMAGE "CAPTION"
    keras-dalle train --stage tokenizer|generator|scorer|all|decoder --data DIR --out RUN [--preset tiny|small|base]
                      [--epochs E] [--batch-size B] [--steps-per-epoch N] [--adversarial-weight L]
                      [--strategy default|mirrored|multi_worker|tpu] [--mixed-precision] [--jit-compile]
    keras-dalle generate "PROMPT" [--model PATH] [--num 4] [--seed S] [sampling options] --out grid.png
        [--candidates N [--scorer SCORER.keras]]               best of N candidates per picture (scorer
                                                               default: scorer.keras beside --model)
        [--image IN.png --keep-rows R]                         image completion: keep IN.png's top R token rows
    keras-dalle generate --prompts FILE --out DIR [--batch-prompts 32] [...]   one PNG per picture + manifest.jsonl,
                                                               written 32 prompts at a time
    keras-dalle evaluate [--model PATH] [--prompts FILE] [--num K] [--seed S] [--json PATH]
    keras-dalle evaluate --data DIR --scorer SCORER.keras [--model PATH] [--captions N]   CLIP score, R-precision, KID
    keras-dalle vary --decoder D.keras --image IN.png [--num 4] --out DIR       variations (an unCLIP decoder:
    keras-dalle edit --decoder D.keras --image IN.png --from TEXT --to TEXT [--amount A ...] --out DIR   train
    keras-dalle interpolate --decoder D.keras --images A.png B.png [--steps 5] --out DIR   --stage decoder)
    keras-dalle package-model RUN/keras_dalle.keras --out MODEL.keras [sampling defaults]   (no optimizer state)
    keras-dalle export saved-model|tflite|onnx ...            with the export package (the `export` extra)
    keras-dalle serve ...                                     with the serving package (the `serving` extra)

Expected errors (bad paths, bad captions, bad arguments) print one line and exit with status 2.
"""

import argparse
import importlib.metadata
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend before anything imports keras)
from keras_dalle.cli import data, latents, pictures, train
from keras_dalle.cli.pictures import DEMO_PROMPTS  # noqa: F401  (part of this module's API)
from keras_dalle.data import grammar, sources

# Installed packages add commands through this entry-point group: each entry is a function that
# takes the subparsers and adds its commands (the `export` and `serving` packages add `export` and
# `serve`), so this library never imports them.
COMMAND_GROUP = "keras_dalle.commands"


class CommandError(Exception):
    """An expected failure of a command (one line, exit status 2), for commands added by entry points."""


def build_parser():
    """The `keras-dalle` parser: this package's commands and those installed packages add."""
    parser = argparse.ArgumentParser(prog="keras-dalle", description="Text-to-image for TensorFlow/Keras.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (pictures, latents, data, train):
        module.add_commands(commands)
    for entry in sorted(importlib.metadata.entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        entry.load()(commands)
    return parser


def main(argv=None):
    """Runs one command; expected errors print one line and return 2."""
    parser = build_parser()
    # Commands that hand their flags to another parser (`export`, `serve`) take the unknown ones.
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.run(args, rest) if getattr(args, "pass_through", False) else args.run(args)
    except (sources.DataError, grammar.CaptionError, ValueError, FileNotFoundError, CommandError) as err:
        print(f"keras-dalle: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
