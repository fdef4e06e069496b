"""Exports of a trained KerasDALLE: SavedModel (TF Serving), TFLite (Android), ONNX.

`keras-dalle export saved-model|tflite|onnx --model M.keras --out ...` (or `python -m export.X`), installed
with the package (`commands` adds the command to keras-dalle).
Every format runs the sampling graph of `keras_dalle.sampling` through `graphs` (the graph
functions they share, incl. the batch-1 signatures of TFLite and ONNX), so they agree token for token.
"""
