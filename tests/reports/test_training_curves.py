"""The training-curves plot: what was logged while training, the selected checkpoint, epochs, percent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from respira.reports.training_curves import (
    plot_training_curves,
    training_curves_figure,
    training_entries,
)

STEPS_PER_EPOCH = 5
SCORES = [0.30, 0.55, 0.72, 0.60, 0.72, 0.65]  # epoch 3 is the best (epoch 5 only ties it)


def _history() -> list[dict]:
    """A Trainer's log_history: losses every 5 steps, an evaluation per epoch, the end-of-training
    summary, then the re-evaluation of the selected checkpoint and the test scores (both logged at
    the last step)."""
    history: list[dict] = []
    for epoch, score in enumerate(SCORES, start=1):
        step = epoch * STEPS_PER_EPOCH
        history.append({"loss": 1.5 / epoch, "task_loss": 1.2 / epoch, "epoch": float(epoch), "step": step})
        history.append(
            {"eval_loss": 1.0 + 0.1 * epoch, "eval_icbhi_score": score, "epoch": float(epoch), "step": step}
        )
    last = len(SCORES) * STEPS_PER_EPOCH
    history.append({"train_runtime": 12.0, "train_loss": 0.9, "epoch": 6.0, "step": last})
    history.append({"eval_loss": 0.42, "eval_icbhi_score": 0.72, "epoch": 6.0, "step": last})
    history.append({"test_icbhi_score": 0.61, "test_loss": 1.1, "epoch": 6.0, "step": last})
    return history


def _score_line(figure):
    (line,) = [
        line
        for ax in figure.axes
        for line in ax.get_lines()
        if line.get_label().startswith("validation ICBHI")
    ]
    return line


def _selected(figure):
    return [line for ax in figure.axes for line in ax.get_lines() if line.get_label().startswith("selected")]


def test_the_final_re_evaluation_is_not_a_point_of_the_curves() -> None:
    history = _history()
    assert training_entries(history) == history[: 2 * len(SCORES)]
    figure = training_curves_figure(history, best_step=15)
    score = _score_line(figure)
    np.testing.assert_allclose(score.get_xdata(), [1, 2, 3, 4, 5, 6])  # epochs
    np.testing.assert_allclose(score.get_ydata(), [100 * s for s in SCORES])  # percent; last 65, not 72
    (eval_loss,) = [line for line in figure.axes[0].get_lines() if "[eval_loss]" in line.get_label()]
    assert len(eval_loss.get_xdata()) == len(SCORES) and 0.42 not in eval_loss.get_ydata()
    assert figure.axes[1].get_ylim() == (0.0, 100.0) and "%" in figure.axes[1].get_ylabel()


def test_the_selected_checkpoint_is_marked_at_the_best_step() -> None:
    figure = training_curves_figure(_history(), best_step=15)
    (marker,) = _selected(figure)
    assert list(marker.get_xdata()) == [3.0] and list(marker.get_ydata()) == [pytest.approx(72.0)]
    assert marker.get_label() == "selected checkpoint (step 15, epoch 3): validation ICBHI score 72.00 %"
    vertical = [line for line in figure.axes[0].get_lines() if list(line.get_xdata()) == [3.0, 3.0]]
    assert len(vertical) == 1
    legend_labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert marker.get_label() in legend_labels

    # another step given (e.g. a different selection metric): the mark follows it
    (marker,) = _selected(training_curves_figure(_history(), best_step=25))
    assert list(marker.get_xdata()) == [5.0]
    # a step without an evaluation, or none given: no mark rather than a wrong one
    assert _selected(training_curves_figure(_history(), best_step=7)) == []
    assert _selected(training_curves_figure(_history())) == []


def test_epoch_ticks_are_integers_and_short_runs_use_steps() -> None:
    figure = training_curves_figure(_history(), best_step=15)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "epoch"
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)

    short = [{"loss": 1.0, "epoch": 0.1, "step": 1}, {"eval_icbhi_score": 0.5, "epoch": 0.2, "step": 2}]
    figure = training_curves_figure(short)
    assert figure.axes[0].get_xlabel() == "training step"
    np.testing.assert_allclose(_score_line(figure).get_xdata(), [2])


@pytest.mark.figures
def test_interrupted_history_is_drawn_whole_and_the_png_is_written(tmp_path: Path) -> None:
    history = _history()[:6]  # no end-of-training summary: training was interrupted
    assert training_entries(history) == history
    path = plot_training_curves(history, tmp_path / "curves" / "training_curves.png", best_step=10)
    assert path.is_file() and path.stat().st_size > 10_000
    assert not list(tmp_path.rglob("*.partial"))


def test_an_infinite_loss_is_left_out_and_numpy_steps_place_the_points() -> None:
    history = [
        {"loss": 1.0, "step": np.int64(2), "epoch": 0.2},
        {"loss": float("inf"), "step": np.int64(4), "epoch": 0.4},  # an fp16 overflow, as logged
        {"loss": 0.5, "step": np.int64(6), "epoch": 0.6},
    ]
    figure = training_curves_figure(history)
    (loss,) = [line for line in figure.axes[0].get_lines() if "[loss]" in line.get_label()]
    np.testing.assert_allclose(loss.get_xdata(), [2, 6])  # steps, not the entries' positions
    np.testing.assert_allclose(loss.get_ydata(), [1.0, 0.5])
