"""TF Serving's gRPC services: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus)."""

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from serving.repository import TypedArray
from serving.status import ServingError


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
            context.abort(err.status, err.message)
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
            context.abort(err.status, err.message)
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
            context.abort(err.status, err.message)
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=[model.status()])


