"""respira.models.respira.windows: windows of several recordings in fixed-size batches, outputs put back
per recording."""

from __future__ import annotations

import numpy as np
import pytest

from respira.models.respira.windows import run_batched, window_batches, window_samples, window_spans


def _recordings(lengths: list[int]) -> list[list[float]]:
    """Recording ``r`` holds windows ``100 * r + i``: every window names its recording and place."""
    return [[100.0 * r + i for i in range(length)] for r, length in enumerate(lengths)]


def test_batches_are_full_across_recordings_and_the_last_is_short() -> None:
    recordings = _recordings([3, 0, 5, 1])  # 9 windows, one recording without any
    batches = list(window_batches(recordings, 4))
    assert [len(batch) for batch in batches] == [4, 4, 1]
    assert batches[0] == [(0, 0.0), (0, 1.0), (0, 2.0), (2, 200.0)]  # recording 2 split over two batches
    assert batches[1] == [(2, 201.0), (2, 202.0), (2, 203.0), (2, 204.0)]
    assert batches[2] == [(3, 300.0)]


def test_outputs_go_back_to_their_recordings_in_order() -> None:
    recordings = _recordings([3, 0, 5, 1, 7])
    calls: list[int] = []

    def run(windows: list[float]) -> list[float]:
        calls.append(len(windows))
        return [-window for window in windows]

    outputs = run_batched(recordings, run, 4)
    assert calls == [4, 4, 4, 4]
    assert outputs == [[-window for window in windows] for windows in recordings]


@pytest.mark.parametrize("size", [1, 2, 3, 16])
def test_any_batch_size_gives_the_outputs_of_one_window_at_a_time(size: int) -> None:
    recordings = _recordings([2, 9, 1, 4])
    assert run_batched(recordings, lambda w: [x * 2 for x in w], size) == run_batched(
        recordings, lambda w: [x * 2 for x in w], 1
    )


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_a_batch_size_that_is_not_a_whole_number_above_zero_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        run_batched([[1.0]], list, size)  # type: ignore[arg-type]


def test_a_run_error_raises_from_run_batched() -> None:
    def run(windows: list[float]) -> list[float]:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        run_batched(_recordings([2]), run, 2)


def test_windows_cut_from_recordings_of_different_lengths_run_as_if_alone() -> None:
    rate = 100
    window, hop = window_samples(1.0, 0.5, rate)
    rng = np.random.default_rng(0)
    signals = [rng.standard_normal(n) for n in (50, 240, 101, 400)]  # shorter than a window, partial last
    recordings = [[signal[a:b] for a, b in window_spans(len(signal), window, hop)] for signal in signals]
    assert [len(windows) for windows in recordings] == [1, 4, 2, 7]
    assert window_spans(240, window, hop)[-1] == (150, 240)

    def run(windows: list[np.ndarray]) -> list[tuple[int, float]]:
        return [(len(w), float(w.sum())) for w in windows]

    together = run_batched(recordings, run, 3)
    alone = [run(windows) for windows in recordings]
    assert together == alone
