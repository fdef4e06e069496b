"""`keras-dalle data`: the built-in shapes and emoji folders, packing, checking a folder."""

from keras_dalle.cli.common import positive_int
from keras_dalle.data import grammar, loader, shapes, sources


def cmd_data_shapes(args):
    out = shapes.write_shapes_folder(
        args.out, args.num, args.seed, args.size, args.objects, args.include_held_out, progress=True
    )
    print(f"wrote {args.num} pictures with captions to {out}")
    return 0


def cmd_data_emoji(args):
    from keras_dalle.data import emoji

    info = emoji.write_emoji_folder(args.out, args.size, args.num, args.seed, args.held_out, args.font, progress=True)
    skipped = ", ".join(f"{len(names)} {reason}" for reason, names in info["skipped"].items() if names) or "none"
    held = f"; {info['held_out']} held-out skin tones to {args.held_out}" if args.held_out else f" ({info['held_out']} skin tones held out)"
    print(f"wrote {info['pictures']} emoji pictures with captions to {args.out}{held}; skipped: {skipped}")
    return 0


def cmd_data_pack(args):
    report = loader.pack_folder(args.source, args.out, args.shards, args.image_size, args.skip_uncaptioned)
    print(report.summary())
    print(f"wrote TFRecord shards to {args.out}")
    return 0


def cmd_data_check(args):
    _, report = sources.scan_folder(args.source, args.skip_uncaptioned)
    print(report.summary())
    return 0



def add_commands(commands):
    """Adds `data shapes|emoji|pack|check` to the `keras-dalle` subparsers."""
    data = commands.add_parser("data", help="datasets: the built-in shapes and emoji, packing, checking")
    data_commands = data.add_subparsers(dest="data_command", required=True)

    gen = data_commands.add_parser("shapes", help="write the built-in shapes dataset as PNG + .txt")
    gen.add_argument("--out", required=True)
    gen.add_argument("--num", type=positive_int, default=1000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--objects", choices=shapes.OBJECT_COUNTS, default="mixed")
    gen.add_argument("--size", type=positive_int, default=32, help="canvas side in pixels (default 32)")
    gen.add_argument(
        "--include-held-out",
        action="store_true",
        help=f"also draw the held-out pairs {sorted(grammar.HELD_OUT_PAIRS)}",
    )
    gen.set_defaults(run=cmd_data_shapes)

    emoji_data = data_commands.add_parser("emoji", help="write the Noto Color Emoji pictures as PNG + .txt (make emoji-font)")
    emoji_data.add_argument("--out", required=True)
    emoji_data.add_argument("--size", type=positive_int, default=32, help="picture side in pixels (default 32)")
    emoji_data.add_argument("--num", type=positive_int, default=None, help="a seeded choice of N emoji (default: all)")
    emoji_data.add_argument("--seed", type=int, default=0, help="the held-out skin tones and the --num choice")
    emoji_data.add_argument("--held-out", default=None, metavar="DIR",
                            help="write the held-out skin-tone variants (never in --out) to this folder")
    emoji_data.add_argument("--font", default=None, help="the Noto Color Emoji .ttf (default: Debian's path)")
    emoji_data.set_defaults(run=cmd_data_emoji)

    pack = data_commands.add_parser("pack", help="pack a captioned image folder into TFRecord shards")
    pack.add_argument("source")
    pack.add_argument("--out", required=True)
    pack.add_argument("--shards", type=positive_int, default=8)
    pack.add_argument("--image-size", type=positive_int, default=None, help="resize and center-crop while packing")
    pack.add_argument("--skip-uncaptioned", action="store_true")
    pack.set_defaults(run=cmd_data_pack)

    check_data = data_commands.add_parser("check", help="scan a folder and report what would be used")
    check_data.add_argument("source")
    check_data.add_argument("--skip-uncaptioned", action="store_true")
    check_data.set_defaults(run=cmd_data_check)
