"""A picture of one recording: where the model hears crackles and wheezes (``respira predict --plot``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib.colors
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter

from ..models.respira.audio_decoding import as_waveform, audio_header, read_audio
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL, MULTI_LABEL_NAMES, cycle_label
from ..models.respira.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS
from .figures import new_figure, save_figure
from .spectrogram import hz_to_mel, mel_spectrogram_db, mel_to_hz

if TYPE_CHECKING:
    from ..models.respira import RespiraForAudioClassification
    from ..models.respira.decision import Event

FREQUENCY_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000, 16000)
WIDTH, HEIGHT = 13.0, 8.2  # the figure's size in inches
MARGINS = {"left": 0.95, "right": 2.2, "top": 0.62, "bottom": 0.5, "gap": 0.18}
"""Inches around and between the panels (fixed: no layout engine drawing the figure twice)."""
COLOUR_BAR = (0.15, 0.17)  # inches from the spectrogram to its colour bar, and the bar's width
ROW_HEIGHT = 0.4
"""A label panel row's height relative to the spectrogram's (3) and the probabilities' (2) heights."""
CAPTION_HEIGHT, CAPTION_BOTTOM = 0.3, 0.08
"""Inches the events caption adds under the panels, and from the figure's bottom to the caption."""
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


def _are_cycles(rows: Sequence[Mapping[str, Any]]) -> bool:
    return bool(rows) and all("annotated_label" in row for row in rows)


def step_series(
    rows: Sequence[Mapping[str, Any]], key: str, duration: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of probability ``key``: steps at window midpoints, or a level per cycle."""
    values = np.asarray([float(row[key]) for row in rows])
    if _are_cycles(rows):
        xs = np.asarray([[row["start"], row["end"], np.nan] for row in rows], dtype=np.float64).ravel()
        ys = np.repeat(values, 3)
        ys[2::3] = np.nan
        return xs, ys
    centres = np.asarray([(row["start"] + row["end"]) / 2 for row in rows], dtype=np.float64)
    xs = np.concatenate([[0.0], centres, [duration]])
    ys = np.concatenate([values[:1], values, values[-1:]])
    return xs, ys


def _predicted_spans(rows: Sequence[Mapping[str, Any]], duration: float) -> list[Span]:
    """Each row's label over the moments it stands for (nearest window centre, or its cycle)."""
    if _are_cycles(rows):
        return [Span(float(row["start"]), float(row["end"]), str(row["label"])) for row in rows]
    centres = [(row["start"] + row["end"]) / 2 for row in rows]
    edges = [0.0, *((a + b) / 2 for a, b in itertools.pairwise(centres)), duration]
    return [Span(edges[i], edges[i + 1], str(row["label"])) for i, row in enumerate(rows)]


def _panels(figure: Figure, label_rows: int, caption: bool = False) -> tuple[Any, Any, Any, Any]:
    """The spectrogram, probability and label panels and the colour bar's axes, placed at :data:`MARGINS`."""
    ratios = [3.0, 2.0, 0.1 + ROW_HEIGHT * label_rows]
    bottom = MARGINS["bottom"] + (CAPTION_HEIGHT if caption else 0.0)
    panels_height = HEIGHT - MARGINS["top"] - bottom - 2 * MARGINS["gap"]
    left, right, top = MARGINS["left"] / WIDTH, 1 - MARGINS["right"] / WIDTH, 1 - MARGINS["top"] / HEIGHT
    hspace = MARGINS["gap"] / (panels_height / len(ratios))
    grid = figure.add_gridspec(
        3, 1, height_ratios=ratios, left=left, right=right, top=top, bottom=bottom / HEIGHT, hspace=hspace
    )
    spectrum_ax = figure.add_subplot(grid[0], label="spectrogram")
    probability_ax = figure.add_subplot(grid[1], sharex=spectrum_ax, label="probabilities")
    label_ax = figure.add_subplot(grid[2], sharex=spectrum_ax, label="labels")
    box = spectrum_ax.get_position()
    offset, width = COLOUR_BAR
    colour_ax = figure.add_axes(
        (box.x1 + offset / WIDTH, box.y0, width / WIDTH, box.height), label="colour bar"
    )
    return spectrum_ax, probability_ax, label_ax, colour_ax


def _draw_spectrogram(ax: Any, cax: Any, waveform: np.ndarray, sampling_rate: int) -> None:
    pixels = ax.get_position().width * ax.figure.get_figwidth() * ax.figure.dpi
    spectrogram = mel_spectrogram_db(waveform, sampling_rate, max_columns=max(1, round(pixels)))
    edges = (spectrogram.time_edges, spectrogram.frequency_edges)
    mesh = ax.pcolormesh(*edges, spectrogram.db, cmap="magma", shading="flat", rasterized=True)
    ax.set_yscale("function", functions=(hz_to_mel, mel_to_hz))
    bottom, top = spectrogram.frequency_edges[[0, -1]]
    ax.set(ylim=(bottom, top), ylabel="frequency (Hz, mel scale)")
    ax.yaxis.set_major_locator(FixedLocator([f for f in FREQUENCY_TICKS if f <= top]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda hz, _: f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"))
    ax.yaxis.set_minor_locator(FixedLocator([]))
    ax.figure.colorbar(mesh, cax=cax, format="%+2.0f dB", label="power (dB re. maximum)")


def _draw_probabilities(
    ax: Any,
    rows: Sequence[Mapping[str, Any]],
    duration: float,
    thresholds: tuple[float, float] | None,
) -> list[Any]:
    single_label = all("p_normal" in row for row in rows)
    cycles = _are_cycles(rows)
    handles = []
    for index, name in enumerate(MULTI_LABEL_NAMES):
        xs, ys = step_series(rows, name, duration)
        colour, style = PROBABILITY_COLOURS[name], "default" if cycles else "steps-mid"
        label = f"P({name}s present)" + (f"\n= p_{name} + p_both" if single_label else "")
        handles += ax.plot(xs, ys, color=colour, linewidth=2.0, drawstyle=style, label=label)
        if not cycles and len(rows) <= 60:  # dots at the window centres, where each value belongs
            ax.plot(xs[1:-1], ys[1:-1], linestyle="none", marker="o", markersize=3.5, color=colour)
        if thresholds is not None:
            label = f"{name} threshold ({thresholds[index]:.2f})"
            handles.append(
                ax.axhline(thresholds[index], color=colour, linestyle="--", linewidth=1.2, label=label)
            )
    ax.set(ylim=(-0.03, 1.03), yticks=[0.0, 0.25, 0.5, 0.75, 1.0], ylabel="probability")
    ax.grid(True, alpha=0.3)
    return handles


FRAME_COLUMNS = 2000
"""The most points a frame-posterior line keeps (each the maximum of a run of frames): about the pixels."""


def _draw_frames(ax: Any, times: np.ndarray, posteriors: np.ndarray) -> list[Any]:
    step = max(1, math.ceil(len(times) / FRAME_COLUMNS))
    count = len(times) // step * step or len(times)
    handles = []
    for column, name in enumerate(MULTI_LABEL_NAMES):
        values = posteriors[:count, column]
        xs = times[:count]
        if step > 1:
            values, xs = values.reshape(-1, step).max(axis=1), xs.reshape(-1, step).mean(axis=1)
        colour = PROBABILITY_COLOURS[name]
        handles += ax.plot(xs, values, color=colour, linewidth=0.8, alpha=0.7, label=f"{name} per frame")
    return handles


def recording_figure(
    waveform: np.ndarray,
    sampling_rate: int,
    rows: Sequence[Mapping[str, Any]],
    *,
    thresholds: tuple[float, float] | None = None,
    cycles: Sequence[Span] | None = None,
    title: str = "recording",
    subtitle: str | None = None,
    events: Sequence[Event] | None = None,
    frames: tuple[np.ndarray, np.ndarray] | None = None,
    events_caption: str | None = None,
    left_out: Sequence[Event] | None = None,
) -> Figure:
    """The picture of a recording from its prediction ``rows``: ``events`` (``None``: no event rows) under
    the labels, ``frames`` ``(times, posteriors)`` as thin lines; the axes are labelled ``spectrogram``,
    ``probabilities`` and ``labels``."""
    waveform = as_waveform(waveform)
    if not rows:
        raise ValueError("no predictions to draw")
    duration = waveform.shape[0] / sampling_rate
    figure = new_figure(WIDTH, HEIGHT, margins=(0.0, 0.0, 0.0, 0.0))
    strips = [("annotated", list(cycles))] if cycles else []
    strips.append(("predicted", _predicted_spans(rows, duration)))
    label_rows = len(strips) + (len(MULTI_LABEL_NAMES) if events is not None else 0)
    spectrum_ax, probability_ax, label_ax, colour_ax = _panels(figure, label_rows, bool(events_caption))
    _draw_spectrogram(spectrum_ax, colour_ax, waveform, sampling_rate)
    handles = _draw_probabilities(probability_ax, rows, duration, thresholds)
    if frames is not None:
        handles += _draw_frames(probability_ax, *frames)
    draw_label_rows(label_ax, strips, events, duration, left_out or ())
    label_ax.set_xlabel("time (min:s)" if duration > 600 else "time (s)")
    if duration > 600:
        label_ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: f"{int(t // 60)}:{int(t % 60):02d}"))
    spectrum_ax.set_xlim(0.0, duration)
    for ax in (spectrum_ax, probability_ax):
        ax.tick_params(axis="x", labelbottom=False)

    beside = {"loc": "center left", "bbox_to_anchor": (1.0, 0.5), "fontsize": 8.5, "frameon": False}
    probability_ax.legend(handles=handles, borderaxespad=1.2, **beside)
    patches = [Patch(facecolor=LABEL_COLOURS[name], label=name) for name in CLASS_NAMES]
    label_ax.legend(handles=patches, ncols=2, borderaxespad=1.2, **beside)
    figure.suptitle(title, fontsize=13, y=1 - 0.12 / HEIGHT, va="top")
    if subtitle:
        spectrum_ax.set_title(subtitle, fontsize=9.5, loc="left")
    if events_caption:
        style = {"fontsize": 8.5, "ha": "left", "va": "bottom", "wrap": True, "label": "events caption"}
        figure.text(MARGINS["left"] / WIDTH, CAPTION_BOTTOM / HEIGHT, events_caption, **style)
    return figure


def plot_recording(
    model: RespiraForAudioClassification,
    audio: str | Path,
    path: str | Path,
    *,
    rows: Sequence[Mapping[str, Any]],
    annotations: str | Path | None = None,
    window: float = DEFAULT_WINDOW_SECONDS,
    hop: float = DEFAULT_HOP_SECONDS,
    smoothing: int = 1,
    title: str | None = None,
    **drawing: Any,
) -> Path:
    """Draw ``audio`` as ``model`` predicted it to ``path`` (``drawing``: :func:`recording_figure`'s
    ``events``, ``frames``, ``events_caption``, ``left_out``); return the path."""
    from ..data.text_files import read_annotations
    from ..models.respira.decision import thresholds_of

    config = model.config
    rate = int(config.sampling_rate)
    read = read_annotations(Path(annotations)) if annotations is not None else None
    cycles = None if read is None else [Span(c.start, c.end, cycle_label(c.crackle, c.wheeze)) for c in read]
    problem_type = getattr(config, "problem_type", None)
    if _are_cycles(rows):
        spans = f"each of the {len(rows)} annotated cycles"
    else:
        spans = f"{window:g} s windows every {hop:g} s"
        if smoothing > 1:
            spans += f", moving average over {smoothing} windows"
    rule = (
        "a label is present when its probability reaches its threshold (dashed)"
        if problem_type == MULTI_LABEL
        else "the label is the most probable of the 4 classes"
    )
    name = Path(str(getattr(config, "_name_or_path", "") or "")).name
    display_rate = min(rate, audio_header(audio).sampling_rate or rate)
    figure = recording_figure(
        read_audio(audio, display_rate),
        display_rate,
        rows,
        thresholds=thresholds_of(config) if problem_type == MULTI_LABEL else None,
        cycles=cycles,
        title=title or (Path(audio).name + (f"  ·  model {name}" if name else "")),
        subtitle=f"crackle and wheeze probabilities of {spans}; {rule}",
        **drawing,
    )
    return save_figure(figure, path)
