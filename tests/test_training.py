"""Training helpers that need no training: the learning-rate schedule, the curve charts."""

import numpy as np
import pytest

from keras_dalle.training import common, stages
from keras_dalle.visualize import line_chart


def test_warmup_cosine_rises_to_the_peak_then_decays_to_a_floor():
    schedule = common.warmup_cosine(1e-3, total_steps=1000)
    rates = np.array([float(schedule(step)) for step in (0, 25, 50, 500, 1000)])
    np.testing.assert_allclose(rates[[0, 2, 4]], [0.0, 1e-3, 5e-5], rtol=1e-5, atol=1e-9)
    assert 0 < rates[1] < rates[2] and rates[4] < rates[3] < rates[2]


def test_line_chart_draws_every_series_and_rejects_none():
    chart = line_chart({"a": ([1, 2, 3], [0.1, 0.5, 0.4]), "b": ([1, 3], [0.2, 0.9])}, "title", "step", size=(320, 200))
    assert chart.size == (320, 200)
    pixels = np.asarray(chart).reshape(-1, 3)
    assert {(90, 170, 250), (250, 160, 60)} <= {tuple(p) for p in pixels}  # both series' colors are drawn
    with pytest.raises(ValueError, match="non-empty"):
        line_chart({"a": ([], [])})


def test_stages_train_a_folder_for_about_a_fixed_number_of_steps_by_default():
    from keras_dalle.data.sources import LoadReport

    def epochs(pictures, batch_size=32, steps_per_epoch=None, endless=False, folder_steps=stages.FOLDER_GENERATOR_STEPS):
        return stages.default_epochs(LoadReport("f", found=pictures, endless=endless), batch_size, steps_per_epoch, folder_steps)

    emoji = epochs(3464)  # 108 steps a pass
    assert emoji == -(-stages.FOLDER_GENERATOR_STEPS // 108) and emoji * 108 >= stages.FOLDER_GENERATOR_STEPS
    assert epochs(64) == stages.MAX_DEFAULT_EPOCHS  # 2 steps a pass: capped
    assert epochs(1_000_000) == stages.DEFAULT_EPOCHS  # more than enough steps in a few passes
    assert epochs(3464, steps_per_epoch=50) == epochs(0, endless=True) == stages.DEFAULT_EPOCHS
    assert epochs(3118, folder_steps=stages.FOLDER_TOKENIZER_STEPS) == 30  # the emoji tokenizer run: 97 steps a pass


def test_step_time_is_the_median_gap_between_batch_ends(monkeypatch):
    from keras_dalle.training import callbacks

    clock = iter([10.0, 11.0, 13.0, 14.0, 20.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    timer, logs = callbacks.StepTime(), {}
    timer.on_epoch_begin(0)
    for batch in range(4):
        timer.on_train_batch_end(batch)
    timer.on_epoch_end(0, logs)
    assert logs["step_seconds"] == 1.0  # gaps 1, 2, 1: the slow second step does not move the median
    assert logs["mean_step_seconds"] == 4.0 / 3.0  # but it moves the mean
    timer.on_epoch_begin(1)
    timer.on_train_batch_end(0)
    one_batch = {}
    timer.on_epoch_end(1, one_batch)
    assert "step_seconds" not in one_batch  # one batch has no gap to measure
