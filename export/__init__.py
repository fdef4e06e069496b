"""Exports of a trained KerasDALLE: SavedModel (TF Serving), TFLite (Android), ONNX.

Run from the repository root: `python -m export.saved_model|tflite|onnx --model M.keras --out ...`.
Every format runs the sampling graph of `keras_dalle.sampling` through `graphs` (the graph
functions they share, incl. the batch-1 signatures of TFLite and ONNX), so they agree token for token.
"""
