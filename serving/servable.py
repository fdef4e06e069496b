"""One loaded version of an exported model: its signatures, the checks of a request against them,
the batchers that run them, and a count of the requests in flight (so a version is unloaded only
once they are done)."""

import dataclasses
import pathlib
import threading

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the exported graphs tokenize with tensorflow-text ops)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_log_pb2

from serving.batching import Batcher
from serving.status import ServingError

# TF Serving runs the PredictionLog records of this file through a version before serving it
# (`--enable_model_warmup`); `export.saved_model` writes one.
WARMUP_FILE = pathlib.Path("assets.extra") / "tf_serving_warmup_requests"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request limits; requests beyond them get INVALID_ARGUMENT (RESOURCE_EXHAUSTED for message size)."""

    max_batch_size: int = 16  # rows per request, and rows per merged batch
    max_prompt_bytes: int = 1024  # bytes of one string input other than an encoded picture
    max_message_bytes: int = 4 * 1024 * 1024
    batch_timeout_s: float = 0.005  # how long a batch waits for more requests


@dataclasses.dataclass
class TypedArray:
    """A request input as a numpy array plus the dtype it was sent as (strings stay bytes)."""

    array: np.ndarray
    dtype: tf.dtypes.DType


def read_signature_defs(export_dir):
    """The SignatureDefs of a SavedModel, as TF Serving reports them in GetModelMetadata."""
    saved = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    return dict(saved.meta_graphs[0].signature_def)


class ServedVersion:
    """One version of one exported model, loaded: `predict` checks a request and runs it batched.

    Args:
        name: the served model's name.
        version: the integer version.
        export_dir: the SavedModel folder (BASE/NAME/VERSION).
        limits: the request limits.
    """

    def __init__(self, name, version, export_dir, limits=Limits()):
        self.name = name
        self.version = version
        self.limits = limits
        self.signature_defs = read_signature_defs(export_dir)
        self.loaded = tf.saved_model.load(str(export_dir))
        self.batchers = {key: Batcher(function, limits) for key, function in self.loaded.signatures.items()}
        self._in_flight = 0
        self._idle = threading.Condition()

    def warm_up(self, export_dir):
        """Runs the warmup file's Predict requests (if the export has one); returns how many ran."""
        path = pathlib.Path(export_dir) / WARMUP_FILE
        if not path.is_file():
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(str(path)):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            inputs = {name: TypedArray(tf.make_ndarray(proto), tf.dtypes.as_dtype(proto.dtype)) for name, proto in request.inputs.items()}
            self.predict(request.model_spec.signature_name, inputs)
            count += 1
        return count

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
            # Encoded pictures (`complete`, and an unCLIP decoder's `vary`, `edit`, `interpolate`) are
            # bounded by the message size alone; other strings (prompts, captions) by max_prompt_bytes.
            if want == tf.string and not name.endswith("image_bytes"):
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

    def enter(self):
        """Counts a request in (the model calls this under its lock, when it hands the version out)."""
        with self._idle:
            self._in_flight += 1

    def leave(self):
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def stop(self, timeout_s=None):
        """Waits until no request is in flight (up to `timeout_s`), then stops the batchers."""
        with self._idle:
            self._idle.wait_for(lambda: not self._in_flight, timeout_s)
        for batcher in self.batchers.values():
            batcher.stop()
