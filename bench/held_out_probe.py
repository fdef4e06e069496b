"""Why pictures of held-out color-shape pairs fail: three measurements on a text-to-image model.

    python -m bench.held_out_probe [--model M.keras] [--num 4] [--train-pictures 20000] [--probe-pictures 64]

1. Token coverage: is the image tokenizer the limit? For pictures of each held-out pair (never in
   training), the share of their image tokens that training pictures use fewer than 1 / 50 times.
   A code the generator never saw as a target would get almost no probability.
2. The evaluation table's held-out column split by object count: the 400 evaluation prompts with
   the model's defaults, exactly as `bench/generation_quality.py` draws them (same prompt order,
   same seeds), so the two rows add up to its held-out figure.
3. Text-state splicing: is the text encoder's mixing of "purple" into "triangle" what the
   generator cannot read? For "a C S" with (C, S) held out, the states of the color word are
   taken from "a C S2" and those of the shape word from "a C2 S" (training pairs whose words
   sit at the same byte positions), and pictures are drawn from the spliced states. If the
   held-out states were the problem, splicing in training-pair states would help.
"""

import argparse
import dataclasses

import numpy as np
import tensorflow as tf

from keras_dalle import pretrained
from keras_dalle.data import grammar, shapes
from keras_dalle.evaluation.caption_checker import check_caption
from keras_dalle.evaluation.generation import evaluate_model, format_table
from keras_dalle.sampling import TextConditioning, TokenSampler

# Held-out prompt -> (donor of the color word's states, donor of the shape word's states): training
# pairs whose color / shape word starts at the same byte as in the held-out prompt.
SPLICE_DONORS = {
    "a purple triangle": ("a purple circle", "a yellow triangle"),
    "a orange circle": ("a orange square", "a purple circle"),
    "a cyan square": ("a cyan circle", "a blue square"),
    "a white triangle": ("a white circle", "a green triangle"),
}


def image_tokens(model, images, batch=256):
    """Image tokens int [P, N] of uint8 pictures, `batch` at a time."""
    return np.concatenate([np.asarray(model.image_tokens(images[i : i + batch])) for i in range(0, len(images), batch)])


def pair_pictures(pair, count, seed=7):
    """`count` one-object pictures of a (color, shape) pair, drawn from the generator with held-out pairs on."""
    pictures, index = [], 0
    while len(pictures) < count:
        sample = shapes.make_sample(seed, index, objects="1", include_held_out=True)
        index += 1
        if (sample.objects[0].color, sample.objects[0].shape) == pair:
            pictures.append(sample.image)
    return np.stack(pictures)


def token_coverage(model, train_pictures):
    """Per held-out pair: the share of its pictures' tokens that training pictures use < 1 and < 50 times."""
    images, _ = shapes.generate_shapes(train_pictures, seed=0)
    counts = np.bincount(image_tokens(model, images).ravel(), minlength=model.codebook_size)
    print(f"\n1. token coverage: codes used by {train_pictures} training pictures: {(counts > 0).sum()} of {len(counts)}")
    print(f"{'pair':20} {'unseen':>8} {'seen < 50':>10}")
    for pair in sorted(grammar.HELD_OUT_PAIRS):
        seen = counts[image_tokens(model, pair_pictures(pair, 200)).ravel()]
        print(f"{' '.join(pair):20} {np.mean(seen == 0):8.1%} {np.mean(seen < 50):10.1%}")


def held_out_by_object_count(model, num):
    """The evaluation table with the held-out group split into one- and two-object prompts."""
    def regroup(item):
        if item.group != "held_out":
            return item
        count = len(grammar.parse_caption(item.prompt).objects)
        return dataclasses.replace(item, group=f"held_out, {count} object{'s' if count > 1 else ''}")

    prompts = [regroup(item) for item in shapes.evaluation_prompts()]
    summary = evaluate_model(model, prompts, num_images=num, seed=0, **model.sampling_defaults())
    print(f"\n2. evaluation prompts x {num} pictures, the model's defaults; fraction right")
    print(format_table(summary))


def _text_states(model, prompt):
    return model.text_encoder(model.text_tokenizer(tf.constant([prompt])))[0].numpy()  # (L, D)


def spliced_states(model, prompt, color_donor, shape_donor):
    """The prompt's text states [L, D] with its color word's states from `color_donor` and its
    shape word's from `shape_donor` (one byte per text position, the words at the same bytes)."""
    _, color, shape = prompt.split()
    states = _text_states(model, prompt)
    for word, donor in ((color, color_donor), (shape, shape_donor)):
        start = prompt.index(word)
        if donor.find(word) != start:
            raise ValueError(f"{word!r} must start at byte {start} of {donor!r}")
        states[start : start + len(word)] = _text_states(model, donor)[start : start + len(word)]
    return states


class SplicedTextEncoder:
    """The model's text encoder, except that rows whose ids are `prompt_ids` [L] get `states` [L, D]."""

    def __init__(self, text_encoder, prompt_ids, states):
        self.text_encoder = text_encoder
        self.prompt_ids = tf.constant(prompt_ids)
        self.states = tf.constant(states)

    def __call__(self, ids, training=None):
        match = tf.reduce_all(ids == self.prompt_ids[None], axis=-1)  # (B,)
        return tf.where(match[:, None, None], self.states[None], self.text_encoder(ids))  # (B, L, D)


def splice_probe(model, pictures):
    """Caption-checker accuracy of held-out prompts from their own and from spliced text states."""
    print(f"\n3. text-state splicing: {pictures} pictures per prompt, the model's defaults; fraction right")
    print(f"{'prompt':20} {'own states':>11} {'spliced':>9}  donors (color word, shape word)")
    own_sampler = model.sampler
    try:
        for prompt, donors in SPLICE_DONORS.items():
            fractions = []
            for spliced in (False, True):
                if spliced:
                    prompt_ids = model.text_tokenizer(tf.constant([prompt]))[0]
                    encoder = SplicedTextEncoder(model.text_encoder, prompt_ids, spliced_states(model, prompt, *donors))
                    model.sampler = TokenSampler(TextConditioning(encoder, model.text_tokenizer.null_ids), model.generator)
                drawn = np.asarray(model.generate([prompt] * pictures, seed=0))
                fractions.append(np.mean([check_caption(picture, prompt).all_hold for picture in drawn]))
                model.sampler = own_sampler
            print(f"{prompt:20} {fractions[0]:11.1%} {fractions[1]:9.1%}  {donors[0]!r}, {donors[1]!r}")
    finally:
        model.sampler = own_sampler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--num", type=int, default=4, help="pictures per evaluation prompt")
    parser.add_argument("--train-pictures", type=int, default=20000)
    parser.add_argument("--probe-pictures", type=int, default=64)
    args = parser.parse_args()
    model = pretrained.load_model(args.model)
    token_coverage(model, args.train_pictures)
    held_out_by_object_count(model, args.num)
    splice_probe(model, args.probe_pictures)


if __name__ == "__main__":
    main()
