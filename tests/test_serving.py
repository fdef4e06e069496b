"""The local TF-Serving-compatible server and the client: end to end over gRPC and REST."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from helpers.server_process import lines_until_listening
from serving import client as serving_client
from serving import server as serving_server

LIMITS = serving_server.Limits(max_batch_size=8, max_prompt_bytes=200, max_message_bytes=256 * 1024)


@pytest.fixture(scope="module")
def server(exported):
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def grpc_client(server):
    with serving_client.GrpcClient(f"127.0.0.1:{server.port}", "keras_dalle", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def rest_client(server):
    return serving_client.RestClient(f"http://127.0.0.1:{server.rest_port}", "keras_dalle", timeout=60)


def _greedy(prompts, seed=0):
    return serving_client.generation_inputs(prompts, "generate", seed=seed, defaults=DEFAULTS, top_k=1)


DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "cfg_scale": 3.0}


def test_predict_returns_pngs_of_the_model_size(grpc_client, model):
    pngs = grpc_client.generate(["a red circle", "a blue square above a green triangle"])
    assert len(pngs) == 2
    for png in pngs:
        picture = Image.open(io.BytesIO(png))
        assert picture.format == "PNG" and picture.size == (model.image_size, model.image_size) and picture.mode == "RGB"


def test_served_tokens_equal_keras_greedy_tokens(grpc_client, rest_client, model):
    prompts = ["a red circle", "a blue square above a green triangle"]
    expected = model.generate_tokens(prompts, seed=0, top_k=1).numpy()
    np.testing.assert_array_equal(grpc_client.predict(_greedy(prompts), "generate")["tokens"], expected)
    np.testing.assert_array_equal(rest_client.predict(_greedy(prompts), "generate")["tokens"], expected)


def test_output_filter_returns_only_the_named_outputs(grpc_client):
    inputs = _greedy(["a red circle"])
    assert set(grpc_client.predict(inputs, "generate", ["tokens"])) == {"tokens"}
    with pytest.raises(serving_client.ServingError) as failure:
        grpc_client.predict(inputs, "generate", ["pictures"])
    assert failure.value.code == "INVALID_ARGUMENT" and "pictures" in failure.value.message


def test_metadata_lists_the_signatures_over_grpc_and_rest(grpc_client, rest_client):
    for signatures in (grpc_client.signatures(), rest_client.signatures()):
        assert set(signatures) == {"serving_default", "generate", "complete", "decode_tokens", "sampling_defaults"}
        assert signatures["serving_default"]["inputs"] == {"prompt": "string"}
        assert set(signatures["generate"]["inputs"]) == {"prompt", "temperature", "top_k", "top_p", "cfg_scale", "seed"}
        assert signatures["generate"]["outputs"] == {"image_bytes": "string", "image": "uint8", "tokens": "int32"}


def test_client_takes_left_out_settings_from_the_served_model(model, tmp_path):
    from export import saved_model
    from keras_dalle import pretrained

    model.save(tmp_path / "trained.keras")
    packaged = pretrained.load_model(pretrained.save_for_inference(tmp_path / "trained.keras", tmp_path / "p.keras", cfg_scale=2.0))
    exported = saved_model.export_saved_model(packaged, tmp_path / "base" / "keras_dalle" / "1")
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    prompts = ["a red circle", "a blue square above a green triangle"]
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS) as running:
        for client in (
            serving_client.GrpcClient(f"127.0.0.1:{running.port}", "keras_dalle", timeout=60),
            serving_client.RestClient(f"http://127.0.0.1:{running.rest_port}", "keras_dalle", timeout=60),
        ):
            with client:
                assert client.sampling_defaults() == {**DEFAULTS, "cfg_scale": 2.0}
                left_out = client.generate(prompts, "generate", seed=7)
                assert left_out == client.generate(prompts, "generate", seed=7, cfg_scale=2.0)
                assert left_out != client.generate(prompts, "generate", seed=7, cfg_scale=3.0)


def test_client_reranks_with_the_served_scorer_over_grpc_and_rest(model, tmp_path, capsys):
    from export import saved_model
    from helpers import tiny

    exported = saved_model.export_saved_model(model, tmp_path / "base" / "keras_dalle" / "1", scorer=tiny.scorer())
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    prompts = ["a red circle", "a blue square above a green triangle"]
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS) as running:
        grpc_target, rest_url = f"127.0.0.1:{running.port}", f"http://127.0.0.1:{running.rest_port}"
        for client in (serving_client.GrpcClient(grpc_target, "keras_dalle", timeout=60),
                       serving_client.RestClient(rest_url, "keras_dalle", timeout=60)):
            with client:
                one = client.generate_best(prompts, 1, seed=3)
                assert [png for png, _ in one] == client.generate(prompts, "generate", seed=3)  # N = 1 is plain generation
                best = client.generate_best(prompts, 4, seed=3)
                assert all(b >= o - 1e-6 for (_, b), (_, o) in zip(best, one))  # never below candidate 0
                with pytest.raises(ValueError, match="candidates"):
                    client.generate_best(prompts, 0)
        # The CLI asks for one prompt, so compare with one prompt: a row's candidate c has seed
        # seed_i + c * B, so its candidates past the first depend on the batch size B.
        with serving_client.GrpcClient(grpc_target, "keras_dalle", timeout=60) as client:
            alone = client.generate_best(prompts[:1], 4, seed=3)
        out = tmp_path / "best.png"
        assert serving_client.main(["a red circle", "--server", grpc_target, "--candidates", "4", "--seed", "3",
                                    "--out", str(out)]) == 0
        assert out.read_bytes() == alone[0][0] and "best of 4, score" in capsys.readouterr().out


def test_client_completes_pictures_over_grpc_and_rest(server, model, tmp_path):
    from keras_dalle.data import shapes

    picture = shapes.generate_shapes(1, seed=4, canvas_size=2 * model.image_size)[0][0]  # twice the model's size
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    prompts = ["a red circle", "a blue square above a green triangle"]
    expected = model.generate_tokens(prompts, seed=5, image=picture, keep_rows=1).numpy()
    rest = serving_client.RestClient(f"http://127.0.0.1:{server.rest_port}", "keras_dalle", timeout=60)
    with serving_client.GrpcClient(f"127.0.0.1:{server.port}", "keras_dalle", timeout=60) as grpc_client:
        for client in (grpc_client, rest):
            pngs = client.complete(prompts, buffer.getvalue(), keep_rows=1, seed=5)
            served = np.stack([np.asarray(Image.open(io.BytesIO(png))) for png in pngs]).astype(int)
            assert np.abs(served - model.decode_tokens(expected)).max() <= 1  # the decoder's float rounding, as for generate
            with pytest.raises(serving_client.ServingError, match="keep_rows must be in") as failure:
                client.complete(prompts, buffer.getvalue(), keep_rows=model.grid_size, seed=5)
            assert failure.value.code == "INVALID_ARGUMENT"
            with pytest.raises(serving_client.ServingError) as failure:
                client.complete(prompts, b"not a picture", keep_rows=1)
            assert failure.value.code == "INVALID_ARGUMENT"
    (tmp_path / "in.png").write_bytes(buffer.getvalue())
    out = tmp_path / "done.png"
    assert serving_client.main([prompts[0], "--server", f"127.0.0.1:{server.port}", "--image", str(tmp_path / "in.png"),
                                "--keep-rows", "1", "--seed", "5", "--out", str(out)]) == 0
    assert out.read_bytes() == pngs[0]


def test_model_status_is_available(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "keras_dalle"
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    (status,) = response.model_version_status
    assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/v1/models/keras_dalle", timeout=10) as reply:
        assert json.loads(reply.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_rest_png_matches_grpc_png(grpc_client, rest_client):
    inputs = _greedy(["a green triangle in the middle"])
    assert rest_client.predict(inputs, "generate")["image_bytes"][0] == grpc_client.predict(inputs, "generate")["image_bytes"][0]


BAD_REQUESTS = {
    "empty prompt": ({"prompt": np.array([b"   "], object)}, "serving_default", "INVALID_ARGUMENT", "must not be empty"),
    "wrong dtype": ({"prompt": np.array([3], np.int32)}, "serving_default", "INVALID_ARGUMENT", "to be string but int32"),
    "missing input": ({"prompt": np.array([b"a red circle"], object)}, "generate", "INVALID_ARGUMENT", "Missing but required"),
    "unknown signature": ({"prompt": np.array([b"a red circle"], object)}, "paint", "FAILED_PRECONDITION", "not found"),
    "batch over the limit": ({"prompt": np.array([b"a red circle"] * 9, object)}, "serving_default", "INVALID_ARGUMENT",
                             "larger than maximum input batch size 8"),
    "non-UTF-8 prompt": ({"prompt": np.array([b"a red \xff circle"], object)}, "serving_default", "INVALID_ARGUMENT",
                         "valid UTF-8"),
    "prompt over the limit": ({"prompt": np.array([b"a" * 201], object)}, "serving_default", "INVALID_ARGUMENT",
                              "the limit is 200"),
    "bad setting": (dict(_greedy(["a red circle"]), temperature=np.array([0.0], np.float32)), "generate", "INVALID_ARGUMENT",
                    "temperature must be > 0"),
    "oversize message": ({"prompt": np.array([b"a" * 300 * 1024], object)}, "serving_default", "RESOURCE_EXHAUSTED", ""),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_bad_requests_get_the_right_status_and_the_server_keeps_serving(grpc_client, name):
    inputs, signature, code, message = BAD_REQUESTS[name]
    with pytest.raises(serving_client.ServingError) as failure:
        grpc_client.predict(inputs, signature)
    assert failure.value.code == code and message in failure.value.message
    assert len(grpc_client.generate(["a red circle"])) == 1


def test_pictures_are_bounded_by_the_message_size_not_the_prompt_limit(grpc_client):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > LIMITS.max_prompt_bytes  # a real picture's bytes: several KB
    assert len(grpc_client.complete(["a red circle"], buffer.getvalue(), keep_rows=1, seed=0)) == 1


def test_unknown_model_is_not_found_over_grpc_and_rest(server):
    for client in (serving_client.GrpcClient(f"127.0.0.1:{server.port}", "no_such_model", timeout=10),
                   serving_client.RestClient(f"http://127.0.0.1:{server.rest_port}", "no_such_model", timeout=10)):
        with pytest.raises(serving_client.ServingError) as failure:
            client.generate(["a red circle"])
        assert failure.value.code == "NOT_FOUND" and "no_such_model" in failure.value.message


def test_rest_rejects_bad_json_with_400(server):
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}/v1/models/keras_dalle:predict", data=b"{not json")
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=10)
    assert failure.value.code == 400 and "JSON" in json.loads(failure.value.read())["error"]


def test_fifty_concurrent_callers_each_get_their_own_result(grpc_client, exported):
    prompts = [f"a {color} {shape}" for color in ("red", "green", "blue", "yellow", "purple") for shape in ("circle", "square")]
    requests = [
        serving_client.generation_inputs([prompts[i % len(prompts)]], "generate", seed=1000 + i, defaults=DEFAULTS)
        for i in range(50)
    ]
    # The same rows in one direct call: rows are independent (per-row seeds), so this is what each caller must get.
    direct = tf.saved_model.load(str(exported)).signatures["generate"](
        **{name: tf.constant(np.concatenate([r[name] for r in requests])) for name in requests[0]}
    )["tokens"].numpy()
    results = [None] * 50

    def call(index):
        results[index] = grpc_client.predict(requests[index], "generate")["tokens"][0]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_array_equal(np.stack(results), direct)


def test_client_retries_unavailable_then_reports_it(unused_port):
    client = serving_client.GrpcClient(f"127.0.0.1:{unused_port()}", timeout=5, retries=1)
    with pytest.raises(serving_client.ServingError) as failure:
        client.generate(["a red circle"])
    assert failure.value.code == "UNAVAILABLE"


def test_client_cli_reports_errors_without_a_traceback(server, tmp_path, capsys):
    code = serving_client.main(["--server", f"127.0.0.1:{server.port}", "--model", "nope", "a red circle", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 1 and "NOT_FOUND" in err and "Traceback" not in err


def test_server_command_serves_the_client_command_and_stops_on_sigterm(exported, tmp_path, unused_port):
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "shapes" base_path: "{exported.parent}" model_platform: "tensorflow" }} }}')
    port, rest_port = unused_port(), unused_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.server", "--model-config-file", str(config), "--port", str(port), "--rest-port", str(rest_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        lines = lines_until_listening(process)
        assert any("serving shapes version 1" in line for line in lines), lines
        assert serving_client.main(["--server", f"127.0.0.1:{port}", "--model", "shapes", "a red circle", "--out",
                                    str(tmp_path / "grpc.png"), "--seed", "3"]) == 0
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("a red circle\na blue square\n\na green triangle\n")
        assert serving_client.main(["--rest", f"http://127.0.0.1:{rest_port}", "--model", "shapes", "--prompts", str(prompts),
                                    "--out", str(tmp_path / "many")]) == 0
        assert Image.open(tmp_path / "grpc.png").format == "PNG"
        assert sorted(p.name for p in (tmp_path / "many").glob("*.png")) == ["0000.png", "0001.png", "0002.png"]
        manifest = [json.loads(line) for line in (tmp_path / "many" / "manifest.jsonl").read_text().splitlines()]
        assert [(e["prompt"], e["file"]) for e in manifest] == [
            ("a red circle", "0000.png"), ("a blue square", "0001.png"), ("a green triangle", "0002.png"),
        ]
        assert [e["seed"] - manifest[0]["seed"] for e in manifest] == [0, 1, 2]  # picture i: seed + i, as generate writes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "shutting down" in process.stdout.read()
    finally:
        process.kill()


def _raw_rest(port, body, headers=None):
    """(HTTP status, JSON reply) of a POST to :predict with this raw body and headers."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", "/v1/models/keras_dalle:predict")
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


MALFORMED_REST = {
    "bad base64": (json.dumps({"instances": [{"b64": "!!!notbase64***"}]}).encode(), {}, 400, "base64"),
    "base64 of a number": (json.dumps({"instances": [{"b64": 5}]}).encode(), {}, 400, "base64"),
    "100,000 nested lists": (b"[" * 100_000, {}, 400, "nested too deeply"),
    "inputs nested 40 deep": (json.dumps({"inputs": {"prompt": json.loads("[" * 40 + '"a"' + "]" * 40)}}).encode(), {}, 400,
                              "nested over 32"),
    "Content-Length not a number": (b"{}", {"Content-Length": "ten"}, 400, "Content-Length"),
    "negative Content-Length": (b"{}", {"Content-Length": "-5"}, 400, "Content-Length"),
}


@pytest.mark.parametrize("name", MALFORMED_REST)
def test_malformed_rest_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, rest_client, name):
    body, headers, status, message = MALFORMED_REST[name]
    got_status, reply = _raw_rest(server.rest_port, body, headers)
    assert got_status == status and message in reply["error"], reply
    assert len(rest_client.generate(["a red circle"])) == 1


def test_a_bug_answers_internal_over_rest_and_grpc_not_a_dropped_connection(server, grpc_client, monkeypatch):
    from serving import rest_api
    from serving.servable import ServedVersion

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(rest_api, "rest_predict", broken)
    monkeypatch.setattr(ServedVersion, "predict", broken)
    status, reply = _raw_rest(server.rest_port, json.dumps({"instances": ["a red circle"]}).encode())
    assert status == 500 and "RuntimeError: a bug" in reply["error"]
    with pytest.raises(serving_client.ServingError) as failure:
        grpc_client.predict({"prompt": np.array([b"a red circle"], object)})
    assert failure.value.code == "INTERNAL" and "a bug" in failure.value.message
