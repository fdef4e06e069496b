"""The wheel, installed outside the checkout: `keras-dalle export saved-model` and `keras-dalle serve`
run from it, and a served Predict answers. Its metadata names the extras' requirements."""

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from helpers.server_process import lines_until_listening

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder, console script) of the wheel built from this checkout, installed without
    dependencies (this environment has them) into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools builds in the source tree, and a stale build/ there could add old files.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "runs", "demo_out", "*.egg-info", "__pycache__", ".pytest_cache", "tests", "bench",
    ))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(work), str(source)],
        check=True, cwd=work,
    )
    (wheel,) = work.glob("keras_dalle-*.whl")
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)], check=True)
    return wheel, site


def _run_installed(site, cwd, *arguments, **kwargs):
    # The console script of the wheel, with the wheel's packages first on the path, outside the checkout.
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([str(site / "bin" / "keras-dalle"), *arguments], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def test_the_wheel_holds_export_serving_and_the_page_and_names_the_extras(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for path in ("export/saved_model.py", "export/commands.py", "serving/server.py", "serving/commands.py",
                 "serving/web/index.html", "serving/web/playground.js", "serving/models.config", "keras_dalle/assets/shapes_small.keras"):
        assert path in names, path
    assert not any(name.startswith(("tests/", "bench/", "serving/android/")) for name in names)
    assert "tf2onnx" in metadata and 'extra == "export"' in metadata and 'extra == "serving"' in metadata
    assert "export = export.commands:add_commands" in entry_points and "serve = serving.commands:add_commands" in entry_points


def test_export_and_serve_from_the_installed_wheel(installed, model, tmp_path, unused_port):
    from serving.client import GrpcClient

    _, site = installed
    where = subprocess.run(
        [sys.executable, "-c", "import keras_dalle, export, serving; print(keras_dalle.__file__, export.__file__, serving.__file__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert all(path.startswith(str(site)) for path in where), where  # the wheel's code runs, not the checkout's
    model_file = tmp_path / "tiny.keras"
    model.save(model_file)
    exported = _run_installed(site, tmp_path, "export", "saved-model", "--model", str(model_file), "--out", "models/tiny/1")
    output, _ = exported.communicate(timeout=600)
    assert exported.returncode == 0, output
    assert (tmp_path / "models" / "tiny" / "1" / "saved_model.pb").is_file()
    port = unused_port()
    server = _run_installed(site, tmp_path, "serve", "--model-base-path", "models/tiny", "--port", str(port), "--rest-port", "-1")
    try:
        lines = lines_until_listening(server)
        assert any("serving tiny version 1" in line for line in lines), lines
        with GrpcClient(f"127.0.0.1:{port}", "tiny") as client:
            (png,) = client.generate(["a red circle"], "generate", seed=0, top_k=1)
        out = tmp_path / "served.png"
        out.write_bytes(png)
        assert Image.open(out).size == (model.image_size, model.image_size)
    finally:
        server.kill()
