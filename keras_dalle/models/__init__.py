"""Sub-models (encoders, quantizer, decoder, discriminators, generator) and the trainable models."""
