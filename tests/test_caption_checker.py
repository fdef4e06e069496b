import numpy as np
import pytest

from keras_dalle.data import grammar, shapes
from keras_dalle.evaluation import caption_checker, robustness


@pytest.mark.parametrize("canvas_size,num", [(32, 400), (64, 100)])
def test_checker_accuracy_clean_degraded_wrong(canvas_size, num):
    sets = robustness.checker_benchmark_sets(num, seed=123, canvas_size=canvas_size)
    assert caption_checker.accuracy(*sets["clean"])["all"] >= 0.99
    assert caption_checker.accuracy(*sets["degraded"])["all"] >= 0.95
    assert caption_checker.accuracy(*sets["wrong"])["all"] <= 0.02


def test_wrong_captions_change_exactly_one_attribute():
    rng = np.random.default_rng(0)
    for index in range(100):
        sample = shapes.make_sample(9, index)
        true_spec = grammar.parse_caption(sample.caption)
        wrong_spec = grammar.parse_caption(robustness.wrong_caption(sample, rng))
        differences = int(true_spec.relation != wrong_spec.relation) + sum(
            getattr(a, field) != getattr(b, field)
            for a, b in zip(true_spec.objects, wrong_spec.objects)
            for field in ("color", "shape", "size", "position")
        )
        assert differences == 1


def test_reports_each_stated_attribute():
    sample = shapes.make_sample(0, 6)  # "a big blue triangle at the top"
    assert sample.caption == "a big blue triangle at the top"
    result = caption_checker.check_caption(sample.image, "a small blue triangle at the top")
    assert result.attributes == {"color": True, "shape": True, "size": False, "position": True}
    assert not result.all_hold
    blank = np.zeros((32, 32, 3), np.uint8)
    assert not any(caption_checker.check_caption(blank, "a red circle").attributes.values())


def test_bad_input_raises():
    image = shapes.make_sample(0, 0).image
    with pytest.raises(grammar.CaptionError):
        caption_checker.check_caption(image, "a dog")
    with pytest.raises(ValueError, match="S, S, 3"):
        caption_checker.check_caption(image[..., :2], "a red circle")
    with pytest.raises(ValueError, match="uint8"):
        caption_checker.check_caption(image.astype(np.float32), "a red circle")
