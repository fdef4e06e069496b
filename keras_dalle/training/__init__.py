"""Training: what `keras-dalle train` runs (`stages`), its callbacks, and tf.distribute strategies by name
(`distribute`). The per-replica helpers the train steps need live below the models, in `keras_dalle.layers.replicas`."""
