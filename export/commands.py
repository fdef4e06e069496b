"""`keras-dalle export saved-model|tflite|onnx ...`: this package's exports as keras-dalle commands
(added by its `keras_dalle.commands` entry point; `python -m export.X` runs the same)."""

import importlib

from keras_dalle.cli import CommandError

# format -> (module whose main() exports it, help)
FORMATS = {
    "saved-model": ("export.saved_model", "a SavedModel for TF Serving (signatures, warmup file)"),
    "tflite": ("export.tflite", "a builtin-ops TFLite model for Android (--quantize none|dynamic|float16|int8)"),
    "onnx": ("export.onnx", "an ONNX model (tf2onnx)"),
}


def add_commands(commands):
    """Adds `export FORMAT` to the keras-dalle subparsers; each format's own flags (`--help` too)
    go to its module's parser."""
    export = commands.add_parser("export", help="export a trained model: saved-model, tflite, onnx")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, (module, help_text) in FORMATS.items():
        parser = formats.add_parser(name, help=help_text, add_help=False)
        parser.set_defaults(run=_runner(name, module), pass_through=True)


def _runner(name, module):
    def run(args, rest):
        try:
            return importlib.import_module(module).main(rest, prog=f"keras-dalle export {name}")
        except ModuleNotFoundError as err:
            raise CommandError(
                f"keras-dalle export {name} needs the 'export' extra ({err.name} is not installed): "
                "pip install 'keras-dalle[export]' (in a checkout: make install EXTRAS=export)"
            ) from None

    return run
