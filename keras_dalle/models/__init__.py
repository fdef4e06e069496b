"""Sub-models and trainable models; they build on `keras_dalle.layers` only.

- `image_codec`: visual encoder, vector quantizer, decoder, patch discriminator.
- `text_to_image`: text encoder, generator, text-conditional discriminator.
- `trainable`: `TrainableModel`, the base of the trainable models (metric trackers, one optimizer step under any strategy).
- `adversarial`: `AdversarialModel`, the base of the two adversarially trained models (two optimizers, two compiled steps).
- `image_tokenizer`: `ImageTokenizer`; `dalle`: `KerasDALLE` (prompt in, pictures out).
- `scorer`: `ContrastiveScorer` (pictures and prompts in one latent space; reranks candidates).
"""
