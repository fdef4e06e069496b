"""TF Serving's REST API: `:predict` with rows or columns (`{"b64": ...}` for bytes), model status and metadata."""

import base64
import binascii
import http.server
import json
import logging
import re

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_status_pb2

from serving import web
from serving.servable import TypedArray
from serving.status import ServingError

log = logging.getLogger("serving")
# Deepest JSON nesting an input may have: a tensor of this many dimensions is far beyond any signature's.
MAX_JSON_DEPTH = 32


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
            try:
                return base64.b64decode(item["b64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, 'Unable to base64 decode: {"b64": ...} needs a base64 string') from None
        return item.encode("utf-8") if isinstance(item, str) else item

    def convert(item, depth=1):
        if depth > MAX_JSON_DEPTH:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input nested over {MAX_JSON_DEPTH} lists deep")
        return [convert(i, depth + 1) for i in item] if isinstance(item, list) else leaf(item)

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


def rest_predict(served, body):
    """The REST :predict call on a served version: row ("instances") or columnar ("inputs") format, as TF Serving parses it."""
    key, signature = served.signature(body.get("signature_name"))
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
    _, outputs = served.predict(key, arrays)
    if "instances" in body:
        rows = len(next(iter(outputs.values())))
        values = {name: json_value(value, name) for name, value in outputs.items()}
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        return {"predictions": [{name: column[row] for name, column in values.items()} for row in range(rows)]}
    return {"outputs": {name: json_value(value, name) for name, value in outputs.items()}}


_REST_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)?$")


def rest_handler(repository, limits, serve_web=False):
    """An http.server handler class for TF Serving's REST API over `repository` (and with
    `serve_web` the playground page at `/`, see `serving.web`). Every request gets an answer: a
    ServingError its HTTP status, anything unexpected (a bug) a 500 with its traceback logged."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002  (http.server's signature)
            pass

        def _send(self, status, data, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, work):
            try:
                payload = work()
                status = 200
            except ServingError as err:
                status, payload = err.http_status, {"error": err.message}
            except Exception as err:  # noqa: BLE001  (the edge: a bug answers 500, never a dropped connection)
                log.exception("REST %s %s failed", self.command, self.path)
                status, payload = 500, {"error": f"Internal: {type(err).__name__}: {err}"}
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _route(self, method):
            match = _REST_PATH.match(self.path)
            if not match:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {self.path}")
            return repository.model(match["name"]), int(match["version"] or 0), match["rest"]

        def do_GET(self):
            page = web.static_file(self.path) if serve_web else None
            if page is not None:
                self._send(200, *page)
            elif serve_web and self.path == web.MODELS_PATH:
                self._answer(lambda: {"models": sorted(repository.models)})
            else:
                self._answer(self._get)

        def _get(self):
            model, version, rest = self._route("GET")
            if rest == ":predict":
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, ":predict needs POST")
            if rest == "/metadata":
                with model.serving(version) as served:
                    return {
                        "model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(served.signature_def_map())},
                    }
            status = get_model_status_pb2.GetModelStatusResponse(model_version_status=model.status(version))
            return json_format.MessageToDict(status)

        def do_POST(self):
            self._answer(self._post)

        def _post(self):
            length = self.headers.get("Content-Length") or "0"
            if not length.isdigit():
                self.close_connection = True  # the body's end is unknown
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Content-Length must be a byte count, not {length!r}")
            if int(length) > limits.max_message_bytes:
                self.close_connection = True
                raise ServingError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, f"request of {length} bytes; the limit is {limits.max_message_bytes}"
                )
            body = self.rfile.read(int(length))
            model, version, rest = self._route("POST")
            if rest != ":predict":
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"POST {self.path}: only :predict takes POST")
            try:
                request = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON Parse error: {err}") from None
            except RecursionError:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "JSON Parse error: nested too deeply") from None
            if not isinstance(request, dict):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "the request body must be a JSON object")
            with model.serving(version) as served:
                return rest_predict(served, request)

    return Handler
