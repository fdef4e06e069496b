import pathlib

import keras
import pytest
from PIL import Image

from keras_dalle import cli


def test_demo_draws_the_shipped_model_into_a_grid(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--num", "2"]) == 0
    path = pathlib.Path(capsys.readouterr().out.strip().split()[-1])
    grid = Image.open(path)
    assert grid.size[0] > 2 * 32 * 4  # a row: two pictures of a prompt, upscaled 4x
    assert grid.size[1] > len(cli.DEMO_PROMPTS) * 32 * 4  # one row per prompt


def test_data_shapes_then_check(tmp_path, capsys):
    assert cli.main(["data", "shapes", "--out", str(tmp_path), "--num", "3", "--size", "64", "--objects", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["000000.png", "000000.txt"]
    assert Image.open(tmp_path / "000000.png").size == (64, 64)
    caption = (tmp_path / "000000.txt").read_text().strip()
    assert cli.main(["check", str(tmp_path / "000000.png"), caption]) == 0
    assert cli.main(["data", "check", str(tmp_path)]) == 0
    assert "found 3, used 3" in capsys.readouterr().out


def test_expected_errors_exit_2_without_traceback(tmp_path, capsys):
    assert cli.main(["data", "check", str(tmp_path / "missing")]) == 2
    assert cli.main(["check", str(tmp_path / "missing.png"), "a red circle"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


@pytest.mark.slow
def test_train_all_stages_with_strategy_mixed_precision_and_xla(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    assert cli.main(["data", "shapes", "--out", str(data), "--num", "32", "--size", "16"]) == 0
    args = ["train", "--stage", "all", "--data", str(data), "--out", str(run), "--preset", "tiny", "--epochs", "1",
            "--batch-size", "8", "--steps-per-epoch", "2", "--strategy", "mirrored", "--mixed-precision", "--jit-compile"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "saved" in out and (run / "image_tokenizer.keras").is_file() and (run / "keras_dalle.keras").is_file()
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["epoch_001.png"]
    model = keras.saving.load_model(run / "keras_dalle.keras")
    assert model.generate(["a red circle"], seed=0).shape == (1, 16, 16, 3)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
