"""Building blocks: attention, Transformer blocks, convolutional blocks, position embeddings."""
