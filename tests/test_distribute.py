"""tf.distribute and mixed precision for both adversarial train steps (subprocesses: devices are set at start-up)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

HELPER = os.path.join(os.path.dirname(__file__), "helpers", "distributed_fit.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _run(args, env=ENV, timeout=600):
    return subprocess.run([sys.executable, HELPER, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_mirrored_strategy_on_two_devices_matches_one_device(tmp_path):
    out = tmp_path / "weights.npz"
    result = _run(["mirrored", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    weights = np.load(out)
    for model in ("tokenizer", "dalle"):  # tokenizer: both optimizers and code restarts; dalle: the generator step
        keys = [key.split("/", 2)[2] for key in weights if key.startswith(f"{model}/single/")]
        assert len(keys) > 50
        for key in keys:
            single, mirrored = weights[f"{model}/single/{key}"], weights[f"{model}/mirrored/{key}"]
            np.testing.assert_allclose(mirrored, single, atol=2e-5, rtol=1e-4, err_msg=f"{model} weight {key}")
        # The comparison means something only if training moved the weights: compare with the initial ones.
        trainable = list(weights[f"{model}/trainable"])
        moved = [key for key in trainable if not np.array_equal(weights[f"{model}/single/{key}"], weights[f"{model}/initial/{key}"])]
        assert len(trainable) > 20 and len(moved) > 0.9 * len(trainable), (len(moved), len(trainable))


def test_multi_worker_strategy_with_two_processes_keeps_workers_identical(tmp_path, unused_port):
    workers = [f"127.0.0.1:{unused_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, HELPER, "multi_worker", str(tmp_path / f"worker{index}.npz")],
            env={**ENV, "TF_CONFIG": json.dumps(tf_config)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    first, second = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    assert np.isfinite(first["loss"]).all()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_keras_dalle_train_runs_as_two_multi_worker_processes(tmp_path, unused_port):
    """The README's multi-worker command, through the installed console script, for both stages."""
    from keras_dalle.data import shapes

    data = shapes.write_shapes_folder(tmp_path / "data", 48, seed=0, canvas_size=16, progress=False)
    command = os.path.join(os.path.dirname(sys.executable), "keras-dalle")
    workers = [f"127.0.0.1:{unused_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [command, "train", "--stage", "all", "--strategy", "multi_worker", "--data", str(data),
             "--out", str(tmp_path / "run"), "--preset", "tiny", "--epochs", "1", "--steps-per-epoch", "3",
             "--batch-size", "8"],
            env={**ENV, "TF_CONFIG": json.dumps(tf_config)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    # The chief wrote the three models into the run folder; the other worker wrote into its own backup folder.
    run = tmp_path / "run"
    assert all((run / name).is_file() for name in ("image_tokenizer.keras", "keras_dalle.keras", "scorer.keras"))
    assert (run / "backup" / "generator" / "worker_1" / "keras_dalle.keras").is_file()
    assert "saved" in outputs[0] and "saved" not in outputs[1]


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_train_steps_stay_finite(tmp_path, policy):
    out = tmp_path / "logs.npz"
    result = _run(["mixed", str(out), policy])
    assert result.returncode == 0, result.stderr[-3000:]
    logs = np.load(out)
    assert str(logs["compute_dtype"]) == policy.split("_")[1] and str(logs["quantizer_dtype"]) == "float32"
    for key in logs:
        if "loss" in key:
            assert np.isfinite(logs[key]).all(), key
    expected = "LossScaleOptimizer" if policy == "mixed_float16" else "Adam"
    assert str(logs["optimizer"]) == expected and str(logs["d_optimizer"]) == expected
