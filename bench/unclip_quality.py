"""The unCLIP decoder's operations, judged on real pictures no training used.

    keras-dalle train --stage decoder --data shapes --out RUN --scorer SCORER --steps-per-epoch 500
    python -m bench.unclip_quality --decoder RUN/decoder.keras [--count 100] [--json PATH]
    python -m bench.unclip_quality --decoder RUN/decoder.keras --data runs/emoji32   (a folder: the variation row)

Shapes rows (the built-in shapes of seed `--seed`, which no training draws from; judged by the
caption checker):
- variation: one variation of each of `--count` pictures keeps every stated attribute of its
  caption, per group (one object, two objects); its tokens' and pixels' distance to the input,
  beside two independent pictures of the same caption (two variations of one picture under
  different seeds) so copies show.
- edit: for each attribute (color, shape, size, position), `--count` one-object pictures whose
  caption states it, each edited from its caption to the caption with that attribute changed, at
  each of `--amounts` with one seed: the result passes the new caption, and the attributes not
  edited stay right.
- interpolation: midpoints (theta 0.5) of `--count` pairs of one-object pictures whose captions
  state the same attributes: valid when every attribute holds under one of the two captions; the
  share of midpoints failing each attribute; and the median cosine of a midpoint's embedding to the
  nearest real picture's, beside a picture's to its nearest other picture (how far off the
  pictures' embeddings a midpoint lies).
`--temperature`, `--top-k`, `--top-p` and `--cfg-scale` set the sampling of the variations, edits and
interpolations (default: the decoder's saved settings); the prior rows keep each model's own.
`--candidates C` reranks the variations and edits: of C pictures drawn for each, the one whose
scorer embedding lies nearest the embedding it was drawn from (`UnCLIPDecoder.vary` / `edit`).

Folder row (`--data DIR`): one variation of each of `--count` pictures of the folder; its nearest
real picture (pixels, a slight blur) is the input's own picture, or carries its caption. With
`--held-out DIR` (the emoji folder's held-out skin tones) also variations of the held-out pictures
(`held_out_variation_row`) and the tone-edit row: each held-out "BASE: TONE" reached by a text edit
of a training picture of the same emoji in another tone, at amount 0 and each of `--amounts`
(`tone_edit_row`).

With `--prior PRIOR` (a `DiffusionPrior` on the decoder's scorer), per group of the same unseen
pictures:
- prior: the cosine of the prior's embedding for each caption to the true embedding of its
  picture, beside the caption's own text embedding (what a prior must improve on) and the prior's
  embedding against another picture of the group (chance level);
- text-to-image: pictures drawn through the prior and the decoder from the captions alone
  (`UnCLIPDecoder.draw_from_prompts`), judged by the caption checker.
With `--prior PRIOR --generator MODEL` (a `KerasDALLE`; "shapes" for the shipped one), both
text-to-image paths on the built-in evaluation prompts (`--per-group` of each group, `--num`
pictures each, the same seeds, each model's saved sampling settings), per group: the share of
pictures with every stated attribute right, and the diversity among the pictures of one prompt
(mean pixel distance, and 1 - cosine of the decoder's scorer embeddings, over every pair).
"""

import argparse
import dataclasses
import json
import pathlib
import sys

import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
import numpy as np

from keras_dalle import pretrained
from keras_dalle.data import grammar, shapes
from keras_dalle.evaluation.caption_checker import check_caption
from keras_dalle.evaluation.generation import generate_in_chunks
from keras_dalle.evaluation.nearest import NearestPictures
from keras_dalle.models.prior import DiffusionPrior
from keras_dalle.models.saving import load_keras_file
from keras_dalle.models.unclip import UnCLIPDecoder, slerp
from keras_dalle.progress import progress_bar

UNSEEN_SEED = 9_091  # the training source draws from its own seed; evaluation and tuning prompts use 2024 and 77
ATTRIBUTES = ("color", "shape", "size", "position")
SHAPES_ROWS = ("variation", "edit", "interpolation")
ALL_ROWS = (*SHAPES_ROWS, "prior", "prior-vs-generator")


def _in_batches(function, items, batch, desc, unit="pic"):
    """function(items[i : i + batch]) for each batch, concatenated, with a progress bar over the items."""
    out = []
    with progress_bar(total=len(items), desc=desc, unit=unit) as bar:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            out.append(function(chunk))
            bar.update(len(chunk))
    return np.concatenate(out)


def _pictures(count, seed, objects, size):
    pictures, captions = shapes.generate_shapes(count, seed=seed, canvas_size=size, objects=objects)
    return np.asarray(pictures), [c.decode() if isinstance(c, bytes) else c for c in captions]


def variation_row(decoder, count, seed, batch=32, candidates=1, **settings):
    """Per group: share of variations whose caption holds, and their distances to the inputs."""
    row = {}
    for group, objects in (("one_object", "1"), ("two_object", "2")):
        pictures, captions = _pictures(count, seed, objects, decoder.image_size)
        vary = lambda p, s: decoder.vary(p, num_images=1, seed=s, candidates=candidates, **settings)  # noqa: E731
        varied = _in_batches(lambda p: vary(p, seed), pictures, batch, f"variations, {group}")
        again = _in_batches(lambda p: vary(p, seed + 1), pictures, batch, f"second variations, {group}")
        tokens = lambda x: np.asarray(decoder.image_tokens(x))  # noqa: E731
        row[group] = {
            "keeps_caption": float(np.mean([check_caption(v, c).all_hold for v, c in zip(varied, captions)])),
            "token_difference_to_input": float(np.mean(tokens(varied) != tokens(pictures))),
            "token_difference_between_two_variations": float(np.mean(tokens(varied) != tokens(again))),
            "pixel_distance_to_input": float(np.mean(np.abs(varied.astype(float) - pictures))),
            "pixel_distance_between_two_variations": float(np.mean(np.abs(varied.astype(float) - again))),
            "pictures": count, "candidates": candidates,
        }
    return row


def _edited_caption(spec, attribute, rng):
    (obj,) = spec.objects
    choices = {"color": grammar.COLORS, "shape": grammar.SHAPES, "size": grammar.SIZES, "position": grammar.POSITIONS}
    others = [value for value in choices[attribute] if value != getattr(obj, attribute)]
    return dataclasses.replace(spec, objects=(dataclasses.replace(obj, **{attribute: others[rng.integers(len(others))]}),))


def edit_row(decoder, count, seed, amounts, candidates=1, **settings):
    """Per attribute and amount: share passing the new caption, and share keeping the other attributes."""
    rng = np.random.default_rng(seed)
    pictures, captions = _pictures(8 * count, seed, "1", decoder.image_size)
    row = {}
    for attribute in ATTRIBUTES:
        chosen = [i for i, c in enumerate(captions) if getattr(grammar.parse_caption(c).objects[0], attribute) is not None][:count]
        targets = [grammar.format_caption(_edited_caption(grammar.parse_caption(captions[i]), attribute, rng)) for i in chosen]
        passed, kept, alike = [], [], 0
        with progress_bar(total=len(chosen), desc=f"edits of {attribute}", unit="pic") as bar:
            for index, target in zip(chosen, targets):
                bar.update(1)
                try:
                    edited = decoder.edit(
                        pictures[index], captions[index], target, amount=list(amounts), seed=seed, candidates=candidates, **settings
                    )
                except ValueError:  # the scorer embeds both captions alike (e.g. both truncated to one text): no direction
                    alike += 1
                    continue
                results = [check_caption(picture, target) for picture in edited]
                passed.append([result.all_hold for result in results])
                kept.append([all(held for name, held in r.attributes.items() if name != attribute) for r in results])
        passed, kept = np.asarray(passed, bool).reshape(-1, len(amounts)), np.asarray(kept, bool).reshape(-1, len(amounts))
        row[attribute] = {
            f"{amount:g}": {"passes_new_caption": float(passed[:, a].mean()) if len(passed) else None,
                            "keeps_the_rest": float(kept[:, a].mean()) if len(kept) else None}
            for a, amount in enumerate(amounts)
        }
        row[attribute].update(pictures=len(passed), captions_embedded_alike=alike, candidates=candidates)
    return row


def interpolation_row(decoder, count, seed, **settings):
    """Share of midpoints (theta 0.5) where every attribute holds under one of the two captions; and
    how far the midpoints' embeddings lie from any real picture's (the median cosine to the nearest
    of the row's 8 x `count` pictures) beside a picture's own nearest other picture."""
    pictures, captions = _pictures(8 * count, seed + 1, "1", decoder.image_size)
    stated = lambda c: tuple(getattr(grammar.parse_caption(c).objects[0], a) is not None for a in ATTRIBUTES)  # noqa: E731
    pairs, used = [], set()
    for i in range(len(captions)):
        for j in range(i + 1, len(captions)):
            if len(pairs) < count and i not in used and j not in used and stated(captions[i]) == stated(captions[j]):
                pairs.append((i, j))
                used.update((i, j))
    held = []  # per pair: {attribute: it holds under one of the two captions}
    with progress_bar(total=len(pairs), desc="interpolations", unit="pair") as bar:
        for i, j in pairs:
            middle = decoder.interpolate(pictures[i], pictures[j], steps=3, seed=seed, **settings)[1]
            first, second = check_caption(middle, captions[i]), check_caption(middle, captions[j])
            held.append({a: first.attributes[a] or second.attributes[a] for a in first.attributes})
            bar.update(1)
    embeddings = decoder.image_embeddings(pictures)  # (8 x count, E)
    nearest_other = embeddings @ embeddings.T
    np.fill_diagonal(nearest_other, -1.0)
    midpoints = np.stack([slerp(embeddings[i], embeddings[j], 0.5) for i, j in pairs])  # (pairs, E)
    return {
        "valid_midpoints": float(np.mean([all(attributes.values()) for attributes in held])), "pairs": len(pairs),
        "midpoints_failing": {a: float(np.mean([not attributes.get(a, True) for attributes in held])) for a in ATTRIBUTES},
        "midpoint_nearest_picture_cosine": float(np.median((midpoints @ embeddings.T).max(axis=1))),
        "picture_nearest_other_picture_cosine": float(np.median(nearest_other.max(axis=1))),
    }


def folder_variation_row(decoder, judge, count, seed, batch=32, **settings):
    """Variations of `count` pictures of a folder (`judge`: its `NearestPictures`; seeded choice):
    nearest real picture is the input / carries its caption."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(judge.pictures), min(count, len(judge.pictures)), replace=False))
    return judge.variation_accuracy(decoder, chosen, seed, batch, progress=True, **settings)


@dataclasses.dataclass
class HeldOut:
    """What the held-out rows judge with: the training folder's `NearestPictures` (`training`), one
    over its pictures then the held-out folder's (`both`), each caption's emoji base name, and the
    held-out captions in the order `keras-dalle data emoji` listed them."""

    training: NearestPictures
    both: NearestPictures
    base_of: dict
    held_out_captions: list

    @classmethod
    def from_folders(cls, folder, held_out, size):
        """The training folder and its `keras-dalle data emoji --held-out` folder at `size` pixels."""
        from bench.emoji_quality import entries, training_and_held_out

        training, both = training_and_held_out(folder, held_out, size)
        held_entries = entries(held_out)
        base_of = {e["caption"]: e["base"] for e in entries(folder) + held_entries}
        return cls(training, both, base_of, [e["caption"] for e in held_entries])

    @property
    def indices(self):
        """The held-out pictures' indices in `both`."""
        return np.arange(len(self.training.pictures), len(self.both.pictures))


def tone_edit_row(decoder, held, amounts, seed, **settings):
    """Held-out skin tones through text edits: each held-out picture (`held`, a `HeldOut`: captions
    "BASE: TONE" no training saw) is reached from a training picture of the same emoji in another
    tone (seeded choice), edited from its caption to the held-out caption at amount 0 (its plain
    variation: the baseline) and each of `amounts`, one seed. Judged among the pictures of both
    folders: right emoji, right tone, both (as the tones row of `bench/emoji_quality.py` judges the
    generator's pictures for the same captions)."""
    from bench.emoji_quality import tone_hits

    held_captions = held.held_out_captions
    index_of = {texts[0]: i for i, texts in enumerate(held.training.captions)}
    amounts = [0.0, *amounts]
    rng = np.random.default_rng(seed)
    edited, targets = [], []
    for caption in progress_bar(held_captions, desc="tone edits", unit="pic"):
        base = held.base_of[caption]
        others = sorted(c for c, b in held.base_of.items() if b == base and c in index_of and c != caption)
        if not others:
            continue
        source = others[rng.integers(len(others))]
        picture = held.training.pictures[index_of[source]]
        edited.append(decoder.edit(picture, source, caption, amount=amounts, seed=seed, **settings))  # [A, S, S, 3]
        targets.append(caption)
    edited = np.stack(edited)  # (P, A, S, S, 3)
    row = {"pictures": len(targets), "skipped_without_a_training_variant": len(held_captions) - len(targets)}
    for column, amount in enumerate(amounts):
        right_emoji, right_tone = tone_hits(held.both, edited[:, column], targets, held.base_of)
        row[f"amount_{amount:g}"] = {"right_emoji": float(right_emoji.mean()), "right_tone": float(right_tone.mean()),
                                     "both": float((right_emoji & right_tone).mean())}
    return row


def held_out_variation_row(decoder, held, seed, batch=32, **settings):
    """One variation of each held-out picture (`held`, a `HeldOut`: pictures the decoder never saw),
    judged among the pictures of both folders: nearest its own picture, and right emoji / right
    tone as in `tone_edit_row`."""
    from bench.emoji_quality import tone_hits

    varied = held.both.variations_of(decoder, held.indices, seed, batch, progress=True, **settings)
    right_emoji, right_tone = tone_hits(held.both, varied, [held.both.captions[i][0] for i in held.indices], held.base_of)
    return {**held.both.own_picture_accuracy(varied, held.indices), "right_emoji": float(right_emoji.mean()),
            "right_tone": float(right_tone.mean()), "both": float((right_emoji & right_tone).mean())}


def prior_row(decoder, prior, count, seed, batch=32):
    """Per group: mean cosines of the prior's embeddings (and of the captions' text embeddings) to
    the true image embeddings of unseen pictures; and the caption checker on text-to-image through
    prior and decoder."""
    scorer = decoder.scorer
    row = {}
    for group, objects in (("one_object", "1"), ("two_object", "2")):
        pictures, captions = _pictures(count, seed, objects, decoder.image_size)
        truth = _in_batches(scorer.embed_images, pictures, batch, f"image embeddings, {group}")
        drawn = _in_batches(lambda c: prior.sample(list(c), seed=seed), np.asarray(captions, object), batch, f"prior, {group}")
        text = scorer.embed_text(captions)
        # What `decoder.draw_from_prompts(captions, prior, seed=seed)` draws, batch by batch, from
        # the embeddings the prior drew above (the same seeds), so the prior samples once.
        drawn_pictures = _in_batches(
            lambda rows: decoder.draw_from_embeddings(drawn[rows], [captions[i] for i in rows], 1, seed), np.arange(count),
            batch, f"text-to-image through the prior, {group}",
        )
        row[group] = {
            "prior_to_image_cosine": float(np.mean(np.sum(drawn * truth, axis=1))),
            "text_to_image_cosine": float(np.mean(np.sum(text * truth, axis=1))),
            "prior_to_another_image_cosine": float(np.mean(np.sum(drawn * np.roll(truth, 1, axis=0), axis=1))),
            "text_to_image_through_prior_passes_caption": float(
                np.mean([check_caption(p, c).all_hold for p, c in zip(drawn_pictures, captions)])
            ),
            "pictures": count,
        }
    return row


def _diversity(pictures, embeddings, num):
    """Mean pixel distance and embedding distance (1 - cosine) over every pair of pictures of one
    prompt; pictures [P * num, S, S, 3] and unit embeddings [P * num, E], the pictures of one prompt together."""
    pictures = pictures.reshape(-1, num, *pictures.shape[1:]).astype(np.float32)
    embeddings = embeddings.reshape(-1, num, embeddings.shape[-1])
    pairs = [(a, b) for a in range(num) for b in range(a + 1, num)]
    return {
        "pixel_distance_within_prompt": float(np.mean([np.abs(pictures[:, a] - pictures[:, b]).mean() for a, b in pairs])),
        "embedding_distance_within_prompt": float(np.mean([1.0 - np.sum(embeddings[:, a] * embeddings[:, b], -1) for a, b in pairs])),
    }


def prior_vs_generator_row(decoder, prior, generator, per_group, num, seed, batch_prompts=16):
    """Per evaluation group, for the direct generator and for prior + decoder on the same prompts
    and seeds: the share of pictures passing their prompt, and the diversity within a prompt."""
    if num < 2:
        raise ValueError("the diversity within a prompt needs --num >= 2")
    prompts = shapes.evaluation_prompts(per_group=per_group)
    texts = [item.prompt for item in prompts]
    drawn = {
        "generator": np.concatenate([pictures for _, pictures in generate_in_chunks(generator, texts, num, seed, batch_prompts)]),
        "prior_and_decoder": _in_batches(
            lambda rows: decoder.draw_from_prompts([texts[i] for i in rows], prior, num, seed + int(rows[0]) * num),
            np.arange(len(texts)), batch_prompts, "text-to-image through the prior", unit="prompt",
        ),
    }
    groups = np.repeat([item.group for item in prompts], num)
    row = {}
    for path, pictures in drawn.items():
        passes = np.asarray([check_caption(picture, texts[i // num]).all_hold for i, picture in enumerate(pictures)])
        embeddings = _in_batches(decoder.scorer.embed_images, pictures, 64, f"embeddings, {path}")
        row[path] = {
            group: {"passes_caption": float(passes[groups == group].mean()),
                    **_diversity(pictures[groups == group], embeddings[groups == group], num),
                    "pictures": int((groups == group).sum())}
            for group in shapes.EVAL_GROUPS
        }
    row.update(prompts_per_group=per_group, pictures_per_prompt=num, sampling={
        "generator": generator.sampling_defaults(), "prior_and_decoder": decoder.sampling_defaults()})
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", required=True)
    parser.add_argument("--data", default=None, help="a folder of captioned pictures: the variation row on it instead")
    parser.add_argument("--held-out", default=None,
                        help="with --data, its `keras-dalle data emoji --held-out` folder: the tone-edit row as well")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=UNSEEN_SEED)
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--prior", default=None, help="a trained DiffusionPrior: its rows on the shapes pictures")
    parser.add_argument("--generator", default=None,
                        help="with --prior: a text-to-image model (\"shapes\": the shipped one) to compare text-to-image against")
    parser.add_argument("--per-group", type=int, default=100, help="evaluation prompts per group for --generator (100: all 400)")
    parser.add_argument("--num", type=int, default=2, help="pictures per prompt for --generator")
    parser.add_argument("--rows", default=None, help=f"comma-separated, of {','.join(ALL_ROWS)} (default: the shapes rows, "
                        "the prior row with --prior, the comparison with --generator)")
    for name, kind in (("temperature", float), ("top-k", int), ("top-p", float), ("cfg-scale", float)):
        parser.add_argument(f"--{name}", type=kind, default=None,
                            help="for variations, edits and interpolations (default: the decoder's saved setting)")
    parser.add_argument("--candidates", type=int, default=1,
                        help="variations and edits: keep, of this many drawn, the one whose embedding lies nearest its target")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    settings = {name: value for name, value in (("temperature", args.temperature), ("top_k", args.top_k),
                                                ("top_p", args.top_p), ("cfg_scale", args.cfg_scale)) if value is not None}
    if args.prior and args.data:
        parser.error("--prior measures on the shapes pictures: give it without --data")
    if args.held_out and not args.data:
        parser.error("--held-out goes with --data (the folder its pictures were held out of)")
    rows = args.rows.split(",") if args.rows else [*SHAPES_ROWS, *(["prior"] if args.prior else []), *(["prior-vs-generator"] if args.generator else [])]
    unknown = [row for row in rows if row not in ALL_ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {','.join(ALL_ROWS)}")
    if any(row.startswith("prior") for row in rows) and not args.prior:
        parser.error("the prior rows need --prior")
    if "prior-vs-generator" in rows and not args.generator:
        parser.error("the prior-vs-generator row needs --generator")
    decoder = load_keras_file(args.decoder, expected=UnCLIPDecoder)
    if args.data:
        held = HeldOut.from_folders(args.data, args.held_out, decoder.image_size) if args.held_out else None
        judge = held.training if held else NearestPictures.from_folder(args.data, decoder.image_size)
        results = {"folder_variation": folder_variation_row(decoder, judge, args.count, args.seed, **settings)}
        if held:
            results["held_out_variation"] = held_out_variation_row(decoder, held, args.seed, **settings)
            results["tone_edit"] = tone_edit_row(decoder, held, args.amounts, args.seed, **settings)
    else:
        prior = load_keras_file(args.prior, expected=DiffusionPrior) if args.prior else None
        measures = {
            "variation": lambda: variation_row(decoder, args.count, args.seed, candidates=args.candidates, **settings),
            "edit": lambda: edit_row(decoder, args.count, args.seed, args.amounts, candidates=args.candidates, **settings),
            "interpolation": lambda: interpolation_row(decoder, args.count, args.seed, **settings),
            "prior": lambda: prior_row(decoder, prior, args.count, args.seed),
            "prior-vs-generator": lambda: prior_vs_generator_row(
                decoder, prior, pretrained.load_model(args.generator), args.per_group, args.num, args.seed),
        }
        results = {row.replace("-", "_"): measures[row]() for row in rows}
    results["command"] = "python -m bench.unclip_quality " + " ".join(sys.argv[1:] if argv is None else argv)
    print(json.dumps(results, indent=2))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
