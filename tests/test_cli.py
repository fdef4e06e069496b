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


def test_demo_of_the_shipped_emoji_model(tmp_path, capsys):
    assert cli.main(["demo", "--model", "emoji", "--out", str(tmp_path), "--num", "1"]) == 0
    grid = Image.open(tmp_path / "demo_grid.png")
    assert grid.size[1] > len(cli.pictures.DEMOS["emoji"]["prompts"]) * 32 * 4
    # generate by the shipped name; --candidates reranks with that model's own scorer
    assert cli.main(["generate", "rocket", "--model", "emoji", "--num", "1", "--candidates", "2", "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size[0] > 32


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
    # Options of one stage given to another.
    base = ["train", "--data", "shapes", "--out", str(tmp_path / "run")]
    assert cli.main([*base, "--stage", "all", "--init-from", str(tmp_path / "m.keras")]) == 2
    assert "--stage generator or --stage scorer" in capsys.readouterr().err
    assert cli.main([*base, "--stage", "scorer", "--word-attention"]) == 2
    assert "apply to --stage generator or decoder only" in capsys.readouterr().err
    assert cli.main([*base, "--stage", "tokenizer", "--word-positions"]) == 2
    assert "apply to --stage generator or decoder only" in capsys.readouterr().err


@pytest.mark.slow
def test_train_all_stages_with_strategy_mixed_precision_and_xla(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    assert cli.main(["data", "shapes", "--out", str(data), "--num", "32", "--size", "16"]) == 0
    args = ["train", "--stage", "all", "--data", str(data), "--out", str(run), "--preset", "tiny", "--epochs", "1",
            "--batch-size", "8", "--steps-per-epoch", "2", "--strategy", "mirrored", "--mixed-precision", "--jit-compile"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "saved" in out and all((run / name).is_file() for name in ("image_tokenizer.keras", "keras_dalle.keras", "scorer.keras"))
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["epoch_001.png"]
    model = keras.saving.load_model(run / "keras_dalle.keras")
    assert model.generate(["a red circle"], seed=0).shape == (1, 16, 16, 3)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training


def test_a_file_that_is_not_a_keras_archive_is_named(tmp_path, capsys):
    from export import saved_model

    broken = tmp_path / "truncated.keras"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert cli.main(["generate", "a red circle", "--model", str(broken), "--out", str(tmp_path / "grid.png")]) == 2
    assert cli.main(["train", "--stage", "generator", "--data", "shapes", "--tokenizer", str(broken), "--out",
                     str(tmp_path / "run"), "--preset", "tiny", "--steps-per-epoch", "1"]) == 2
    assert saved_model.main(["--model", str(broken), "--out", str(tmp_path / "m" / "1")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in "".join(lines)
    assert all(f"{broken}: not a .keras model archive" in line for line in lines)
    assert "no such model file" in _error_of(cli.main, ["generate", "x", "--model", str(tmp_path / "none.keras"), "--out", "x.png"], capsys)


def _error_of(main, argv, capsys):
    assert main(argv) == 2
    return capsys.readouterr().err


def test_sample_grid_prompts_come_from_the_users_captions(tmp_path):
    from keras_dalle.data.loader import load_dataset
    from keras_dalle.training import stages

    for index, word in enumerate(["five", "seven", "two"]):
        Image.new("RGB", (16, 16), (index * 60, 0, 0)).save(tmp_path / f"{index}.png")
        (tmp_path / f"{index}.txt").write_text(f"a handwritten {word}\n")
    dataset, _ = load_dataset(tmp_path, image_size=16, batch_size=3, progress=False)
    assert sorted(stages.grid_prompts(tmp_path, dataset)) == ["a handwritten five", "a handwritten seven", "a handwritten two"]
    assert stages.grid_prompts(tmp_path, dataset, ["my prompt"]) == ["my prompt"]
    assert stages.grid_prompts("shapes", dataset) == list(stages.SHAPES_SAMPLE_PROMPTS)
