"""The label panel of the recording picture (:mod:`.recording_plot`): rows of bars on its time axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib.colors

from ..models.respira.labels import MULTI_LABEL_NAMES

if TYPE_CHECKING:
    from ..models.respira.events import Event

PROBABILITY_COLOURS = {"crackle": "#e6550d", "wheeze": "#3182bd"}
LABEL_COLOURS = {"normal": "#d9d9d9", "crackle": "#fd8d3c", "wheeze": "#6baed6", "both": "#9e7ac7"}
MIN_LABELLED_FRACTION = 0.035
"""A span or event narrower than this fraction of the recording gets its colour but no text."""
MIN_EVENT_PIXELS = 3.0
"""The narrowest an event's bar is drawn, in pixels of the figure at its own dpi."""
MIN_EVENT_ALPHA = 0.35  # opacity of an event bar of confidence 0 (1 at confidence 1, linear between)
NONE_STYLE = {"color": "0.5", "style": "italic"}  # how an event row without events says so
BAR_HEIGHT = 0.76  # a bar's height in rows (rows are 1 apart)


class Span(NamedTuple):
    """A labelled time span in seconds (an annotated cycle)."""

    start: float
    end: float
    label: str


def min_bar_seconds(ax: Any, duration: float) -> float:
    """Seconds that :data:`MIN_EVENT_PIXELS` span on ``ax``, whose x axis shows ``duration`` seconds."""
    pixels = ax.get_position().width * ax.figure.get_figwidth() * ax.figure.dpi
    return MIN_EVENT_PIXELS * duration / max(pixels, 1.0)


def event_bars(events: Sequence[Event], duration: float, min_seconds: float) -> list[tuple[float, float]]:
    """``(start, width)`` of each event's bar, at least ``min_seconds`` wide and within ``[0, duration]``."""
    bars = []
    for event in events:
        start, width = float(event.onset), float(event.offset) - float(event.onset)
        if width < min_seconds:
            centre = (start + float(event.offset)) / 2
            start = min(max(centre - min_seconds / 2, 0.0), max(duration - min_seconds, 0.0))
            width = min_seconds
        bars.append((start, width))
    return bars


def _draw_row(
    ax: Any, bars: list, y: float, texts: list, duration: float, fontsize: float, **style: Any
) -> None:
    """One row's bars (one ``broken_barh``) and the texts of the spans wide enough to hold them."""
    ax.broken_barh(bars, (y - BAR_HEIGHT / 2, BAR_HEIGHT), **style)
    for onset, offset, text in texts:
        start, end = max(onset, 0.0), min(offset, duration)  # the part inside the recording
        if end - start >= MIN_LABELLED_FRACTION * duration:
            ax.text((start + end) / 2, y, text, ha="center", va="center", fontsize=fontsize, clip_on=True)


def _draw_spans(ax: Any, spans: Sequence[Span], name: str, duration: float, y: float) -> None:
    if spans:
        bars = [(span.start, span.end - span.start) for span in spans]
        colours = [LABEL_COLOURS.get(span.label, "white") for span in spans]
        style = {"facecolors": colours, "edgecolors": "white", "linewidth": 0.8, "label": name}
        _draw_row(ax, bars, y, [(span.start, span.end, span.label) for span in spans], duration, 8, **style)


def _draw_events(
    ax: Any, events: Sequence[Event], label: str, duration: float, left_out: int, y: float
) -> None:
    if not events:
        text = "none detected"
        if left_out:
            text = f"none held by the verdict ({left_out} frame event{'s' if left_out != 1 else ''} left out)"
        ax.text(duration / 2, y, text, ha="center", va="center", fontsize=8, **NONE_STYLE)
        return
    colour = PROBABILITY_COLOURS[label]
    alphas = [MIN_EVENT_ALPHA + (1 - MIN_EVENT_ALPHA) * min(max(e.confidence, 0.0), 1.0) for e in events]
    colours = [matplotlib.colors.to_rgba(colour, alpha) for alpha in alphas]
    style = {"facecolors": colours, "edgecolors": colour, "linewidth": 0.6, "label": f"{label} events"}
    bars = event_bars(events, duration, min_bar_seconds(ax, duration))
    texts = [(event.onset, event.offset, f"{event.confidence:.2f}") for event in events]
    _draw_row(ax, bars, y, texts, duration, 7.5, **style)


def draw_label_rows(
    ax: Any,
    strips: Sequence[tuple[str, Sequence[Span]]],
    events: Sequence[Event] | None,
    duration: float,
    left_out: Sequence[Event] = (),
) -> int:
    """Draw the four-class ``strips``, then (``events`` given) one event row per label; return the rows."""
    # (tick label, its colour, the row's drawing given its y), top down
    rows: list[tuple[str, str, Callable[[float], None]]] = [
        (name, "black", partial(_draw_spans, ax, spans, name, duration)) for name, spans in strips
    ]
    if events is not None:
        for label in MULTI_LABEL_NAMES:
            of_label = [event for event in events if event.label == label]
            dropped = sum(event.label == label for event in left_out)
            draw = partial(_draw_events, ax, of_label, label, duration, dropped)
            rows.append((f"{label}\nevents", PROBABILITY_COLOURS[label], draw))
    rows.reverse()
    for position, (_, _, draw) in enumerate(rows):
        draw(float(position))
    ax.set_yticks(range(len(rows)), labels=[tick for tick, _, _ in rows])
    for text, (_, colour, _) in zip(ax.get_yticklabels(), rows, strict=True):
        text.set_color(colour)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.tick_params(axis="y", length=0)
    return len(rows)
