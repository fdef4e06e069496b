"""A local server that speaks TF Serving's gRPC and REST APIs, for development and tests.

`python -m serving.server --model-base-path BASE/NAME [--model-name NAME] [--port 8500] [--rest-port 8501] [--web]`
or `--model-config-file serving/models.config`. `--web` also serves the playground page
(`serving.web`) at `http://HOST:REST_PORT/?model=NAME`.

Production serving is TF Serving itself (the `tensorflow/serving` image, see the README); this
server loads the same exported directories and answers the same requests with the same status
codes, so one client works against both:
- gRPC `tensorflow.serving.PredictionService` Predict and GetModelMetadata, `ModelService`
  GetModelStatus; REST `POST /v1/models/NAME[/versions/V]:predict` (row "instances" or columnar
  "inputs"), `GET /v1/models/NAME[/versions/V]` (status) and `.../metadata`.
- Versions as TF Serving's default policy serves them (the highest integer version under each base
  path; `model_version_policy` latest N / all / specific from a config file): the base paths are
  polled every `--file-system-poll-wait-seconds` (1; 0 = never), a new version is loaded and warmed
  up beside the old, then requests switch to it and the old is unloaded once its requests are done;
  a version that fails to load is reported in GetModelStatus and the REST status while the others
  serve on (`serving.repository`). One log line per load, switch, unload and failed load.
- Requests are checked against the signature (names, dtypes, shapes) and the limits (rows per
  request, bytes per prompt, message size) and answered with INVALID_ARGUMENT otherwise.
- Concurrent requests for a signature are merged into batches of at most `max_batch_size` rows
  (as TF Serving's `--enable_batching` does); each caller gets back exactly its own rows.
- Every malformed request gets INVALID_ARGUMENT (gRPC) or a 4xx JSON error (REST); a bug in the
  server answers INTERNAL / 500 with its traceback in the log, never a dropped connection.
- Binds 127.0.0.1 unless `--host` says otherwise; SIGTERM / Ctrl-C shut it down cleanly.
"""

import argparse
import concurrent.futures
import http.server
import logging
import pathlib
import signal
import sys
import threading

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.grpc_api import ModelService, PredictionService
from serving.repository import Limits, ModelRepository, ServedModel, VersionPolicy  # noqa: F401  (this module's API)
from serving.rest_api import rest_handler
from serving.status import ServingError


class LocalServer:
    """The gRPC and REST servers over one repository; `start()`, then `stop()` (or a context manager)."""

    def __init__(self, repository, host="127.0.0.1", port=8500, rest_port=8501, limits=Limits(), workers=32, web=False):
        self.repository = repository
        options = [
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ]
        self.grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(repository), self.grpc_server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), self.grpc_server)
        self.port = self.grpc_server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {host}:{port}")
        self.rest_server = None
        if rest_port is not None:
            self.rest_server = http.server.ThreadingHTTPServer((host, rest_port), rest_handler(repository, limits, web))
            self.rest_server.daemon_threads = True
            self.rest_port = self.rest_server.server_address[1]
        self._rest_thread = None

    def start(self):
        self.repository.start()
        self.grpc_server.start()
        if self.rest_server:
            self._rest_thread = threading.Thread(target=self.rest_server.serve_forever, daemon=True)
            self._rest_thread.start()
        return self

    def stop(self, grace=5.0):
        """Stops taking requests, lets running ones finish (up to `grace` seconds), stops polling and the batchers."""
        if self.rest_server:
            self.rest_server.shutdown()
            self.rest_server.server_close()
        self.grpc_server.stop(grace).wait()
        self.repository.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description="A local TF-Serving-compatible server (gRPC + REST) for exported models.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-base-path", help="BASE/NAME, holding integer versions (1/, 2/, ...)")
    source.add_argument("--model-config-file", help="a text ModelServerConfig, e.g. serving/models.config")
    parser.add_argument("--model-name", default=None, help="served name (default: the base path's last folder)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port")
    parser.add_argument("--rest-port", type=int, default=8501, help="REST port (-1: no REST)")
    parser.add_argument("--web", action="store_true", help="also serve the playground page at / on the REST port")
    parser.add_argument("--max-batch-size", type=int, default=Limits.max_batch_size)
    parser.add_argument("--max-prompt-bytes", type=int, default=Limits.max_prompt_bytes)
    parser.add_argument("--max-message-bytes", type=int, default=Limits.max_message_bytes)
    parser.add_argument("--file-system-poll-wait-seconds", type=float, default=1.0,
                        help="seconds between looks for new or removed versions under the base paths (TF Serving's flag; 0 = never)")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO, stream=sys.stdout, force=True)
    limits = Limits(args.max_batch_size, args.max_prompt_bytes, args.max_message_bytes)
    try:
        if args.model_config_file:
            repository = ModelRepository.from_config_file(args.model_config_file, limits, args.file_system_poll_wait_seconds)
        else:
            name = args.model_name or pathlib.Path(args.model_base_path).resolve().name
            repository = ModelRepository([ServedModel(name, args.model_base_path, limits)], args.file_system_poll_wait_seconds)
        if args.web and args.rest_port < 0:
            raise ValueError("--web serves the page on the REST port: give a --rest-port")
        rest_port = None if args.rest_port < 0 else args.rest_port
        server = LocalServer(repository, args.host, args.port, rest_port, limits, web=args.web)
    except (ServingError, ValueError, OSError) as err:
        print(f"{prog or 'serving.server'}: error: {getattr(err, 'message', err)}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server.start()
    for model in repository.models.values():
        with model.serving() as served:
            print(f"serving {model.name} version {served.version} (signatures: {', '.join(sorted(served.batchers))})")
    rest = f", REST on {args.host}:{server.rest_port}" if server.rest_server else ""
    print(f"gRPC on {args.host}:{server.port}{rest}; Ctrl-C or SIGTERM stops", flush=True)
    if args.web:
        name = next(iter(repository.models))
        print(f"playground: http://{args.host}:{server.rest_port}/?model={name}", flush=True)
    stopping.wait()
    print("shutting down", flush=True)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
