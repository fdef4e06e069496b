"""Model sizes as data. `tiny` is for tests, `small` for the shapes default, `small64` for 64-pixel
pictures on a CPU, `base` for real data on a GPU.

Each preset has one dict per trainable stage, whose keys are constructor arguments, and the
stages' (peak) learning rates. This is the one place sizes are written: the constructors have no
size defaults and the CLI's choices come from here.
"""

import copy

PRESETS = {
    "tiny": {
        "image_tokenizer": dict(
            image_size=16,
            downsample_factor=4,
            channels=(8, 16),
            transformer_layers=1,
            transformer_heads=2,
            transformer_width=16,
            codebook_size=32,
            code_dim=8,
            discriminator_channels=(8, 16),
            adversarial_start=0,
        ),
        "text_to_image": dict(
            text_length=24,
            text_width=16,
            text_layers=1,
            text_heads=2,
            width=16,
            generator_layers=2,
            generator_heads=2,
            image_grid_positions=True,
            discriminator_channels=(8, 16),
            adversarial_start=0,
        ),
        "scorer": dict(
            image_size=16,
            downsample_factor=4,
            channels=(8, 16),
            image_layers=1,
            image_heads=2,
            image_width=16,
            text_length=24,
            text_width=16,
            text_layers=1,
            text_heads=2,
            embed_dim=16,
        ),
        "prior": dict(width=16, num_layers=1, num_heads=2),
        "learning_rates": {"image_tokenizer": 1e-3, "text_to_image": 1e-3, "scorer": 1e-3, "prior": 1e-3},
    },
    "small": {
        "image_tokenizer": dict(
            image_size=32,
            downsample_factor=4,
            channels=(32, 64),
            transformer_layers=2,
            transformer_heads=4,
            transformer_width=64,
            codebook_size=512,
            code_dim=32,
            # No adversarial term at 32 px: at equal training time it lost on held-out pictures of
            # both the shapes (41.05 vs 38.51 dB, docs/results.md) and the emoji folder (own picture
            # nearest 96.0% vs 92.3%, docs/real_pictures.md). `--adversarial-weight 0.1` turns it on.
            adversarial_weight=0.0,
            discriminator_channels=(32, 64),
            adversarial_start=1000,
        ),
        "text_to_image": dict(
            text_length=64,
            text_width=128,
            text_layers=2,
            text_heads=4,
            width=192,
            generator_layers=6,
            generator_heads=6,
            image_grid_positions=True,
            # No adversarial term by default: on the shapes it made no measurable difference and cost
            # 25% more time a step (docs/experiments.md; the shipped shapes model trains without it),
            # on the emoji folder 1.3 s a step against 0.72; `small64`'s generator, without it,
            # draws 94.8% of the emoji folder's training captions. `--adversarial-weight 0.05` turns it on.
            adversarial_weight=0.0,
            discriminator_channels=(32, 64),
            adversarial_start=1000,
            # Default sampling settings, chosen on the shapes tuning prompts (bench/sampling_sweep.py):
            # the shipped model's, and what the per-epoch tuning accuracy samples with.
            temperature=0.8,
            top_k=16,
            cfg_scale=1.5,
        ),
        "scorer": dict(
            image_size=32,
            downsample_factor=4,
            channels=(32, 64),
            image_layers=2,
            image_heads=4,
            image_width=128,
            text_length=64,
            text_width=128,
            text_layers=2,
            text_heads=4,
            embed_dim=128,
        ),
        "prior": dict(width=256, num_layers=6, num_heads=8),
        "learning_rates": {"image_tokenizer": 1e-3, "text_to_image": 1e-3, "scorer": 1e-3, "prior": 3e-4},
    },
    # 64-pixel pictures within about 3 hours of this 2-core CPU for all three stages: the tokenizer
    # halves three times (8 x 8 tokens of 8 x 8 pixels, so the generator's sequence is `small`'s),
    # a narrow first level (64 x 64 x 16 costs about what `small`'s 32 x 32 x 32 does: 0.7 s a step
    # on one core), twice `small`'s codes; the generator is `small`'s.
    "small64": {
        "image_tokenizer": dict(
            image_size=64,
            downsample_factor=8,
            channels=(16, 32, 64),
            transformer_layers=2,
            transformer_heads=4,
            transformer_width=64,
            codebook_size=1024,
            code_dim=32,
            adversarial_weight=0.0,
            discriminator_channels=(16, 32, 64),
            adversarial_start=1000,
        ),
        "text_to_image": dict(
            text_length=64,
            text_width=128,
            text_layers=2,
            text_heads=4,
            width=192,
            generator_layers=6,
            generator_heads=6,
            image_grid_positions=True,
            adversarial_weight=0.0,
            discriminator_channels=(16, 32, 64),
            adversarial_start=1000,
            temperature=0.8,
            top_k=16,
            cfg_scale=1.5,
        ),
        "scorer": dict(
            image_size=64,
            downsample_factor=8,
            channels=(16, 32, 64),
            image_layers=2,
            image_heads=4,
            image_width=128,
            text_length=64,
            text_width=128,
            text_layers=2,
            text_heads=4,
            embed_dim=128,
        ),
        "prior": dict(width=256, num_layers=6, num_heads=8),
        "learning_rates": {"image_tokenizer": 1e-3, "text_to_image": 1e-3, "scorer": 1e-3, "prior": 3e-4},
    },
    "base": {
        "image_tokenizer": dict(
            image_size=64,
            downsample_factor=4,
            channels=(64, 128),
            transformer_layers=4,
            transformer_heads=8,
            transformer_width=256,
            codebook_size=1024,
            code_dim=32,
            discriminator_channels=(64, 128),
            adversarial_start=5000,
        ),
        "text_to_image": dict(
            text_length=96,
            text_width=256,
            text_layers=4,
            text_heads=8,
            width=512,
            generator_layers=12,
            generator_heads=8,
            image_grid_positions=True,
            discriminator_channels=(64, 128),
            adversarial_start=5000,
        ),
        "scorer": dict(
            image_size=64,
            downsample_factor=4,
            channels=(64, 128),
            image_layers=4,
            image_heads=8,
            image_width=256,
            text_length=96,
            text_width=256,
            text_layers=4,
            text_heads=8,
            embed_dim=256,
        ),
        "prior": dict(width=512, num_layers=12, num_heads=8),
        "learning_rates": {"image_tokenizer": 1e-3, "text_to_image": 5e-4, "scorer": 5e-4, "prior": 3e-4},
    },
}
STAGES = ("image_tokenizer", "text_to_image", "scorer", "prior")


def _check(name, stage):
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; presets have {list(STAGES)}")


def preset(name, stage):
    """A copy of the constructor arguments of `stage` (one of `STAGES`) in preset `name`."""
    _check(name, stage)
    return copy.deepcopy(PRESETS[name][stage])


def learning_rate(name, stage):
    """The (peak) learning rate of `stage` in preset `name`."""
    _check(name, stage)
    return PRESETS[name]["learning_rates"][stage]
