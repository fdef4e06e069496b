"""The commands that draw or judge pictures: demo, generate, evaluate, check, package-model."""

import pathlib

from keras_dalle.cli.common import (
    add_sampling_arguments, load_model, load_scorer, positive_int, read_picture, sampling_options, scorer_beside,
    token_progress,
)
from keras_dalle.data import shapes, sources


# The demo of each shipped model: its prompts and how many candidates a picture is the best of
# (the emoji model draws greedily, 96.8% right, which best of 8 by its scorer does not beat:
# docs/real_pictures.md).
DEMOS = {
    "shapes": dict(candidates=8, prompts=(
        "a big red circle in the top left",
        "a small blue square at the bottom",
        "a green triangle on the right",
        "a yellow circle to the left of a purple square",
        "a white square above a red triangle",
        "a purple triangle",
    )),
    "emoji": dict(candidates=1, prompts=(
        "red apple", "grinning face", "flag: japan", "waving hand: medium skin tone", "hot pepper", "rocket",
    )),
}
DEMO_PROMPTS = DEMOS["shapes"]["prompts"]


def cmd_demo(args):
    """The main job on the embedded default: a shipped model (`--model`, default shapes) draws
    pictures for a few prompts, each the best of `--candidates` by its shipped scorer."""
    from keras_dalle import pretrained
    from keras_dalle.visualize import image_grid

    demo = DEMOS[args.model]
    candidates = args.candidates or demo["candidates"]
    model = pretrained.load_model(args.model)
    scorer = pretrained.load_scorer(args.model) if candidates > 1 else None
    prompts = list(demo["prompts"])
    pictures = model.generate(
        prompts, num_images=args.num, seed=args.seed, on_token=token_progress(len(prompts) * args.num * candidates),
        candidates=candidates, scorer=scorer,
    )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo_grid.png"
    labels = [p for p in prompts for _ in range(args.num)]
    title = f"keras_dalle {args.model} model, seed {args.seed}" + (f", best of {candidates}" if scorer else "")
    image_grid(pictures, labels, columns=args.num, title=title).save(path)
    print(f"wrote {len(pictures)} generated pictures for {len(prompts)} prompts to {path}")
    return 0


def _completion(args, model):
    """generate's image-completion arguments from --image and --keep-rows: {} or {image, keep_rows}
    (the picture resized and center-cropped to the model's size; keep_rows by default half the grid)."""
    if args.image is None:
        if args.keep_rows is not None:
            raise ValueError("--keep-rows applies to image completion: give --image too")
        return {}
    keep_rows = args.keep_rows if args.keep_rows is not None else model.grid_size // 2
    model.check_keep_rows(keep_rows)
    return {"image": read_picture(args.image, model.image_size), "keep_rows": keep_rows}


def cmd_generate(args):
    import json

    import numpy as np
    from PIL import Image

    from keras_dalle.evaluation.generation import generate_in_chunks
    from keras_dalle.visualize import image_grid

    if (args.prompt is None) == (args.prompts is None):
        raise ValueError("give either a PROMPT or --prompts FILE")
    scorer_path = args.scorer
    if args.candidates > 1 and scorer_path is None and args.model is not None:
        scorer_path = scorer_beside(args.model)
    model = load_model(args.model)
    # The shipped model reranks with the shipped scorer unless told otherwise.
    scorer = load_scorer(scorer_path) if scorer_path or args.candidates > 1 else None
    prompts = [args.prompt] if args.prompt is not None else sources.read_prompts(args.prompts)
    count = len(prompts) * args.num
    completion = _completion(args, model)
    out = pathlib.Path(args.out)
    if args.prompt is not None:
        result = model.generate(
            prompts, num_images=args.num, seed=args.seed, on_token=token_progress(count * args.candidates),
            candidates=args.candidates, scorer=scorer, return_scores=scorer is not None, **completion, **sampling_options(args),
        )
        pictures, scores = result if scorer is not None else (result, None)
        seeds = model.picture_seeds(args.seed, count)
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
    chunks = generate_in_chunks(
        model, prompts, args.num, args.seed, args.batch_prompts, candidates=args.candidates, scorer=scorer,
        return_scores=scorer is not None, **completion, **sampling_options(args),
    )
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for start, result in chunks:  # each chunk's pictures are written before the next is drawn
            pictures, scores = result if scorer is not None else (result, None)
            for offset, picture in enumerate(pictures):
                index = start * args.num + offset
                name = f"{index:05d}.png"
                Image.fromarray(picture).save(out / name)
                entry = {"prompt": prompts[index // args.num], "file": name, "seed": args.seed + index}
                if completion:
                    entry.update(image=args.image, keep_rows=completion["keep_rows"])
                if scores is not None:
                    entry["score"] = round(float(scores[offset]), 4)
                manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
            manifest.flush()
    print(f"wrote {count} pictures and manifest.jsonl to {out}")
    return 0


def _evaluate_on_data(args):
    """`evaluate --data DIR --scorer S`: CLIP score, R-precision and KID for the captions of any dataset."""
    import numpy as np

    from keras_dalle.data.loader import load_dataset
    from keras_dalle.evaluation.contrastive import evaluate_with_scorer, format_scorer_table
    from keras_dalle.evaluation.generation import generate_in_chunks

    if args.scorer is None:
        raise ValueError("evaluate --data grades pictures with a contrastive scorer: give --scorer (keras-dalle train --stage scorer)")
    if args.prompts:
        raise ValueError("give --data (its captions are the prompts) or --prompts, not both")
    model = load_model(args.model)
    scorer = load_scorer(args.scorer)
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
    generated = [pictures for _, pictures in generate_in_chunks(model, captions, args.num, args.seed, **sampling_options(args))]
    generated_captions = [c for c in captions for _ in range(args.num)]
    result = evaluate_with_scorer(scorer, images, captions, np.concatenate(generated), generated_captions, seed=args.seed)
    return _report(format_scorer_table(result), result, args.json)


def _report(table, result, json_path):
    """Prints an evaluation's table and its JSON, and writes the JSON to `json_path` if given: 0."""
    import json

    print(table)
    print(json.dumps(result))
    if json_path:
        pathlib.Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_evaluate(args):
    from keras_dalle.evaluation.generation import evaluate_model, format_table

    if args.data is not None:
        return _evaluate_on_data(args)
    if args.scorer is not None:
        raise ValueError("--scorer grades the pictures of --data captions; without --data, evaluate uses the caption checker")
    if args.prompts:
        prompts = [shapes.eval_prompt(prompt) for prompt in sources.read_prompts(args.prompts)]
    else:
        prompts = shapes.evaluation_prompts()
    model = load_model(args.model)
    summary = evaluate_model(model, prompts, num_images=args.num, seed=args.seed, **sampling_options(args))
    return _report(format_table(summary), summary, args.json)



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



def cmd_package_model(args):
    from keras_dalle import pretrained

    out = pretrained.save_for_inference(args.model, args.out, **sampling_options(args))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, no optimizer state)")
    return 0



def add_commands(commands):
    """Adds demo, generate, evaluate, package-model and check to the `keras-dalle` subparsers."""
    demo = commands.add_parser("demo", help="run the main job on the built-in default")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--num", type=positive_int, default=4, help="pictures per prompt")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--model", choices=list(DEMOS), default="shapes", help="which shipped model (default: shapes)")
    demo.add_argument("--candidates", type=positive_int, default=None,
                      help="draw N per picture, keep the best by the shipped scorer (default: 8 for shapes, 1 for emoji; 1 = plain)")
    demo.set_defaults(run=cmd_demo)

    generate = commands.add_parser("generate", help="pictures from a prompt (or a file of prompts)")
    generate.add_argument("prompt", nargs="?", default=None)
    generate.add_argument("--prompts", default=None, help="a file with one prompt per line")
    generate.add_argument("--model", default=None, help="a .keras model, or a shipped one: shapes (the default), emoji")
    generate.add_argument("--num", type=positive_int, default=4, help="pictures per prompt")
    generate.add_argument("--seed", type=int, default=0, help="picture i uses seed + i")
    generate.add_argument("--out", required=True, help="grid PNG for one prompt; a folder with --prompts")
    generate.add_argument("--batch-prompts", type=positive_int, default=32,
                          help="with --prompts: prompts drawn per call (default 32; a smaller one needs less memory). "
                               "Without --candidates the pictures are the same whatever it is")
    generate.add_argument("--candidates", type=positive_int, default=1,
                          help="draw N candidates per picture and keep the one --scorer rates best (default 1)")
    generate.add_argument("--scorer", default=None,
                          help="a trained scorer .keras (keras-dalle train --stage scorer; default: scorer.keras beside "
                               "--model, or the shipped one for the shipped model)")
    generate.add_argument("--image", default=None,
                          help="image completion: a picture (any size or mode) whose top rows the pictures keep")
    generate.add_argument("--keep-rows", type=positive_int, default=None,
                          help="with --image: rows of the token grid kept from the top (default: half the grid)")
    add_sampling_arguments(generate)
    generate.set_defaults(run=cmd_generate)

    evaluate = commands.add_parser(
        "evaluate", help="caption-checker accuracy on shapes prompts, or with --data and --scorer CLIP score, R-precision, KID"
    )
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument("--prompts", default=None, help="one prompt per line (default: the built-in evaluation set)")
    evaluate.add_argument("--data", default=None, help="any dataset the loader reads: generate for its captions")
    evaluate.add_argument("--scorer", default=None, help="with --data: the contrastive scorer that grades (not the one that reranked)")
    evaluate.add_argument("--captions", type=positive_int, default=500, help="with --data: how many of its captions")
    evaluate.add_argument("--num", type=positive_int, default=4, help="pictures per prompt")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--json", default=None, help="also write the result to this file")
    add_sampling_arguments(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    package = commands.add_parser("package-model", help="copy a trained model without optimizer state")
    package.add_argument("model")
    package.add_argument("--out", required=True)
    add_sampling_arguments(package)  # new default sampling settings, if given
    package.set_defaults(run=cmd_package_model)

    check = commands.add_parser("check", help="check a picture against a shapes-grammar caption")
    check.add_argument("image")
    check.add_argument("caption")
    check.set_defaults(run=cmd_check)
