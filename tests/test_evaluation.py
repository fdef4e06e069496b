import numpy as np

from keras_dalle.data import shapes
from keras_dalle.evaluation.generation import evaluate_model, format_table


class _Painter:
    """A stand-in model: draws each known caption's true picture, and a black picture for any other."""

    def __init__(self, samples):
        self.pictures = {sample.caption: sample.image for sample in samples}

    def generate(self, prompts, num_images=1, seed=None, **sampling):
        black = np.zeros_like(next(iter(self.pictures.values())))
        return np.stack([self.pictures.get(p, black) for p in prompts for _ in range(num_images)])


def test_evaluate_model_keeps_the_groups_a_caller_names():
    samples = [shapes.make_sample(3, i) for i in range(6)]
    prompts = [shapes.EvalPrompt(s.caption, "mine") for s in samples[:4]]
    prompts += [shapes.EvalPrompt("a red circle", "unknown to the painter")]
    prompts += [shapes.EvalPrompt(s.caption, "one_object") for s in samples[4:]]
    summary = evaluate_model(_Painter(samples), prompts, num_images=2, progress=False)
    assert list(summary) == ["one_object", "mine", "unknown to the painter", "overall"]  # built-in groups first
    assert [summary[g]["pictures"] for g in summary] == [4, 8, 2, 14]
    assert summary["mine"]["all"] == 1.0 and summary["one_object"]["all"] == 1.0
    assert summary["unknown to the painter"]["all"] == 0.0
    assert summary["overall"]["all"] == 12 / 14
    lines = format_table(summary).splitlines()
    assert len({line.index(" ", len("unknown to the painter")) for line in lines[2:]}) == 1  # one column for long names too
    assert lines[3].startswith("mine ") and "100.0%" in lines[3]
