"""respira.hub.onnx: the graph's batches of equal length and the steps a short input keeps."""

from __future__ import annotations

import numpy as np
import pytest

from respira.hub.onnx import batches_by_length, steps_within


def test_batches_hold_equal_lengths_at_most_batch_size_in_first_appearance_order():
    waveforms = [np.full(n, i, dtype=np.float64) for i, n in enumerate([5, 3, 5, 5, 3, 7])]
    batches = list(batches_by_length(waveforms, 2))
    assert [(length, rows) for length, rows, _ in batches] == [(5, [0, 2]), (5, [3]), (3, [1, 4]), (7, [5])]
    for _, rows, batch in batches:
        assert batch.dtype == np.float32
        np.testing.assert_array_equal(batch[:, 0], rows)  # each row is its own waveform


def test_steps_past_the_input_are_dropped_but_never_the_first():
    times = np.array([0.15, 0.45, 0.75, 1.05])
    assert steps_within(times, 0.8).tolist() == [True, True, True, False]
    assert steps_within(times, 0.1).tolist() == [True, False, False, False]


class _Session:
    """An onnxruntime session's ``run``: each waveform's sum and its negation as its probabilities."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert names == ["probabilities"] and list(feeds) == ["input_values"]
        batch = feeds["input_values"]
        self.batches.append(batch.shape[0])
        return [np.stack([batch.sum(axis=1), -batch.sum(axis=1)], axis=1)]


def test_run_probabilities_puts_each_row_back_in_the_waveforms_order():
    from respira.hub.onnx import run_probabilities

    waveforms = [np.full(n, i, dtype=np.float32) for i, n in enumerate([5, 3, 5, 5, 3, 7])]
    session = _Session()
    probabilities = run_probabilities(session, waveforms, 2, 2)
    assert session.batches == [2, 1, 2, 1]  # equal lengths only, at most 2
    np.testing.assert_array_equal(probabilities[:, 0], [w.sum() for w in waveforms])
    np.testing.assert_array_equal(probabilities[:, 1], [-w.sum() for w in waveforms])
    assert probabilities.dtype == np.float64


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_every_onnx_runner_batches_only_by_a_whole_number_of_at_least_one(size: object) -> None:
    """The one check of the graph's batch size is where every runner batches (``batches_by_length``):
    ``run_probabilities`` and both ``predict_frames`` refuse through it, empty input or not."""
    from respira.hub.onnx import run_probabilities

    waveforms = [np.zeros(4, dtype=np.float32)]
    with pytest.raises(ValueError, match=f"batch_size must be a whole number >= 1, got {size}"):
        next(batches_by_length(waveforms, size))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        run_probabilities(_Session(), [], size, 2)  # type: ignore[arg-type]
    assert [rows for _, rows, _ in batches_by_length(waveforms * 3, 2.0)] == [[0, 1], [2]]  # type: ignore[arg-type]
