"""Data: where captioned pictures come from and how they reach training.

- `sources`: folders with sidecar captions or manifests, the built-in `shapes` source, `LoadReport`.
- `images`: RGB conversion, resize and center crop (Python and in-graph).
- `loader`: the tf.data pipelines (`load_dataset`, validation split) and TFRecord packing.
- `shapes`, `grammar`: the built-in shapes dataset, its caption grammar, evaluation and tuning prompts.
"""
