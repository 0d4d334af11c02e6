"""respira.core.onnx_graph: the graph's batches of equal length and the steps a short input keeps."""

from __future__ import annotations

import numpy as np

from respira.core.onnx_graph import batches_by_length, steps_within


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
