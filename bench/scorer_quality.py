"""Scorer quality: R-precision of a contrastive scorer on real shapes pictures it never saw.

    python bench/scorer_quality.py --scorer runs/scorer/scorer.keras [--num 1000] [--seed 12345]

For each picture, its own caption competes with every caption that differs from it in exactly
one attribute (9 to 18 of them, `grammar.one_attribute_variants`); R-precision is how often the
own caption scores highest (chance: 1 in 10 to 19). Goal: >= 95%. Rows: one-object, two-object,
and pictures of the held-out color-shape pairs (which no training picture shows). Per changed
attribute: the fraction of such distractors that score below the own caption. Pictures come from
a shapes seed that the README's training runs do not use.
"""

import argparse
import collections
import json
import pathlib

import numpy as np

from keras_dalle.data import grammar, shapes
from keras_dalle.models.scorer import ContrastiveScorer
from keras_dalle.pretrained import load_keras_file
from keras_dalle.progress import progress_bar

ROOT = pathlib.Path(__file__).resolve().parent.parent
ATTRIBUTES = ("color", "shape", "size", "position", "relation")


def changed_attribute(spec, variant):
    """The one attribute in which `variant` differs from `spec`."""
    if spec.relation != variant.relation:
        return "relation"
    for a, b in zip(spec.objects, variant.objects):
        for name in ATTRIBUTES[:4]:
            if getattr(a, name) != getattr(b, name):
                return name
    raise ValueError("the variant equals the caption")


def r_precision(scorer, images, captions, progress=True):
    """{row: {"pictures", "r_precision", attribute: fraction of its distractors ranked below}} for the pictures."""
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    image_embeddings = np.concatenate([scorer.embed_images(images[i:i + 256]) for i in range(0, len(images), 256)])
    for index in progress_bar(range(len(images)), desc="ranking", unit="img", disable=not progress):
        spec = grammar.parse_caption(captions[index])
        variants = grammar.one_attribute_variants(spec)
        texts = [captions[index]] + [grammar.format_caption(v) for v in variants]
        scores = scorer.embed_text(texts) @ image_embeddings[index]  # (1 + V,)
        group = "held_out" if spec.has_held_out_pair else ("two_object" if spec.relation else "one_object")
        for row in (group, "overall"):
            rows[row]["r_precision"].append(float(scores[0] > scores[1:].max()))
            for variant, score in zip(variants, scores[1:]):
                rows[row][changed_attribute(spec, variant)].append(float(scores[0] > score))
    return {
        row: {"pictures": len(values["r_precision"]), **{k: float(np.mean(v)) for k, v in values.items()}}
        for row, values in rows.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", required=True)
    parser.add_argument("--num", type=int, default=1000, help="pictures (of the training pairs) and as many of held-out pairs")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "scorer_quality.json"))
    args = parser.parse_args()

    scorer = load_keras_file(args.scorer, expected=ContrastiveScorer)
    images, captions = shapes.generate_shapes(args.num, seed=args.seed, canvas_size=scorer.image_size)
    held = [shapes.make_sample(args.seed + 1, i, scorer.image_size, include_held_out=True) for i in range(20 * args.num)]
    held = [s for s in held if grammar.parse_caption(s.caption).has_held_out_pair][: args.num]
    images = np.concatenate([images, np.stack([s.image for s in held])])
    captions = list(captions) + [s.caption for s in held]
    result = r_precision(scorer, images, captions)
    header = f"{'pictures':12} {'n':>5} {'R-prec':>7} " + " ".join(f"{a:>9}" for a in ATTRIBUTES)
    print(f"scorer {args.scorer}: own caption vs every one-attribute change (goal: R-precision >= 95%)")
    print(header)
    for row in ("one_object", "two_object", "held_out", "overall"):
        values = result[row]
        cells = " ".join(f"{values[a]:9.1%}" if a in values else f"{'-':>9}" for a in ATTRIBUTES)
        print(f"{row:12} {values['pictures']:5d} {values['r_precision']:7.1%} {cells}")
    pathlib.Path(args.json).write_text(json.dumps({"scorer": args.scorer, "seed": args.seed, "rows": result}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
