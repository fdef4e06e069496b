"""Quality on the built-in emoji folder: the tokenizer, the generator on training captions, the
held-out skin tones, and best of N by the folder's own scorer, each judged by the nearest real picture.

    keras-dalle data emoji --out runs/emoji32 --held-out runs/emoji32_held
    keras-dalle train --stage all --data runs/emoji32 --out runs/emoji32_run --preset small
    python -m bench.emoji_quality --data runs/emoji32 --held-out runs/emoji32_held --run runs/emoji32_run

Rows (`--rows`, default all that the run folder has models for):
- tokenizer: PSNR of the held-out pictures' reconstructions (pictures the tokenizer never saw),
  and how often a reconstruction's nearest real picture (training and held-out pictures) is its
  own picture; the training pictures' figures beside them.
- generator: `--captions` training captions (seeded), `--num` pictures each at the model's
  sampling defaults: the nearest real picture is the prompted emoji (top-1 / top-5).
- tones: each held-out skin-tone caption, `--num` pictures: the nearest real picture has the
  prompted emoji's base name (right emoji), and among that emoji's tone variants the nearest is
  the held-out one (right tone); both together.
- best-of: the generator row again, each picture the best of `--candidates` by RUN/scorer.keras,
  beside candidate 0 alone (plain sampling) and the oracle (any candidate right).
`--grid PATH` draws 16 of the training captions, the real emoji and 4 generated pictures each.
`--temperature`, `--top-k`, `--cfg-scale` replace the model's sampling defaults in every row.
Prints each row and writes `--json`.
"""

import argparse
import json
import pathlib
import time

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import numpy as np

from keras_dalle import pretrained
from keras_dalle.data import emoji
from keras_dalle.evaluation.generation import generate_in_chunks
from keras_dalle.evaluation.nearest import NearestPictures
from keras_dalle.models.image_tokenizer import ImageTokenizer, psnr
from keras_dalle.progress import progress_bar
from keras_dalle.training import stages

ROWS = ("tokenizer", "generator", "tones", "best-of")


def entries(folder):
    """The entries of a folder `keras-dalle data emoji` wrote (file, caption, base name, tones)."""
    return json.loads((pathlib.Path(folder) / emoji.INFO_FILE).read_text(encoding="utf-8"))["entries"]


def training_and_held_out(folder, held_out, size):
    """(the training folder's `NearestPictures`, one over its pictures then the held-out folder's): the
    judge of every row, so a picture of a held-out tone can be nearest its own real picture."""
    train_judge = NearestPictures.from_folder(folder, size)
    held_judge = NearestPictures.from_folder(held_out, size)
    both = NearestPictures(np.concatenate([train_judge.pictures, held_judge.pictures]), train_judge.captions + held_judge.captions)
    return train_judge, both


def _reconstructions(tokenizer, pictures, batch=256):
    return np.concatenate([np.asarray(tokenizer.decode(tokenizer.encode(pictures[i : i + batch]))) for i in range(0, len(pictures), batch)])


def tokenizer_row(tokenizer, judge, train_count):
    """PSNR and own-nearest rate for held-out pictures (indices >= train_count) and training ones."""
    pictures = judge.pictures
    rebuilt = _reconstructions(tokenizer, pictures)
    own = judge.nearest(rebuilt, k=1)[:, 0] == np.arange(len(pictures))
    row = {}
    for name, part in (("held_out", slice(train_count, None)), ("training", slice(0, train_count))):
        row[f"{name}_psnr"] = float(psnr(pictures[part], rebuilt[part]))
        row[f"{name}_own_nearest"] = float(own[part].mean())
        row[f"{name}_pictures"] = int(own[part].size)
    return row


def _generate(model, prompts, num, seed, **options):
    return np.concatenate([p for _, p in generate_in_chunks(model, prompts, num, seed, **options)])


def generator_row(model, judge, prompts, num, seed, **options):
    pictures = _generate(model, prompts, num, seed, **options)
    asked = [p for p in prompts for _ in range(num)]
    return {**judge.accuracy(pictures, asked, k=5), "pictures": len(pictures)}, pictures


def best_of_row(model, scorer, judge, prompts, num, candidates, seed, batch_prompts=8, **options):
    """Best of `candidates` by `scorer`, beside candidate 0 (plain sampling) and the oracle (any
    candidate right: what a perfect reranker would reach), all from one set of candidates: for each
    chunk the pictures `generate(chunk, num, seed=s, candidates=C, scorer=scorer)` chooses among."""
    kept_hits, first_hits, any_hits = [], [], []
    with progress_bar(total=len(prompts) * num * candidates, desc="candidates", unit="img") as bar:
        for start in range(0, len(prompts), batch_prompts):
            chunk = prompts[start : start + batch_prompts]
            pictures = model.generate(chunk * candidates, num_images=num, seed=seed + start * num, **options)
            asked = [p for p in chunk * candidates for _ in range(num)]
            hits = judge.hits(pictures, asked, k=5).reshape(candidates, -1, 5)  # (C, pictures, k)
            best = scorer.score(pictures, asked).reshape(candidates, -1).argmax(axis=0)
            kept_hits.append(hits[best, np.arange(hits.shape[1])])
            first_hits.append(hits[0])
            any_hits.append(hits[:, :, 0].any(axis=0))
            bar.update(len(pictures))
    kept, first, oracle = np.concatenate(kept_hits), np.concatenate(first_hits), np.concatenate(any_hits)
    return {"top1": float(kept[:, 0].mean()), "top5": float(kept.any(axis=1).mean()), "candidate_0_top1": float(first[:, 0].mean()),
            "oracle_top1": float(oracle.mean()), "pictures": len(kept), "candidates": candidates}


def tone_hits(judge, pictures, prompts, base_of):
    """Bool arrays (right emoji, right tone) for pictures drawn for skin-tone captions `prompts`
    (`base_of`: caption -> the emoji's base name): the nearest real picture has the prompt's base
    name; among that emoji's variants (every tone) the nearest is the prompt's own picture."""
    nearest = judge.nearest(pictures, k=1)[:, 0]
    first_captions = [c[0] for c in judge.captions]
    right_emoji, right_tone = [], []
    for picture, prompt, index in zip(pictures, prompts, nearest):
        right_emoji.append(base_of.get(first_captions[index]) == base_of[prompt])
        variants = [i for i, c in enumerate(first_captions) if base_of.get(c) == base_of[prompt]]
        sub = NearestPictures(judge.pictures[variants], [judge.captions[i] for i in variants])
        right_tone.append(bool(sub.hits(picture[None], [prompt], k=1)[0, 0]))
    return np.array(right_emoji), np.array(right_tone)


def tones_row(model, judge, held_entries, train_entries, num, seed, **options):
    """Right emoji (nearest real picture has the base name) and right tone (nearest among the base's variants)."""
    base_of = {e["caption"]: e["base"] for e in train_entries + held_entries}
    prompts = [e["caption"] for e in held_entries]
    pictures = _generate(model, prompts, num, seed, **options)
    right_emoji, right_tone = tone_hits(judge, pictures, [p for p in prompts for _ in range(num)], base_of)
    return {"right_emoji": float(right_emoji.mean()), "right_tone": float(right_tone.mean()),
            "both": float((right_emoji & right_tone).mean()), "pictures": len(pictures)}


def draw_grid(model, judge, prompts, path, seed, **options):
    """A grid: for each prompt its real emoji, then 4 generated pictures."""
    from keras_dalle.visualize import image_grid

    real = {texts[0]: picture for texts, picture in zip(judge.captions, judge.pictures)}
    generated = _generate(model, prompts, 4, seed, **options)
    tiles, labels = [], []
    for index, prompt in enumerate(prompts):
        tiles += [real[prompt], *generated[4 * index : 4 * index + 4]]
        labels += [f"real: {prompt}"] + [f"seed {seed + 4 * index + j}" for j in range(4)]
    settings = {**model.sampling_defaults(), **options}
    title = f"{model.image_size} px, generated for training captions ({', '.join(f'{k} {v}' for k, v in settings.items())})"
    image_grid(np.stack(tiles), labels, columns=5, title=title).save(path)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the training folder `keras-dalle data emoji` wrote")
    parser.add_argument("--held-out", required=True, help="its --held-out folder")
    parser.add_argument("--run", required=True, help="the run folder (image_tokenizer.keras, keras_dalle.keras, scorer.keras)")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--captions", type=int, default=500)
    parser.add_argument("--num", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--grid", default=None, help="also draw 16 training captions, 4 pictures each, beside the real emoji, to this PNG")
    parser.add_argument("--temperature", type=float, default=None, help="sampling settings (default: the model's)")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--cfg-scale", type=float, default=None)
    args = parser.parse_args()
    run = pathlib.Path(args.run)
    rows = args.rows.split(",")
    train_entries, held_entries = entries(args.data), entries(args.held_out)
    size = json.loads((pathlib.Path(args.data) / emoji.INFO_FILE).read_text(encoding="utf-8"))["size"]
    train_judge, judge = training_and_held_out(args.data, args.held_out, size)
    result = {"data": args.data, "held_out": args.held_out, "run": str(run), "pictures": len(train_judge.pictures),
              "held_out_pictures": len(judge.pictures) - len(train_judge.pictures)}
    sampling = {key: value for key, value in
                (("temperature", args.temperature), ("top_k", args.top_k), ("cfg_scale", args.cfg_scale)) if value is not None}
    result["sampling"] = sampling
    start = time.monotonic()
    if "tokenizer" in rows and (run / stages.TOKENIZER_FILE).is_file():
        tokenizer = pretrained.load_keras_file(run / stages.TOKENIZER_FILE, expected=ImageTokenizer)
        result["tokenizer"] = tokenizer_row(tokenizer, judge, len(train_judge.pictures))
        print("tokenizer", result["tokenizer"], flush=True)
    if (run / stages.MODEL_FILE).is_file():
        model = pretrained.load_model(run / stages.MODEL_FILE)
        prompts = train_judge.tuning_prompts(count=args.captions, seed=args.seed + 1)
        if "generator" in rows:
            result["generator"], _ = generator_row(model, judge, prompts, args.num, args.seed, **sampling)
            print("generator", result["generator"], flush=True)
        if "tones" in rows:
            result["tones"] = tones_row(model, judge, held_entries, train_entries, args.num, args.seed, **sampling)
            print("tones", result["tones"], flush=True)
        if "best-of" in rows and (run / stages.SCORER_FILE).is_file():
            scorer = pretrained.load_scorer(run / stages.SCORER_FILE)
            result["best_of"] = best_of_row(model, scorer, judge, prompts, args.num, args.candidates, args.seed, **sampling)
            print("best-of", result["best_of"], flush=True)
        if args.grid:
            draw_grid(model, train_judge, prompts[:: max(1, len(prompts) // 16)][:16], args.grid, args.seed, **sampling)
    result["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(result, indent=1))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
