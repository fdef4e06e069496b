"""A local server that speaks TF Serving's gRPC and REST APIs, for development and tests.

`python -m serving.server --model-base-path BASE/NAME [--model-name NAME] [--port 8500] [--rest-port 8501]`
or `--model-config-file serving/models.config`.

Production serving is TF Serving itself (the `tensorflow/serving` image, see the README); this
server loads the same exported directories and answers the same requests with the same status
codes, so one client works against both:
- gRPC `tensorflow.serving.PredictionService` Predict and GetModelMetadata, `ModelService`
  GetModelStatus; REST `POST /v1/models/NAME[/versions/V]:predict` (row "instances" or columnar
  "inputs"), `GET /v1/models/NAME[/versions/V]` (status) and `.../metadata`.
- The highest integer version under each base path is served.
- Requests are checked against the signature (names, dtypes, shapes) and the limits (rows per
  request, bytes per prompt, message size) and answered with INVALID_ARGUMENT otherwise.
- Concurrent requests for a signature are merged into batches of at most `max_batch_size` rows
  (as TF Serving's `--enable_batching` does); each caller gets back exactly its own rows.
- Binds 127.0.0.1 unless `--host` says otherwise; SIGTERM / Ctrl-C shut it down cleanly.
"""

import argparse
import base64
import concurrent.futures
import dataclasses
import http.server
import json
import pathlib
import queue
import re
import signal
import sys
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the exported graphs tokenize with tensorflow-text ops)
from google.protobuf import json_format, text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

# HTTP status for each gRPC code, as TF Serving's REST front end maps them.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.INTERNAL: 500,
}


class ServingError(Exception):
    """A request that fails with a gRPC status code and a message for the caller."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request limits; requests beyond them get INVALID_ARGUMENT (RESOURCE_EXHAUSTED for message size)."""

    max_batch_size: int = 16  # rows per request, and rows per merged batch
    max_prompt_bytes: int = 1024  # bytes of one string input
    max_message_bytes: int = 4 * 1024 * 1024
    batch_timeout_s: float = 0.005  # how long a batch waits for more requests


def highest_version(base_path):
    """The largest integer-named folder under `base_path`, or NOT_FOUND."""
    base = pathlib.Path(base_path)
    versions = sorted(int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()) if base.is_dir() else []
    if not versions:
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"no integer version folder under {base} (expected {base}/1/)")
    return versions[-1]


def read_signature_defs(export_dir):
    """The SignatureDefs of a SavedModel, as TF Serving reports them in GetModelMetadata."""
    saved = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    return dict(saved.meta_graphs[0].signature_def)


class Batcher:
    """Merges concurrent requests for one signature into batches and hands each caller its own rows.

    A merged batch that fails (one caller's bad input) is rerun request by request, so the error
    reaches only the caller who caused it.
    """

    def __init__(self, function, limits):
        self.function = function
        self.limits = limits
        self.requests = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, inputs):
        """inputs: {name: np.ndarray with rows first} -> {name: np.ndarray} (blocks until done)."""
        future = concurrent.futures.Future()
        self.requests.put((inputs, future))
        return future.result()

    def stop(self):
        self.requests.put(None)
        self.thread.join()

    def _next_batch(self):
        first = self.requests.get()
        if first is None:
            return None
        batch, rows = [first], _rows(first[0])
        deadline = time.monotonic() + self.limits.batch_timeout_s
        while rows < self.limits.max_batch_size:
            try:
                item = self.requests.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self.requests.put(None)
                break
            if rows + _rows(item[0]) > self.limits.max_batch_size:
                self.requests.put(item)  # goes first into the next batch; order across callers is not promised
                break
            batch.append(item)
            rows += _rows(item[0])
        return batch

    def _run(self):
        while (batch := self._next_batch()) is not None:
            try:
                merged = {name: np.concatenate([inputs[name] for inputs, _ in batch]) for name in batch[0][0]}
                outputs = self._call(merged)
            except ServingError as err:
                if len(batch) == 1:
                    batch[0][1].set_exception(err)
                else:  # rerun one by one, so only the caller whose rows fail gets the error
                    for inputs, future in batch:
                        _settle(future, self._call, inputs)
                continue
            except Exception as err:  # noqa: BLE001  (the batching thread must outlive any one bad batch)
                for _, future in batch:
                    future.set_exception(ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"))
                continue
            start = 0
            for inputs, future in batch:
                stop = start + _rows(inputs)
                future.set_result({name: value[start:stop] for name, value in outputs.items()})
                start = stop

    def _call(self, inputs):
        try:
            outputs = self.function(**{name: tf.constant(value) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as err:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, _tf_message(err)) from None
        except tf.errors.OpError as err:
            raise ServingError(grpc.StatusCode.INTERNAL, _tf_message(err)) from None
        except Exception as err:  # noqa: BLE001  (e.g. TF failing to decode its own error text)
            raise ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}") from None
        return {name: value.numpy() for name, value in outputs.items()}


def _rows(inputs):
    return len(next(iter(inputs.values())))


def _settle(future, call, inputs):
    try:
        future.set_result(call(inputs))
    except ServingError as err:
        future.set_exception(err)


def _tf_message(err):
    """The informative line of a TF error ("assertion failed: [...] ..."), without the graph-node decoration."""
    lines = [re.sub(r"\s*\[\[\{\{node.*", "", line).strip() for line in err.message.splitlines()]
    lines = [line for line in lines if line and line != "Graph execution error:"]
    asserted = [line for line in lines if line.startswith("assertion failed")]
    return (asserted or lines or ["(no message)"])[-1]


class ServedModel:
    """The highest version of one exported model: its signatures, their checks and batchers."""

    def __init__(self, name, base_path, limits=Limits()):
        self.name = name
        self.limits = limits
        self.version = highest_version(base_path)
        export_dir = pathlib.Path(base_path) / str(self.version)
        self.signature_defs = read_signature_defs(export_dir)
        self.loaded = tf.saved_model.load(str(export_dir))
        self.batchers = {key: Batcher(function, limits) for key, function in self.loaded.signatures.items()}

    def check_version(self, version):
        """NOT_FOUND unless `version` (0 = latest) is the served one."""
        if version and version != self.version:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({self.name}, {version})")

    def signature(self, name):
        key = name or "serving_default"
        if key not in self.batchers:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{key}" not found. Signatures: {sorted(self.batchers)}',
            )
        return key, self.signature_defs[key]

    def predict(self, signature_name, inputs, output_filter=()):
        """inputs {name: TypedArray} -> (signature key, {name: np.ndarray}); checks everything before running."""
        key, signature = self.signature(signature_name)
        self._check_inputs(signature, inputs)
        unknown = set(output_filter) - set(signature.outputs)
        if unknown:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"output tensor alias not found in signature: {sorted(unknown)}")
        outputs = self.batchers[key].submit({name: typed.array for name, typed in inputs.items()})
        return key, {name: value for name, value in outputs.items() if not output_filter or name in output_filter}

    def _check_inputs(self, signature, inputs):
        expected, sent = set(signature.inputs), set(inputs)
        if expected != sent:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(sent)}!={len(expected)}. "
                f"Sent extra: {sorted(sent - expected)}. Missing but required: {sorted(expected - sent)}.",
            )
        rows = set()
        for name, value in inputs.items():
            info = signature.inputs[name]
            want = tf.dtypes.as_dtype(info.dtype)
            if value.dtype != want:
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT, f"Expects arg '{name}' to be {want.name} but {value.dtype.name} is provided"
                )
            dims = [d.size for d in info.tensor_shape.dim]
            array = value.array
            if array.ndim != len(dims) or any(d not in (-1, n) for d, n in zip(dims, array.shape)):
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' has shape {list(array.shape)}, the signature wants {dims}"
                )
            rows.add(array.shape[0] if array.ndim else 1)
            if want == tf.string:
                longest = max((len(item) for item in array.reshape(-1)), default=0)
                if longest > self.limits.max_prompt_bytes:
                    raise ServingError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"input '{name}' has a string of {longest} bytes; the limit is {self.limits.max_prompt_bytes}",
                    )
        if len(rows) > 1:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"inputs have different batch sizes {sorted(rows)}")
        batch = rows.pop()
        if not 1 <= batch <= self.limits.max_batch_size:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Task size {batch} is larger than maximum input batch size {self.limits.max_batch_size}"
                if batch > self.limits.max_batch_size
                else "the request has no rows",
            )

    def signature_def_map(self):
        """The SignatureDefMap GetModelMetadata returns (gRPC packs it, REST writes it as JSON)."""
        return get_model_metadata_pb2.SignatureDefMap(signature_def=self.signature_defs)

    def status(self):
        """ModelVersionStatus of the served version (AVAILABLE)."""
        return get_model_status_pb2.ModelVersionStatus(
            version=self.version,
            state=get_model_status_pb2.ModelVersionStatus.AVAILABLE,
            status=status_pb2.StatusProto(),
        )

    def stop(self):
        for batcher in self.batchers.values():
            batcher.stop()


@dataclasses.dataclass
class TypedArray:
    """A request input as a numpy array plus the dtype it was sent as (strings stay bytes)."""

    array: np.ndarray
    dtype: tf.dtypes.DType


class ModelRepository:
    """All served models by name."""

    def __init__(self, models):
        self.models = {model.name: model for model in models}

    @classmethod
    def from_config_file(cls, path, limits=Limits()):
        """Loads each model of a text ModelServerConfig (relative base paths resolve against the working directory)."""
        config = text_format.Parse(pathlib.Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
        models = []
        for entry in config.model_config_list.config:
            if entry.model_platform not in ("", "tensorflow"):
                raise ValueError(f"{path}: model {entry.name!r}: only model_platform 'tensorflow' is served")
            models.append(ServedModel(entry.name, entry.base_path, limits))
        if not models:
            raise ValueError(f"{path}: model_config_list has no models")
        return cls(models)

    def for_spec(self, model_spec):
        """The model a gRPC request's ModelSpec names (NOT_FOUND otherwise)."""
        return self.get(model_spec.name, model_spec.version.value)

    def get(self, name, version=0):
        if name not in self.models:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        model = self.models[name]
        model.check_version(version)
        return model

    def stop(self):
        for model in self.models.values():
            model.stop()


def _request_inputs(request):
    inputs = {}
    for name, proto in request.inputs.items():
        try:
            array = tf.make_ndarray(proto)
        except (TypeError, ValueError) as err:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' is not a valid TensorProto: {err}") from None
        inputs[name] = TypedArray(array, tf.dtypes.as_dtype(proto.dtype))
    return inputs


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over the repository."""

    def __init__(self, repository):
        self.repository = repository

    def Predict(self, request, context):
        try:
            model = self.repository.for_spec(request.model_spec)
            key, outputs = model.predict(request.model_spec.signature_name, _request_inputs(request), request.output_filter)
        except ServingError as err:
            context.abort(err.code, err.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = key
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            model = self.repository.for_spec(request.model_spec)
            unsupported = [field for field in request.metadata_field if field != "signature_def"]
            if unsupported or not request.metadata_field:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {unsupported or '(none)'} is not supported")
        except ServingError as err:
            context.abort(err.code, err.message)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        response.metadata["signature_def"].Pack(model.signature_def_map())
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over the repository."""

    def __init__(self, repository):
        self.repository = repository

    def GetModelStatus(self, request, context):
        try:
            model = self.repository.for_spec(request.model_spec)
        except ServingError as err:
            context.abort(err.code, err.message)
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=[model.status()])


def json_value(value, name):
    """A numpy output as TF Serving's REST API writes it (`*_bytes` strings base64 as {"b64": ...})."""
    if value.dtype == object:
        if name.endswith("_bytes"):
            return np.vectorize(lambda item: {"b64": base64.b64encode(item).decode()}, otypes=[object])(value).tolist()
        return np.vectorize(lambda item: item.decode("utf-8", "replace"), otypes=[object])(value).tolist()
    return value.tolist()


def array_from_json(values, info):
    """A JSON input (lists, strings, {"b64": ...}) as a TypedArray of the signature's dtype."""
    dtype = tf.dtypes.as_dtype(info.dtype)

    def leaf(item):
        if isinstance(item, dict):
            if set(item) != {"b64"}:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected JSON object {sorted(item)}; only {{'b64': ...}}")
            return base64.b64decode(item["b64"])
        return item.encode("utf-8") if isinstance(item, str) else item

    def convert(item):
        return [convert(i) for i in item] if isinstance(item, list) else leaf(item)

    converted = convert(values)
    if dtype == tf.string:
        array = np.empty(np.shape(converted) if isinstance(converted, list) else (), dtype=object)
        array[...] = converted
        if any(not isinstance(item, bytes) for item in array.reshape(-1)):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Expects a string (or {'b64': ...}) for a string input")
        return TypedArray(array, dtype)
    try:
        array = np.asarray(converted)
        if array.dtype == object or array.dtype.kind in "SU":
            raise ValueError("not a number")
        if dtype.is_integer and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise ValueError("not an integer")
        return TypedArray(array.astype(dtype.as_numpy_dtype), dtype)
    except (ValueError, TypeError) as err:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Expects {dtype.name} values: {err}") from None


def rest_predict(model, body):
    """The REST :predict call: row ("instances") or columnar ("inputs") format, as TF Serving parses it."""
    key, signature = model.signature(body.get("signature_name"))
    names = list(signature.inputs)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, '"instances" must be a non-empty list')
        if all(isinstance(row, dict) and "b64" not in row for row in instances):
            columns = {name: [row.get(name) for row in instances] for name in {n for row in instances for n in row}}
            missing = [name for name, values in columns.items() if any(v is None for v in values)]
            if missing:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"every instance must have the same inputs; {missing} missing in some")
        elif len(names) == 1:
            columns = {names[0]: instances}
        else:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"signature {key!r} has inputs {names}: send each instance as an object")
    elif "inputs" in body:
        inputs = body["inputs"]
        columns = inputs if isinstance(inputs, dict) else {names[0]: inputs}
    else:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, 'the request body needs "instances" or "inputs"')
    unknown = [name for name in columns if name not in signature.inputs]
    if unknown:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input tensor alias not found in signature: {unknown}; inputs are {names}")
    arrays = {name: array_from_json(values, signature.inputs[name]) for name, values in columns.items()}
    _, outputs = model.predict(key, arrays)
    if "instances" in body:
        rows = len(next(iter(outputs.values())))
        values = {name: json_value(value, name) for name, value in outputs.items()}
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        return {"predictions": [{name: column[row] for name, column in values.items()} for row in range(rows)]}
    return {"outputs": {name: json_value(value, name) for name, value in outputs.items()}}


_REST_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)?$")


def rest_handler(repository, limits):
    """An http.server handler class for TF Serving's REST API over `repository`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002  (http.server's signature)
            pass

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method):
            match = _REST_PATH.match(self.path)
            if not match:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {self.path}")
            model = repository.get(match["name"], int(match["version"] or 0))
            return model, match["rest"]

        def do_GET(self):
            try:
                model, rest = self._route("GET")
                if rest == ":predict":
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, ":predict needs POST")
                if rest == "/metadata":
                    payload = {
                        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(model.signature_def_map())},
                    }
                else:
                    status = get_model_status_pb2.GetModelStatusResponse(model_version_status=[model.status()])
                    payload = json_format.MessageToDict(status)
                self._reply(200, payload)
            except ServingError as err:
                self._reply(HTTP_STATUS.get(err.code, 500), {"error": err.message})

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > limits.max_message_bytes:
                    self.close_connection = True
                    raise ServingError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED, f"request of {length} bytes; the limit is {limits.max_message_bytes}"
                    )
                body = self.rfile.read(length)
                model, rest = self._route("POST")
                if rest != ":predict":
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"POST {self.path}: only :predict takes POST")
                try:
                    request = json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON Parse error: {err}") from None
                if not isinstance(request, dict):
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "the request body must be a JSON object")
                self._reply(200, rest_predict(model, request))
            except ServingError as err:
                self._reply(HTTP_STATUS.get(err.code, 500), {"error": err.message})

    return Handler


class LocalServer:
    """The gRPC and REST servers over one repository; `start()`, then `stop()` (or a context manager)."""

    def __init__(self, repository, host="127.0.0.1", port=8500, rest_port=8501, limits=Limits(), workers=32):
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
            self.rest_server = http.server.ThreadingHTTPServer((host, rest_port), rest_handler(repository, limits))
            self.rest_server.daemon_threads = True
            self.rest_port = self.rest_server.server_address[1]
        self._rest_thread = None

    def start(self):
        self.grpc_server.start()
        if self.rest_server:
            self._rest_thread = threading.Thread(target=self.rest_server.serve_forever, daemon=True)
            self._rest_thread.start()
        return self

    def stop(self, grace=5.0):
        """Stops taking requests, lets running ones finish (up to `grace` seconds), stops the batchers."""
        if self.rest_server:
            self.rest_server.shutdown()
            self.rest_server.server_close()
        self.grpc_server.stop(grace).wait()
        self.repository.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local TF-Serving-compatible server (gRPC + REST) for exported models.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-base-path", help="BASE/NAME, holding integer versions (1/, 2/, ...)")
    source.add_argument("--model-config-file", help="a text ModelServerConfig, e.g. serving/models.config")
    parser.add_argument("--model-name", default=None, help="served name (default: the base path's last folder)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port")
    parser.add_argument("--rest-port", type=int, default=8501, help="REST port (-1: no REST)")
    parser.add_argument("--max-batch-size", type=int, default=Limits.max_batch_size)
    parser.add_argument("--max-prompt-bytes", type=int, default=Limits.max_prompt_bytes)
    parser.add_argument("--max-message-bytes", type=int, default=Limits.max_message_bytes)
    args = parser.parse_args(argv)
    limits = Limits(args.max_batch_size, args.max_prompt_bytes, args.max_message_bytes)
    try:
        if args.model_config_file:
            repository = ModelRepository.from_config_file(args.model_config_file, limits)
        else:
            name = args.model_name or pathlib.Path(args.model_base_path).resolve().name
            repository = ModelRepository([ServedModel(name, args.model_base_path, limits)])
        server = LocalServer(repository, args.host, args.port, None if args.rest_port < 0 else args.rest_port, limits)
    except (ServingError, ValueError, OSError) as err:
        print(f"serving.server: error: {getattr(err, 'message', err)}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server.start()
    for model in repository.models.values():
        print(f"serving {model.name} version {model.version} (signatures: {', '.join(sorted(model.batchers))})")
    rest = f", REST on {args.host}:{server.rest_port}" if server.rest_server else ""
    print(f"gRPC on {args.host}:{server.port}{rest}; Ctrl-C or SIGTERM stops", flush=True)
    stopping.wait()
    print("shutting down", flush=True)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
