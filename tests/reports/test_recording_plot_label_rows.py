"""The recording picture's label panel rows (respira.reports.recording_plot): where each event's bar goes,
how narrow it may be, which rows there are, and which events are refused."""

from __future__ import annotations

import pytest

from respira.models.respira.decision import Event
from respira.reports.figures import new_figure
from respira.reports.recording_plot import (
    MIN_EVENT_PIXELS,
    Span,
    draw_label_rows,
    event_bars,
    min_bar_seconds,
)


def _axes(width_inches: float = 10.0):
    figure = new_figure(width_inches, 2.0, margins=(0.0, 0.0, 0.0, 0.0))
    return figure.add_axes((0.0, 0.0, 1.0, 1.0))


def test_bars_span_onset_to_offset_and_short_events_widen_about_their_centre() -> None:
    events = [
        Event(1.0, 3.5, "crackle", 0.9),
        Event(5.0, 5.02, "crackle", 0.6),
        Event(0.0, 0.02, "wheeze", 0.5),
        Event(9.99, 10.0, "wheeze", 0.5),
    ]
    bars = event_bars(events, duration=10.0, min_seconds=0.1)
    assert bars[0] == (1.0, 2.5)
    assert bars[1] == pytest.approx((4.96, 0.1))  # centred on 5.01
    assert bars[2] == (0.0, 0.1)  # kept inside the recording at its start...
    assert bars[3] == pytest.approx((9.9, 0.1))  # ...and at its end
    assert event_bars([], 10.0, 0.1) == []


def test_the_narrowest_bar_is_a_few_pixels_of_the_axis() -> None:
    ax = _axes(10.0)  # 10 inches at the figure's dpi
    pixels = 10.0 * ax.figure.dpi
    assert min_bar_seconds(ax, 600.0) == pytest.approx(MIN_EVENT_PIXELS * 600.0 / pixels)
    assert min_bar_seconds(_axes(5.0), 600.0) == pytest.approx(2 * min_bar_seconds(ax, 600.0))


def test_rows_top_down_four_class_strips_then_one_per_event_label() -> None:
    ax = _axes()
    strips = [("annotated", [Span(0.0, 4.0, "wheeze")]), ("predicted", [Span(0.0, 10.0, "normal")])]
    events = [Event(2.0, 6.0, "wheeze", 0.8)]
    assert draw_label_rows(ax, strips, events, 10.0) == 4
    assert [" ".join(t.get_text().split()) for t in ax.get_yticklabels()][::-1] == [
        "annotated",
        "predicted",
        "crackle events",
        "wheeze events",
    ]
    assert ax.get_ylim() == (-0.5, 3.5)
    assert [t.get_position()[1] for t in ax.texts if t.get_text() == "none detected"] == [1.0]

    ax = _axes()
    assert draw_label_rows(ax, strips[1:], None, 10.0) == 1
    assert [c.get_label() for c in ax.collections] == ["predicted"]
