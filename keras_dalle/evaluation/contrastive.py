"""Evaluation on any captioned dataset with a contrastive scorer: CLIP score, CLIP-R-precision, KID.

`keras-dalle evaluate --data DIR --scorer S` generates one picture per caption of DIR and reports,
beside the same numbers for DIR's real pictures (the ceiling):
- CLIP score: the mean cosine of (picture, its caption).
- CLIP-R-precision: how often a picture's own caption ranks first among itself and
  `DISTRACTORS` others: for captions of the shapes grammar every caption that differs in one
  attribute (9 to 18 of them), otherwise other captions of the dataset, drawn with a seed.
- KID: the kernel inception distance of generated against real pictures, computed on the
  scorer's image embeddings: the unbiased estimator of the squared MMD with the polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with its standard deviation.

Grade a model with a scorer other than the one that reranked it, or reranking grades itself.
"""

import numpy as np

from keras_dalle.data import grammar

DISTRACTORS = 99


def clip_score(image_embeddings, text_embeddings):
    """Mean cosine of row i of unit image embeddings [B, E] with row i of unit text embeddings [B, E]."""
    return float(np.mean(np.sum(image_embeddings * text_embeddings, axis=1)))


def distractor_captions(captions, seed=0, count=DISTRACTORS):
    """For each caption, the captions it competes with in R-precision (see the module docstring)."""
    try:
        specs = [grammar.parse_caption(c) for c in captions]
    except grammar.CaptionError:
        specs = None
    if specs is not None:
        return [[grammar.format_caption(v) for v in grammar.one_attribute_variants(s)][:count] for s in specs]
    pool = sorted(set(captions))
    if len(pool) < 2:
        raise ValueError("R-precision needs at least two different captions")
    rng = np.random.default_rng(seed)
    result = []
    for caption in captions:
        others = [c for c in pool if c != caption]
        result.append([others[i] for i in rng.choice(len(others), min(count, len(others)), replace=False)])
    return result


def r_precision(scorer, image_embeddings, captions, distractors):
    """Fraction of pictures whose own caption scores above every one of its distractors (each
    distinct caption embedded once)."""
    texts = sorted(set(captions).union(*map(set, distractors)))
    row = {text: i for i, text in enumerate(texts)}
    text_embeddings = embed_in_chunks(scorer.embed_text, texts)  # (T, E)
    hits = []
    for embedding, caption, others in zip(image_embeddings, captions, distractors):
        scores = text_embeddings[[row[caption], *(row[o] for o in others)]] @ embedding  # (1 + D,)
        hits.append(scores[0] > scores[1:].max())
    return float(np.mean(hits))


def polynomial_kernel(x, y):
    """(x.y / d + 1)^3 for rows of x [m, d] and y [n, d] -> [m, n] (KID's kernel)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kernel_inception_distance(real, fake, subsets=100, subset_size=1000, seed=0):
    """Unbiased MMD^2 between feature sets real [m, d] and fake [n, d] with `polynomial_kernel`:
    (mean, standard deviation) over `subsets` random subsets of min(subset_size, m, n) rows each."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least two real and two generated pictures")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)].astype(np.float64)
        y = fake[rng.choice(len(fake), size, replace=False)].astype(np.float64)
        k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        off_diagonal = size * (size - 1)
        values.append(
            (k_xx.sum() - np.trace(k_xx)) / off_diagonal + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
            - 2 * k_xy.mean()
        )
    return float(np.mean(values)), float(np.std(values))


def embed_in_chunks(embed, items, chunk=512):
    """`embed` (a scorer's embed_images or embed_text) over `items` in chunks: [len(items), E]."""
    return np.concatenate([embed(items[i:i + chunk]) for i in range(0, len(items), chunk)])


def evaluate_with_scorer(scorer, real_images, real_captions, generated_images, generated_captions, seed=0):
    """CLIP score and R-precision of generated and of real pictures (each with its caption), and
    KID between the two sets. Returns {"generated": {...}, "real": {...}, "kid", "kid_std", ...}."""
    result = {"real_pictures": len(real_captions), "generated_pictures": len(generated_captions)}
    features = {}
    for name, images, captions in (("generated", generated_images, generated_captions), ("real", real_images, real_captions)):
        distractors = distractor_captions(list(captions), seed)
        embeddings = embed_in_chunks(scorer.embed_images, images)
        features[name] = embeddings
        result[name] = {
            "clip_score": clip_score(embeddings, embed_in_chunks(scorer.embed_text, list(captions))),
            "r_precision": r_precision(scorer, embeddings, captions, distractors),
            "distractors": float(np.mean([len(d) for d in distractors])),
        }
    result["kid"], result["kid_std"] = kernel_inception_distance(features["real"], features["generated"], seed=seed)
    return result


def format_scorer_table(result):
    """A text table of `evaluate_with_scorer`'s result."""
    rows = [(name, result[name], result[f"{name}_pictures"]) for name in ("generated", "real")]
    return "\n".join([
        f"{'pictures':10} {'count':>6} {'CLIP score':>10} {'R-precision':>12} {'distractors':>12}",
        *(f"{name:10} {count:6d} {row['clip_score']:10.3f} {row['r_precision']:12.1%} {row['distractors']:12.1f}"
          for name, row, count in rows),
        f"KID (generated vs real, on the scorer's image embeddings): {result['kid']:.4f} +- {result['kid_std']:.4f}",
    ])
