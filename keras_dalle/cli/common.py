"""What the commands share: argument types, loading models, sampling options, the token progress bar."""

import argparse
import pathlib
import sys


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def load_model(path):
    """A trained text-to-image model (the shipped one when `path` is None)."""
    from keras_dalle import pretrained

    return pretrained.load_model(path)


def read_picture(path, size, flag="--image"):
    """The picture at `path` as uint8 [1, size, size, 3], converted as training data is; a file that
    is not a picture is a ValueError naming `flag`."""
    from PIL import Image, UnidentifiedImageError

    from keras_dalle.data.images import pictures_from

    try:
        with Image.open(path) as image:
            return pictures_from(image, size)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{flag} {path}: not a picture this loader reads ({err})") from err


def token_progress(total_pictures):
    """An on_token callback drawing one progress bar over the image tokens of a generate call."""
    from keras_dalle.progress import progress_bar

    bar = progress_bar(total=None, desc=f"generating {total_pictures} picture(s)", unit="tok")

    def on_token(step, total):
        bar.total = total
        bar.update(step - bar.n)
        if step == total:
            bar.close()

    return on_token


def sampling_options(args):
    """The sampling flags as `generate` keywords (None: the model's default)."""
    return dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, cfg_scale=args.cfg_scale)


def load_scorer(path):
    """A trained contrastive scorer (the shipped one when `path` is None)."""
    from keras_dalle import pretrained

    return pretrained.load_scorer(path)


def scorer_beside(model_path):
    """The scorer a run folder holds beside its model (`train --stage all` writes both), or a shipped
    model's own, for `--candidates` without `--scorer`; ValueError if there is none."""
    from keras_dalle.models.saving import SHIPPED
    from keras_dalle.pretrained import SHIPPED_PAIRS
    from keras_dalle.training.stages import SCORER_FILE

    for name, (model_name, scorer_name) in SHIPPED_PAIRS.items():
        if str(model_path) in (name, model_name):
            return str(SHIPPED[scorer_name])
    beside = pathlib.Path(model_path).parent / SCORER_FILE
    if not beside.is_file():
        raise ValueError(
            f"--candidates with your own --model needs --scorer, or a {SCORER_FILE} beside the model "
            f"(no {beside}; train one: keras-dalle train --stage scorer)"
        )
    print(f"reranking with {beside}", file=sys.stderr)
    return str(beside)


def add_sampling_arguments(parser):
    """--temperature, --top-k, --top-p, --cfg-scale (default: the model's)."""
    parser.add_argument("--temperature", type=float, default=None, help="> 0 (default: the model's)")
    parser.add_argument("--top-k", type=int, default=None, help="0 = off, 1 = greedy (default: the model's)")
    parser.add_argument("--top-p", type=float, default=None, help="in (0, 1] (default: the model's)")
    parser.add_argument("--cfg-scale", type=float, default=None, help="classifier-free guidance >= 0, 1 = off")

