import pathlib
import re

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

SERVING = pathlib.Path(__file__).resolve().parent.parent / "serving"


def test_models_config_parses_as_model_server_config():
    config = text_format.Parse((SERVING / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.model_platform) == ("keras_dalle", "tensorflow")


def test_batching_parameters_name_known_fields():
    # BatchingParameters' proto is not in the pip API package; check the field names against
    # tensorflow_serving/servables/tensorflow/session_bundle_config.proto.
    known = {
        "max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
        "pad_variable_length_inputs", "allowed_batch_sizes", "thread_pool_name", "enable_large_batch_splitting",
    }
    lines = [l for l in (SERVING / "batching_parameters").read_text().splitlines() if l.strip() and not l.startswith("#")]
    fields = {re.match(r"\s*(\w+)", line).group(1) for line in lines}
    assert fields <= known and "max_batch_size" in fields
