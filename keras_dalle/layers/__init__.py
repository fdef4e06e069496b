"""Building blocks: attention, Transformer blocks, convolutional blocks, position embeddings, attention
masks, and the per-replica helpers train steps use under tf.distribute. Depends on nothing above it."""
