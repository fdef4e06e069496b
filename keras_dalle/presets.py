"""Model sizes as data. `tiny` is for tests, `small` for the shapes default, `base` for real data on a GPU.

Each preset has one dict per trainable stage; the keys are constructor arguments.
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
        ),
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
            discriminator_channels=(32, 64),
        ),
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
        ),
    },
}


def preset(name, stage):
    """A copy of the constructor arguments of `stage` in preset `name`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if stage not in PRESETS[name]:
        raise ValueError(f"preset {name!r} has no stage {stage!r}; it has {sorted(PRESETS[name])}")
    return copy.deepcopy(PRESETS[name][stage])
