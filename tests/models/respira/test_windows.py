"""respira.models.respira.windows: how every runner cuts a recording into windows and cycles."""

from __future__ import annotations

import pytest

from respira.models.respira.windows import cycle_spans, window_samples, window_spans


def test_window_spans_cover_the_recording_and_the_last_ends_at_its_end():
    assert window_spans(1000, 400, 200) == [(0, 400), (200, 600), (400, 800), (600, 1000)]
    assert window_spans(1001, 400, 200)[-1] == (800, 1001)
    assert window_spans(300, 400, 200) == [(0, 300)]  # shorter than one window: all of it


def test_window_samples_keep_the_hop_between_one_sample_and_the_window():
    assert window_samples(4.0, 2.0, 16000) == (64000, 32000)
    assert window_samples(1.0, 5.0, 100) == (100, 100)
    assert window_samples(1.0, 0.001, 100) == (100, 1)


def test_cycle_spans_cut_annotated_cycles_as_every_runner_does():
    segments, spans = cycle_spans([(0.0, 1.5), ("1.5", 9.0)], 100, 500, 10)
    assert segments == [(0, 150), (150, 500)]  # the end clipped to the recording
    assert spans == [(0.0, 1.5), (1.5, 9.0)]


@pytest.mark.parametrize(
    ("cycles", "message"),
    [
        ("0-1", "got the string"),
        ([(1.0,)], "cycle 1 must be a \\(start, end\\) pair"),
        ([(0.0, 1.0), (2.0, 1.0)], "cycle 2 \\(2.0-1.0 s\\) is not a valid span"),
        ([(6.0, 7.0)], "starts after the end of the recording \\(5.000 s\\)"),
        ([(1.0, 1.05)], "cycle 1 \\(1.0-1.05 s\\) of the recording lasts"),
    ],
)
def test_a_cycle_that_cannot_be_cut_is_one_line_naming_it(cycles, message):
    with pytest.raises(ValueError, match=message):
        cycle_spans(cycles, 100, 500, 10)
