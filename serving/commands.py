"""`keras-dalle serve ...`: the local TF-Serving-compatible server as a keras-dalle command (added by
this package's `keras_dalle.commands` entry point; `python -m serving.server` runs the same)."""

from keras_dalle.cli import CommandError


def add_commands(commands):
    """Adds `serve` to the keras-dalle subparsers; its flags (`--help` too) go to `serving.server`'s parser."""
    serve = commands.add_parser(
        "serve", help="serve exported models over TF Serving's gRPC and REST APIs (--model-base-path DIR [--web])",
        add_help=False,
    )
    serve.set_defaults(run=_serve, pass_through=True)


def _serve(args, rest):
    try:
        from serving import server
    except ModuleNotFoundError as err:
        raise CommandError(
            f"keras-dalle serve needs the 'serving' extra ({err.name} is not installed): "
            "pip install 'keras-dalle[serving]' (in a checkout: make install EXTRAS=serving)"
        ) from None
    return server.main(rest, prog="keras-dalle serve")
