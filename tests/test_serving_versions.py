"""The local server through deploys: new versions under load, broken versions, version policies,
removed folders, in-flight requests at shutdown; and the gRPC/REST edges that answer every request."""

import json
import shutil
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

import tensorflow as tf
from serving import server as serving_server
from serving.repository import VersionPolicy

LIMITS = serving_server.Limits(max_batch_size=8, max_prompt_bytes=200, max_message_bytes=256 * 1024)
State = get_model_status_pb2.ModelVersionStatus.State


def _deploy(exported, base, version):
    """Copies the export in whole beside the base path, then renames it into place (as a deploy should)."""
    staging = base.parent / f".staging-{version}"
    shutil.copytree(exported, staging)
    staging.rename(base / str(version))


def _deploy_broken(base, version):
    staging = base.parent / f".staging-{version}"
    staging.mkdir()
    (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel \x00\xff" * 8)
    staging.rename(base / str(version))


def _statuses(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "keras_dalle"
        reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    return {s.version: s for s in reply.model_version_status}


def _wait_for(condition, timeout_s=90):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


class _Load:
    """`clients` threads sending serving_default Predicts until stopped; counts versions and failures.

    `versions` are in the order the replies came; `replies` holds (sent, received, version) with
    monotonic times, since a request sent before a switch may finish after one sent later."""

    def __init__(self, port, clients=3):
        self.port, self.stopping = port, threading.Event()
        self.versions, self.replies, self.failures = [], [], []
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(clients)]

    def _send(self):
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self.stopping.is_set():
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "keras_dalle"
                request.inputs["prompt"].CopyFrom(tf.make_tensor_proto(["a red circle"], dtype=tf.string))
                sent = time.monotonic()
                try:
                    reply = stub.Predict(request, timeout=60)
                    self.replies.append((sent, time.monotonic(), reply.model_spec.version.value))
                    self.versions.append(reply.model_spec.version.value)
                except grpc.RpcError as err:
                    self.failures.append(f"{err.code().name}: {err.details()}")

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join()


@pytest.mark.slow
def test_new_and_broken_versions_under_load_fail_no_request(exported, tmp_path):
    base = tmp_path / "models" / "keras_dalle"
    base.mkdir(parents=True)
    _deploy(exported, base, 1)
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", base, LIMITS)], poll_wait_s=0.2)
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS) as server, _Load(server.port) as load:
        _wait_for(lambda: len(load.versions) >= 5)
        _deploy(exported, base, 2)
        _wait_for(lambda: _statuses(server.port)[1].state == State.END)  # 2 loaded, switched to, then 1 unloaded
        assert _statuses(server.port)[2].state == State.AVAILABLE
        served_before_3 = len(load.versions)
        _wait_for(lambda: len(load.versions) >= served_before_3 + 5)
        assert load.versions[-1] == 2

        _deploy_broken(base, 3)
        _wait_for(lambda: 3 in _statuses(server.port))
        _wait_for(lambda: _statuses(server.port)[3].state == State.END)
        broken = _statuses(server.port)[3].status
        assert broken.error_code == grpc.StatusCode.DATA_LOSS.value[0] and "saved_model.pb" in broken.error_message
        assert _statuses(server.port)[2].state == State.AVAILABLE
        broken_at, served_after_3 = time.monotonic(), len(load.versions)
        _wait_for(lambda: len(load.versions) >= served_after_3 + 5)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/v1/models/keras_dalle/versions/3", timeout=10) as reply:
            (rest_status,) = json.loads(reply.read())["model_version_status"]
        assert rest_status["state"] == "END" and rest_status["status"]["error_code"] == "DATA_LOSS"
    assert load.failures == []
    assert load.versions[0] == 1 and set(load.versions) == {1, 2}
    # Once a reply came from version 2, every request sent after it is served by 2 (requests sent
    # before may still finish on 1), and the broken version changed nothing.
    first_two = min(received for _, received, version in load.replies if version == 2)
    assert {version for sent, _, version in load.replies if sent > first_two} == {2}
    assert {version for sent, _, version in load.replies if sent > broken_at} == {2}


def test_version_policies_choose_what_serves():
    assert VersionPolicy().select([1, 5, 3]) == {5}
    assert VersionPolicy("latest", num_versions=2).select([1, 5, 3]) == {3, 5}
    assert VersionPolicy("all").select([1, 5, 3]) == {1, 3, 5}
    assert VersionPolicy("specific", versions=(1, 4)).select([1, 5, 3]) == {1}
    with pytest.raises(ValueError, match="latest, all or specific"):
        VersionPolicy("newest")
    with pytest.raises(ValueError, match="at least one version"):
        VersionPolicy("specific")


@pytest.mark.slow
def test_policy_from_config_serves_named_versions_and_removed_folders_unload(exported, tmp_path):
    base = tmp_path / "keras_dalle"
    base.mkdir()
    for version in (1, 2, 3):
        _deploy(exported, base, version)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "keras_dalle" base_path: "{base}" model_platform: "tensorflow" '
        "model_version_policy { specific { versions: 1 versions: 2 } } } }"
    )
    repository = serving_server.ModelRepository.from_config_file(config, LIMITS)
    model = repository.model("keras_dalle")
    try:
        assert model.versions == [1, 2] and model.version == 2
        for version in (1, 2):
            with model.serving(version) as served:
                _, outputs = served.predict("serving_default", {"prompt": _prompt()})
            assert outputs["image_bytes"].shape == (1,)
        with pytest.raises(serving_server.ServingError) as failure:
            model.serving(3)
        assert failure.value.code == "NOT_FOUND"
        shutil.rmtree(base / "2")
        model.refresh()
        assert model.versions == [1] and model.status(2)[0].state == State.END
        shutil.rmtree(base / "1")
        model.refresh()
        assert model.versions == [1]  # the last one serving stays
    finally:
        repository.stop()


def _prompt():
    from serving.servable import TypedArray

    return TypedArray(np.array([b"a red circle"], dtype=object), tf.string)


def test_shutdown_lets_requests_in_flight_finish(exported, monkeypatch):
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    served = repository.model("keras_dalle")._serving[1]
    batcher = served.batchers["serving_default"]
    run = batcher.function
    monkeypatch.setattr(batcher, "function", lambda **inputs: (time.sleep(1.0), run(**inputs))[1])
    server = serving_server.LocalServer(repository, port=0, rest_port=None, limits=LIMITS).start()
    results = []

    def call():
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "keras_dalle"
            request.inputs["prompt"].CopyFrom(tf.make_tensor_proto(["a red circle"], dtype=tf.string))
            try:
                results.append(prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60).model_spec.version.value)
            except grpc.RpcError as err:
                results.append(err.code().name)

    callers = [threading.Thread(target=call) for _ in range(6)]
    for caller in callers:
        caller.start()
    _wait_for(lambda: served._in_flight == 6, timeout_s=30)
    server.stop(grace=30)  # what SIGTERM does
    for caller in callers:
        caller.join()
    assert results == [1] * 6
