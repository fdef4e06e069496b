"""Served models: versions under a base path, signatures, input checks against them, request limits."""

import dataclasses
import pathlib

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the exported graphs tokenize with tensorflow-text ops)
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.batching import Batcher
from serving.status import ServingError


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


