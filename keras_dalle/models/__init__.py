"""Sub-models and trainable models; they build on `keras_dalle.layers` only.

- `image_codec`: visual encoder, vector quantizer, decoder, patch discriminator.
- `text_to_image`: text encoder, generator, text-conditional discriminator.
- `adversarial`: `AdversarialModel`, the base of the two trainable models (two optimizers, two compiled steps).
- `image_tokenizer`: `ImageTokenizer`; `dalle`: `KerasDALLE` (prompt in, pictures out).
"""
