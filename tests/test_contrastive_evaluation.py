import json

import numpy as np
import pytest
from PIL import Image

from helpers import tiny
from keras_dalle import cli
from keras_dalle.data import grammar
from keras_dalle.evaluation import contrastive

COLORS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 230), "yellow": (230, 220, 40)}


def _colour_folder(root, count=24):
    """Not shapes data: solid colours and left-to-right gradients with their names as captions."""
    root.mkdir()
    names = list(COLORS)
    for i in range(count):
        a, b = names[i % 4], names[(i // 4 + 1 + i) % 4]
        if i % 2:
            pixels = np.broadcast_to(np.array(COLORS[a], np.uint8), (tiny.SIZE, tiny.SIZE, 3))
            caption = f"solid {a}"
        else:
            ramp = np.linspace(0, 1, tiny.SIZE)[None, :, None]
            pixels = np.broadcast_to((1 - ramp) * COLORS[a] + ramp * np.array(COLORS[b]), (tiny.SIZE, tiny.SIZE, 3))
            caption = f"a gradient from {a} to {b}"
        Image.fromarray(np.ascontiguousarray(pixels).astype(np.uint8)).save(root / f"{i:03d}.png")
        (root / f"{i:03d}.txt").write_text(caption)
    return root


def _kid_by_definition(x, y):
    """Unbiased MMD^2 with the cubic polynomial kernel, written out pair by pair."""
    def k(a, b):
        return (a @ b / len(a) + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_and_grows_with_the_distance_between_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) + 0.5
    mean, std = contrastive.kernel_inception_distance(x, y, subsets=3, subset_size=12)
    assert mean == pytest.approx(_kid_by_definition(x, y)) and std == pytest.approx(0, abs=1e-12)  # whole sets: one value
    same = contrastive.kernel_inception_distance(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)), subsets=10, subset_size=200)
    apart = contrastive.kernel_inception_distance(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)) + 1, subsets=10, subset_size=200)
    assert abs(same[0]) < 3 * same[1] + 1e-3 and apart[0] > 10 * abs(same[0]) + 10 * same[1]
    with pytest.raises(ValueError, match="at least two"):
        contrastive.kernel_inception_distance(x[:1], y)


def test_distractors_are_one_attribute_changes_for_shapes_and_other_captions_otherwise():
    shapes_captions = ["a big red circle in the top left", "a red circle above a blue square"]
    distractors = contrastive.distractor_captions(shapes_captions)
    assert distractors[0] == [grammar.format_caption(v) for v in grammar.one_attribute_variants(grammar.parse_caption(shapes_captions[0]))]
    others = [f"caption {i}" for i in range(150)]
    drawn = contrastive.distractor_captions(others, seed=0)
    assert all(len(d) == contrastive.DISTRACTORS and len(set(d)) == len(d) and c not in d for c, d in zip(others, drawn))
    assert contrastive.distractor_captions(others, seed=0) == drawn  # seeded
    assert contrastive.distractor_captions(["solid red", "solid blue", "solid red"]) == [["solid blue"], ["solid red"], ["solid blue"]]
    with pytest.raises(ValueError, match="two different captions"):
        contrastive.distractor_captions(["solid red", "solid red"])


def test_evaluate_on_a_folder_that_is_not_shapes_data(tmp_path, capsys):
    data = _colour_folder(tmp_path / "colours")
    run = tmp_path / "run"
    assert cli.main(["train", "--stage", "scorer", "--data", str(data), "--out", str(run), "--preset", "tiny",
                     "--epochs", "2", "--batch-size", "8", "--validation-split", "0"]) == 0
    model_path = tmp_path / "dalle.keras"
    dalle = tiny.dalle()
    dalle.build()
    dalle.save(model_path)
    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert cli.main(["evaluate", "--data", str(data), "--scorer", str(run / "scorer.keras"), "--model", str(model_path),
                     "--captions", "16", "--num", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "CLIP score" in printed and "KID" in printed
    result = json.loads(out.read_text())
    assert result["real_pictures"] == 16 and result["generated_pictures"] == 32
    for name in ("generated", "real"):
        assert -1 <= result[name]["clip_score"] <= 1 and 0 <= result[name]["r_precision"] <= 1
        assert 0 < result[name]["distractors"] < contrastive.DISTRACTORS  # the folder has fewer distinct captions
    assert np.isfinite(result["kid"]) and result["kid_std"] >= 0
    # --data needs a scorer; --scorer needs --data.
    assert cli.main(["evaluate", "--data", str(data), "--model", str(model_path)]) == 2
    assert cli.main(["evaluate", "--scorer", str(run / "scorer.keras"), "--model", str(model_path)]) == 2
