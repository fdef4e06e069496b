"""The commands that draw from a picture's embedding with an unCLIP decoder: vary, edit, interpolate.

Each writes `--out DIR`: grid.png (the input pictures first, labelled), one PNG per drawn picture,
and manifest.jsonl (file, seed and what the picture was drawn from).
"""

import json
import pathlib

from keras_dalle.cli.common import add_sampling_arguments, positive_int, read_picture, sampling_options, token_progress

DEFAULT_EDIT_AMOUNTS = (0.1, 0.2, 0.3, 0.4, 0.5)  # DALL-E 2 showed text diffs from 0 to 0.5


def _load_decoder(path):
    from keras_dalle.models.saving import load_keras_file
    from keras_dalle.models.unclip import UnCLIPDecoder

    return load_keras_file(path, expected=UnCLIPDecoder)


def _write(out, inputs, input_labels, pictures, entries, title, columns):
    """grid.png (inputs, then pictures), one PNG per picture and manifest.jsonl into the folder `out`."""
    import numpy as np
    from PIL import Image

    from keras_dalle.visualize import image_grid

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for index, (picture, entry) in enumerate(zip(pictures, entries)):
            name = f"{index:05d}.png"
            Image.fromarray(picture).save(out / name)
            manifest.write(json.dumps({"file": name, **entry}, ensure_ascii=False) + "\n")
    labels = list(input_labels) + [entry["label"] for entry in entries]
    image_grid(np.concatenate([inputs, pictures]), labels, columns=columns, title=title).save(out / "grid.png")
    print(f"wrote {len(pictures)} pictures, grid.png and manifest.jsonl to {out}")


def cmd_vary(args):
    decoder = _load_decoder(args.decoder)
    picture = read_picture(args.image, decoder.image_size)
    pictures = decoder.vary(
        picture, num_images=args.num, prompt=args.prompt, seed=args.seed, candidates=args.candidates,
        on_token=token_progress(args.num * args.candidates), **sampling_options(args),
    )
    seeds = decoder.picture_seeds(args.seed, args.num)
    entries = [
        {"label": f"seed {s}", "image": args.image, "seed": int(s), "prompt": args.prompt, "candidates": args.candidates}
        for s in seeds
    ]
    _write(args.out, picture, ["input"], pictures, entries, f"variations of {pathlib.Path(args.image).name}", min(5, args.num + 1))
    return 0


def cmd_edit(args):
    decoder = _load_decoder(args.decoder)
    picture = read_picture(args.image, decoder.image_size)
    amounts = list(args.amount)
    pictures = decoder.edit(
        picture, args.from_caption, args.to_caption, amount=amounts, num_images=args.num, prompt=args.prompt,
        seed=args.seed, candidates=args.candidates, on_token=token_progress(len(amounts) * args.num * args.candidates),
        **sampling_options(args),
    )
    seeds = decoder.picture_seeds(args.seed, args.num)
    entries = [
        {"label": f"amount {amount:g}", "image": args.image, "from": args.from_caption, "to": args.to_caption,
         "amount": amount, "seed": int(seed), "candidates": args.candidates}
        for amount in amounts for seed in seeds
    ]
    title = f"{args.from_caption!r} -> {args.to_caption!r}"
    _write(args.out, picture, ["input"], pictures, entries, title, len(amounts) * args.num + 1)
    return 0


def cmd_interpolate(args):
    import numpy as np

    decoder = _load_decoder(args.decoder)
    first, second = (read_picture(path, decoder.image_size, "--images") for path in args.images)
    pictures = decoder.interpolate(
        first, second, steps=args.steps, prompt=args.prompt, seed=args.seed, on_token=token_progress(args.steps),
        **sampling_options(args),
    )
    seed = int(decoder.picture_seeds(args.seed, 1)[0])
    entries = [
        {"label": f"{theta:.2f}", "images": list(args.images), "theta": round(float(theta), 4), "seed": seed}
        for theta in np.linspace(0.0, 1.0, args.steps)
    ]
    inputs = np.concatenate([first, second])
    _write(args.out, inputs, ["first", "second"], pictures, entries, "interpolation", args.steps + 2)
    return 0


def _common(parser, what):
    parser.add_argument("--decoder", required=True, help="a trained unCLIP decoder .keras (keras-dalle train --stage decoder)")
    parser.add_argument("--prompt", default=None, help=f"a caption to draw {what} under as well (default: the picture's embedding alone)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", required=True, help="folder for grid.png, the PNGs and manifest.jsonl")
    add_sampling_arguments(parser)


def _add_candidates(parser, target):
    parser.add_argument("--candidates", type=positive_int, default=1,
                        help=f"draw N pictures for each one written and keep the one whose embedding lies nearest {target} "
                             "(reranking by the decoder's scorer; N times the drawing)")


def add_commands(commands):
    """Adds `vary`, `edit` and `interpolate` to the `keras-dalle` subparsers."""
    vary = commands.add_parser("vary", help="variations of a picture (drawn from its embedding again)")
    vary.add_argument("--image", required=True, help="the picture to vary (any size or mode)")
    vary.add_argument("--num", type=positive_int, default=4, help="variations to draw")
    _add_candidates(vary, "the picture's")
    _common(vary, "the variations")
    vary.set_defaults(run=cmd_vary)

    edit = commands.add_parser("edit", help="edit a picture by words: its embedding turned from one caption toward another")
    edit.add_argument("--image", required=True, help="the picture to edit")
    edit.add_argument("--from", dest="from_caption", required=True, help="what the picture shows, e.g. 'a red circle'")
    edit.add_argument("--to", dest="to_caption", required=True, help="what it should show, e.g. 'a blue circle'")
    edit.add_argument("--amount", type=float, nargs="+", default=list(DEFAULT_EDIT_AMOUNTS),
                      help="how far to turn, each in [0, 1], one picture each with the same noise (default 0.1 .. 0.5)")
    edit.add_argument("--num", type=positive_int, default=1, help="pictures per amount")
    _add_candidates(edit, "the edited")
    _common(edit, "the edits")
    edit.set_defaults(run=cmd_edit)

    interpolate = commands.add_parser("interpolate", help="pictures between two pictures' embeddings, the noise held fixed")
    interpolate.add_argument("--images", nargs=2, required=True, metavar=("FIRST", "SECOND"))
    interpolate.add_argument("--steps", type=int, default=5, help="pictures from the first to the second, >= 2")
    _common(interpolate, "the steps")
    interpolate.set_defaults(run=cmd_interpolate)
