"""TF Serving's gRPC services: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus)."""

import functools
import logging

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from serving.servable import TypedArray
from serving.status import ServingError

log = logging.getLogger("serving")


def _answered(method):
    """A service method whose ServingError becomes the call's status, and whose unexpected failure
    (a bug) becomes INTERNAL with its traceback logged, so the caller always gets an answer."""

    @functools.wraps(method)
    def answer(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as err:
            context.abort(err.status, err.message)
        except Exception as err:  # noqa: BLE001  (the edge: nothing unexpected reaches gRPC unanswered)
            log.exception("gRPC %s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")

    return answer


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

    @_answered
    def Predict(self, request, context):
        spec = request.model_spec
        with self.repository.model(spec.name).serving(spec.version.value) as served:
            key, outputs = served.predict(spec.signature_name, _request_inputs(request), request.output_filter)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = served.name
        response.model_spec.version.value = served.version
        response.model_spec.signature_name = key
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_answered
    def GetModelMetadata(self, request, context):
        spec = request.model_spec
        with self.repository.model(spec.name).serving(spec.version.value) as served:
            unsupported = [field for field in request.metadata_field if field != "signature_def"]
            if unsupported or not request.metadata_field:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {unsupported or '(none)'} is not supported")
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = served.name
            response.model_spec.version.value = served.version
            response.metadata["signature_def"].Pack(served.signature_def_map())
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over the repository: every version seen (loading, available, unloaded, failed
    with its error), or the one the request names."""

    def __init__(self, repository):
        self.repository = repository

    @_answered
    def GetModelStatus(self, request, context):
        spec = request.model_spec
        statuses = self.repository.model(spec.name).status(spec.version.value)
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=statuses)
