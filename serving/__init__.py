"""Serving: TF Serving configuration, a gRPC/REST client, a local TF-Serving-compatible server, an Android sample.

- `models.config`, `batching_parameters`: for `tensorflow_model_server` (production).
- `client`: `python -m serving.client` and `GrpcClient` / `RestClient` for Python users.
- `server`: `keras-dalle serve` (or `python -m serving.server`; `commands` adds it to keras-dalle), the development stand-in for TF Serving, built from
  `repository` (served models, their versions and the poll that swaps them), `servable` (one loaded
  version: its signatures and input checks), `batching`, `grpc_api`, `rest_api`, and
  `status` (the error type and status codes server and client share).
- `android/`: a Kotlin app running the builtin-ops `.tflite` with LiteRT.
"""
