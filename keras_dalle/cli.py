"""The `keras-dalle` command line.

    keras-dalle demo [--out DIR] [--candidates 8]            best of 8 by the shipped scorer (1 = plain generation)
    keras-dalle data shapes --out DIR [--num N] [--seed S] [--objects 1|2|mixed] [--size 32]
    keras-dalle data emoji --out DIR [--size 32] [--num N] [--seed S] [--held-out DIR]   (make emoji-font first)
    keras-dalle data pack SRC --out DIR [--shards N] [--image-size S] [--skip-uncaptioned]
    keras-dalle data check SRC [--skip-uncaptioned]
    keras-dalle check IMAGE "CAPTION"
    keras-dalle train --stage tokenizer|generator|scorer|all --data DIR --out RUN [--preset tiny|small|base]
                      [--epochs E] [--batch-size B] [--steps-per-epoch N] [--adversarial-weight L]
                      [--strategy default|mirrored|multi_worker|tpu] [--mixed-precision] [--jit-compile]
    keras-dalle generate "PROMPT" [--model PATH] [--num 4] [--seed S] [sampling options] --out grid.png
        [--candidates N [--scorer SCORER.keras]]               best of N candidates per picture (scorer
                                                               default: scorer.keras beside --model)
        [--image IN.png --keep-rows R]                         image completion: keep IN.png's top R token rows
    keras-dalle generate --prompts FILE --out DIR [...]       one PNG per picture + manifest.jsonl
    keras-dalle evaluate [--model PATH] [--prompts FILE] [--num K] [--seed S] [--json PATH]
    keras-dalle evaluate --data DIR --scorer SCORER.keras [--model PATH] [--captions N]   CLIP score, R-precision, KID
    keras-dalle package-model RUN/keras_dalle.keras --out MODEL.keras [sampling defaults]   (no optimizer state)

Expected errors (bad paths, bad captions, bad arguments) print one line and exit with status 2.
"""

import argparse
import pathlib
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend before anything imports keras)
from keras_dalle import presets
from keras_dalle.data import grammar, loader, shapes, sources
from keras_dalle.training.distribute import STRATEGIES


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


DEMO_CANDIDATES = 8
DEMO_PROMPTS = (
    "a big red circle in the top left",
    "a small blue square at the bottom",
    "a green triangle on the right",
    "a yellow circle to the left of a purple square",
    "a white square above a red triangle",
    "a purple triangle",
)


def _load_model(path):
    from keras_dalle import pretrained

    return pretrained.load_model(path)


def _token_progress(total_pictures):
    """An on_token callback drawing one progress bar over the image tokens of a generate call."""
    from keras_dalle.progress import progress_bar

    bar = progress_bar(total=None, desc=f"generating {total_pictures} picture(s)", unit="tok")

    def on_token(step, total):
        bar.total = total
        bar.update(step - bar.n)
        if step == total:
            bar.close()

    return on_token


def _sampling(args):
    return dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, cfg_scale=args.cfg_scale)


def cmd_demo(args):
    """The main job on the embedded default: the shipped model draws pictures for a few prompts, each
    the best of `--candidates` by the shipped scorer."""
    from keras_dalle import pretrained
    from keras_dalle.visualize import image_grid

    model = _load_model(None)
    scorer = pretrained.load_scorer() if args.candidates > 1 else None
    prompts = list(DEMO_PROMPTS)
    pictures = model.generate(
        prompts, num_images=args.num, seed=args.seed, on_token=_token_progress(len(prompts) * args.num * args.candidates),
        candidates=args.candidates, scorer=scorer,
    )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo_grid.png"
    labels = [p for p in prompts for _ in range(args.num)]
    title = f"keras_dalle shapes model, seed {args.seed}" + (f", best of {args.candidates}" if scorer else "")
    image_grid(pictures, labels, columns=args.num, title=title).save(path)
    print(f"wrote {len(pictures)} generated pictures for {len(prompts)} prompts to {path}")
    return 0


def _load_scorer(path):
    from keras_dalle import pretrained

    return pretrained.load_scorer(path)


def _scorer_beside(model_path):
    """The scorer a run folder holds beside its model (`train --stage all` writes both), for
    `--candidates` without `--scorer`; ValueError if there is none."""
    from keras_dalle.training.stages import SCORER_FILE

    beside = pathlib.Path(model_path).parent / SCORER_FILE
    if not beside.is_file():
        raise ValueError(
            f"--candidates with your own --model needs --scorer, or a {SCORER_FILE} beside the model "
            f"(no {beside}; train one: keras-dalle train --stage scorer)"
        )
    print(f"reranking with {beside}", file=sys.stderr)
    return str(beside)


def _completion(args, model):
    """generate's image-completion arguments from --image and --keep-rows: {} or {image, keep_rows}
    (the picture resized and center-cropped to the model's size; keep_rows by default half the grid)."""
    from PIL import Image, UnidentifiedImageError

    from keras_dalle.data.images import pictures_from

    if args.image is None:
        if args.keep_rows is not None:
            raise ValueError("--keep-rows applies to image completion: give --image too")
        return {}
    keep_rows = args.keep_rows if args.keep_rows is not None else model.grid_size // 2
    model.check_keep_rows(keep_rows)
    try:
        with Image.open(args.image) as image:
            picture = pictures_from(image, model.image_size)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"--image {args.image}: not a picture this loader reads ({err})") from err
    return {"image": picture, "keep_rows": keep_rows}


def cmd_generate(args):
    import json

    import numpy as np
    from PIL import Image

    from keras_dalle.visualize import image_grid

    if (args.prompt is None) == (args.prompts is None):
        raise ValueError("give either a PROMPT or --prompts FILE")
    scorer_path = args.scorer
    if args.candidates > 1 and scorer_path is None and args.model is not None:
        scorer_path = _scorer_beside(args.model)
    model = _load_model(args.model)
    # The shipped model reranks with the shipped scorer unless told otherwise.
    scorer = _load_scorer(scorer_path) if scorer_path or args.candidates > 1 else None
    prompts = [args.prompt] if args.prompt is not None else sources.read_prompts(args.prompts)
    count = len(prompts) * args.num
    completion = _completion(args, model)
    result = model.generate(
        prompts, num_images=args.num, seed=args.seed, on_token=_token_progress(count * args.candidates), candidates=args.candidates,
        scorer=scorer, return_scores=scorer is not None, **completion, **_sampling(args),
    )
    pictures, scores = result if scorer is not None else (result, None)
    seeds = model.picture_seeds(args.seed, count)
    out = pathlib.Path(args.out)
    if args.prompt is not None:
        labels = [f"seed {s}" + (f" score {scores[i]:.2f}" if scores is not None else "") for i, s in enumerate(seeds)]
        tiles = pictures
        if completion:  # the input first, as the model sees it
            tiles = np.concatenate([completion["image"], pictures])
            labels = [f"input, top {completion['keep_rows']} rows kept"] + labels
        out.parent.mkdir(parents=True, exist_ok=True)
        image_grid(tiles, labels, columns=min(4, args.num) + (1 if completion else 0), title=args.prompt).save(out)
        print(f"wrote {len(pictures)} picture(s) for {args.prompt!r} to {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for index, (picture, seed) in enumerate(zip(pictures, seeds)):
            name = f"{index:05d}.png"
            Image.fromarray(picture).save(out / name)
            entry = {"prompt": prompts[index // args.num], "file": name, "seed": int(seed)}
            if completion:
                entry.update(image=args.image, keep_rows=completion["keep_rows"])
            if scores is not None:
                entry["score"] = round(float(scores[index]), 4)
            manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"wrote {len(pictures)} pictures and manifest.jsonl to {out}")
    return 0


def _evaluate_on_data(args):
    """`evaluate --data DIR --scorer S`: CLIP score, R-precision and KID for the captions of any dataset."""
    import json

    import numpy as np

    from keras_dalle.data.loader import load_dataset
    from keras_dalle.evaluation.contrastive import evaluate_with_scorer, format_scorer_table
    from keras_dalle.evaluation.generation import generate_in_chunks

    if args.scorer is None:
        raise ValueError("evaluate --data grades pictures with a contrastive scorer: give --scorer (keras-dalle train --stage scorer)")
    if args.prompts:
        raise ValueError("give --data (its captions are the prompts) or --prompts, not both")
    model = _load_model(args.model)
    scorer = _load_scorer(args.scorer)
    scorer.check_fits(model)
    dataset, report = load_dataset(args.data, image_size=model.image_size, batch_size=256, seed=args.seed, progress=False)
    captions, images = [], []
    for batch_captions, batch_images in dataset:
        captions += [c.decode("utf-8") for c in batch_captions.numpy()]
        images.append(batch_images.numpy())
        if len(captions) >= args.captions:
            break
    captions, images = captions[: args.captions], np.concatenate(images)[: args.captions]
    print(f"{report.source}: {len(captions)} captions, {args.num} generated picture(s) each")
    generated = [pictures for _, pictures in generate_in_chunks(model, captions, args.num, args.seed, **_sampling(args))]
    generated_captions = [c for c in captions for _ in range(args.num)]
    result = evaluate_with_scorer(scorer, images, captions, np.concatenate(generated), generated_captions, seed=args.seed)
    print(format_scorer_table(result))
    print(json.dumps(result))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_evaluate(args):
    import json

    from keras_dalle.evaluation.generation import evaluate_model, format_table

    if args.data is not None:
        return _evaluate_on_data(args)
    if args.scorer is not None:
        raise ValueError("--scorer grades the pictures of --data captions; without --data, evaluate uses the caption checker")
    if args.prompts:
        prompts = [shapes.eval_prompt(prompt) for prompt in sources.read_prompts(args.prompts)]
    else:
        prompts = shapes.evaluation_prompts()
    model = _load_model(args.model)
    summary = evaluate_model(model, prompts, num_images=args.num, seed=args.seed, **_sampling(args))
    print(format_table(summary))
    print(json.dumps(summary))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


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


def cmd_check(args):
    import numpy as np
    from PIL import Image

    from keras_dalle.evaluation import check_caption

    try:
        with Image.open(args.image) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
        raise sources.DataError(f"{args.image}: cannot read image ({err})") from None
    result = check_caption(pixels, args.caption)
    for attribute, ok in result.attributes.items():
        print(f"{attribute:9s} {'yes' if ok else 'NO'}")
    print(f"{'all':9s} {'yes' if result.all_hold else 'NO'}")
    return 0 if result.all_hold else 1


def cmd_train(args):
    from keras_dalle.training import distribute, stages

    # First, before anything touches the TensorFlow runtime: MultiWorkerMirroredStrategy configures
    # collective ops at start-up and can be made once per process, so both stages share it.
    strategy = distribute.make_strategy(args.strategy)

    overrides = {}
    if args.adversarial_weight is not None:
        overrides["adversarial_weight"] = args.adversarial_weight
    if args.adversarial_start is not None:
        overrides["adversarial_start"] = args.adversarial_start
    if args.learning_rate is not None:
        overrides["learning_rate"] = args.learning_rate
    common = dict(
        preset=args.preset, epochs=args.epochs, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch,
        seed=args.seed, strategy=strategy, mixed_precision=args.mixed_precision, jit_compile=args.jit_compile,
        **overrides,
    )
    tokenizer = args.tokenizer
    text_encoder_options = {
        key: value for key, value in
        [("word_attention", args.word_attention), ("sentence_layers", args.sentence_layers), ("word_positions", args.word_positions)]
        if value
    }
    if args.stage != "generator" and (args.two_object_fraction is not None or text_encoder_options):
        raise ValueError(
            "--two-object-fraction, --word-attention, --sentence-layers and --word-positions apply to --stage generator only"
        )
    if args.stage not in ("generator", "scorer") and args.init_from:
        raise ValueError("--init-from fine-tunes one model: use it with --stage generator or --stage scorer")
    if args.stage in ("tokenizer", "all"):
        tokenizer, _ = stages.train_image_tokenizer(
            args.data, args.out, validation_split=args.validation_split, early_stopping=args.early_stopping, **common
        )
        if distribute.is_chief(strategy):
            print(f"saved {pathlib.Path(args.out) / stages.TOKENIZER_FILE}")
    if args.stage in ("generator", "all"):
        prompts = sources.read_prompts(args.sample_prompts) if args.sample_prompts else None
        # With --stage all the generator wraps the tokenizer trained just now (every worker holds it;
        # only the chief wrote the file).
        stages.train_text_to_image(
            args.data, args.out, image_tokenizer=tokenizer, sample_prompts=prompts, validation_split=args.validation_split,
            early_stopping=args.early_stopping, init_from=args.init_from, two_object_fraction=args.two_object_fraction,
            **({"dropout": args.dropout} if args.dropout is not None else {}),
            **text_encoder_options, **common,
        )
        if distribute.is_chief(strategy):
            print(f"saved {pathlib.Path(args.out) / stages.MODEL_FILE}")
    if args.stage in ("scorer", "all"):
        adversarial = overrides.keys() - {"learning_rate"}
        if args.stage == "scorer" and adversarial:
            raise ValueError("the scorer has no adversarial term: --adversarial-weight and --adversarial-start do not apply")
        scorer_settings = {key: value for key, value in common.items() if key not in adversarial}
        stages.train_scorer(
            args.data, args.out, validation_split=args.validation_split, early_stopping=args.early_stopping,
            init_from=args.init_from, **scorer_settings,
        )
        if distribute.is_chief(strategy):
            print(f"saved {pathlib.Path(args.out) / stages.SCORER_FILE}")
    return 0


def cmd_package_model(args):
    from keras_dalle import pretrained

    out = pretrained.save_for_inference(args.model, args.out, **_sampling(args))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, no optimizer state)")
    return 0


def _add_sampling_arguments(parser):
    parser.add_argument("--temperature", type=float, default=None, help="> 0 (default: the model's)")
    parser.add_argument("--top-k", type=int, default=None, help="0 = off, 1 = greedy (default: the model's)")
    parser.add_argument("--top-p", type=float, default=None, help="in (0, 1] (default: the model's)")
    parser.add_argument("--cfg-scale", type=float, default=None, help="classifier-free guidance >= 0, 1 = off")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-dalle", description="Text-to-image for TensorFlow/Keras.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the main job on the built-in default")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--num", type=_positive_int, default=4, help="pictures per prompt")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--candidates", type=_positive_int, default=DEMO_CANDIDATES,
                      help=f"draw N per picture, keep the best by the shipped scorer (default {DEMO_CANDIDATES}; 1 = plain)")
    demo.set_defaults(run=cmd_demo)

    generate = commands.add_parser("generate", help="pictures from a prompt (or a file of prompts)")
    generate.add_argument("prompt", nargs="?", default=None)
    generate.add_argument("--prompts", default=None, help="a file with one prompt per line")
    generate.add_argument("--model", default=None, help="a .keras model (default: the shipped shapes model)")
    generate.add_argument("--num", type=_positive_int, default=4, help="pictures per prompt")
    generate.add_argument("--seed", type=int, default=0, help="picture i uses seed + i")
    generate.add_argument("--out", required=True, help="grid PNG for one prompt; a folder with --prompts")
    generate.add_argument("--candidates", type=_positive_int, default=1,
                          help="draw N candidates per picture and keep the one --scorer rates best (default 1)")
    generate.add_argument("--scorer", default=None,
                          help="a trained scorer .keras (keras-dalle train --stage scorer; default: scorer.keras beside "
                               "--model, or the shipped one for the shipped model)")
    generate.add_argument("--image", default=None,
                          help="image completion: a picture (any size or mode) whose top rows the pictures keep")
    generate.add_argument("--keep-rows", type=_positive_int, default=None,
                          help="with --image: rows of the token grid kept from the top (default: half the grid)")
    _add_sampling_arguments(generate)
    generate.set_defaults(run=cmd_generate)

    evaluate = commands.add_parser(
        "evaluate", help="caption-checker accuracy on shapes prompts, or with --data and --scorer CLIP score, R-precision, KID"
    )
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument("--prompts", default=None, help="one prompt per line (default: the built-in evaluation set)")
    evaluate.add_argument("--data", default=None, help="any dataset the loader reads: generate for its captions")
    evaluate.add_argument("--scorer", default=None, help="with --data: the contrastive scorer that grades (not the one that reranked)")
    evaluate.add_argument("--captions", type=_positive_int, default=500, help="with --data: how many of its captions")
    evaluate.add_argument("--num", type=_positive_int, default=4, help="pictures per prompt")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--json", default=None, help="also write the result to this file")
    _add_sampling_arguments(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    data = commands.add_parser("data", help="datasets: the built-in shapes and emoji, packing, checking")
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

    emoji_data = data_commands.add_parser("emoji", help="write the Noto Color Emoji pictures as PNG + .txt (make emoji-font)")
    emoji_data.add_argument("--out", required=True)
    emoji_data.add_argument("--size", type=_positive_int, default=32, help="picture side in pixels (default 32)")
    emoji_data.add_argument("--num", type=_positive_int, default=None, help="a seeded choice of N emoji (default: all)")
    emoji_data.add_argument("--seed", type=int, default=0, help="the held-out skin tones and the --num choice")
    emoji_data.add_argument("--held-out", default=None, metavar="DIR",
                            help="write the held-out skin-tone variants (never in --out) to this folder")
    emoji_data.add_argument("--font", default=None, help="the Noto Color Emoji .ttf (default: Debian's path)")
    emoji_data.set_defaults(run=cmd_data_emoji)

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
    train.add_argument("--stage", choices=["tokenizer", "generator", "scorer", "all"], required=True,
                       help="all = tokenizer, then generator, then the scorer that reranks its candidates")
    train.add_argument("--data", required=True,
                       help="a folder of captioned images or packed shards, or 'shapes' (the built-in shapes, endless)")
    train.add_argument("--out", required=True, help="run folder: model, checkpoints, logs, grids")
    train.add_argument("--preset", choices=list(presets.PRESETS), default="small",
                       help="model sizes and learning rates (keras_dalle/presets.py)")
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--batch-size", type=_positive_int, default=32)
    train.add_argument("--steps-per-epoch", type=_positive_int, default=None)
    train.add_argument("--tokenizer", default=None, help="trained image tokenizer (default: RUN/image_tokenizer.keras)")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="default: the preset's (for the generator, the peak of its warmup-cosine schedule)")
    train.add_argument("--validation-split", type=float, default=None,
                       help="fraction of a folder held out for validation (default 0.1, for the generator only where "
                            "captions repeat; 0 = none); the model saved is the best epoch's (see the README)")
    train.add_argument("--early-stopping", type=_positive_int, default=None, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better epoch (tokenizer: validation PSNR; generator: "
                            "tuning accuracy, or validation loss on packs; scorer: validation R-precision)")
    train.add_argument("--dropout", type=float, default=None,
                       help="generator dropout (default: the preset's, 0.1 under 20,000 training images)")
    train.add_argument("--word-attention", action="store_true",
                       help="generator: the text encoder attends within words only (see the README's lever table)")
    train.add_argument("--sentence-layers", type=_positive_int, default=None, metavar="N",
                       help="generator, with --word-attention: the text encoder's top N layers attend over the whole caption")
    train.add_argument("--word-positions", action="store_true",
                       help="generator: add an embedding of each text byte's word index to the text encoder's input")
    train.add_argument("--init-from", default=None, metavar="MODEL",
                       help="fine-tune: start the generator stage from this trained text-to-image .keras model (and its "
                            "tokenizer), or the scorer stage from this trained scorer")
    train.add_argument("--two-object-fraction", type=float, default=None,
                       help="built-in shapes data: share of two-object pictures (default 0.5)")
    train.add_argument("--sample-prompts", default=None,
                       help="prompts file for the per-epoch sample grid (default: a handful of the data's captions)")
    train.add_argument("--adversarial-weight", type=float, default=None, help="0 trains without a discriminator")
    train.add_argument("--adversarial-start", type=int, default=None, help="step at which the discriminator starts")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="tf.distribute strategy; multi_worker reads TF_CONFIG (see the README)")
    train.add_argument("--mixed-precision", action="store_true", help="mixed_float16 on a GPU, mixed_bfloat16 on CPU/TPU")
    train.add_argument("--jit-compile", action="store_true", help="compile the train steps with XLA")
    train.set_defaults(run=cmd_train)

    package = commands.add_parser("package-model", help="copy a trained model without optimizer state")
    package.add_argument("model")
    package.add_argument("--out", required=True)
    _add_sampling_arguments(package)  # new default sampling settings, if given
    package.set_defaults(run=cmd_package_model)

    check = commands.add_parser("check", help="check a picture against a shapes-grammar caption")
    check.add_argument("image")
    check.add_argument("caption")
    check.set_defaults(run=cmd_check)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (sources.DataError, grammar.CaptionError, ValueError, FileNotFoundError) as err:
        print(f"keras-dalle: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
