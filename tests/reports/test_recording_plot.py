"""The picture of a recording: time axes, window centres, thresholds, annotated cycles, event rows and
the spectrogram's top frequency, read off the matplotlib artists (not the pixels)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import matplotlib.colors
import numpy as np
import pytest
import soundfile as sf
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

import respira.models.respira.decision
from respira.hub.loading import load_model
from respira.inference.detector import Detector
from respira.inference.windowing import predict_windows
from respira.models.respira.audio_decoding import audio_header, read_audio
from respira.models.respira.decision import Event
from respira.models.respira.windows import window_starts
from respira.reports import recording_plot
from respira.reports.recording_plot import plot_recording, recording_figure
from respira.reports.spectrogram import MAX_COLUMNS

from ..conftest import RATE, THRESHOLDS

NAMES = ("normal", "crackle", "wheeze", "both")


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every figure :func:`plot_recording` saves (it is still written)."""
    captured: list[Figure] = []
    save = recording_plot.save_figure

    def capture(figure: Figure, path: Path) -> Path:
        captured.append(figure)
        return save(figure, path)

    monkeypatch.setattr(recording_plot, "save_figure", capture)
    return captured


def _axes(figure: Figure, label: str):
    (ax,) = [ax for ax in figure.axes if ax.get_label() == label]
    return ax


def _line(ax, prefix: str):
    (line,) = [line for line in ax.get_lines() if line.get_label().startswith(prefix)]
    return line


def _threshold_lines(figure: Figure) -> dict[str, float]:
    lines = [line for line in _axes(figure, "probabilities").get_lines() if "threshold" in line.get_label()]
    result = {}
    for line in lines:
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y[0] == y[1]  # horizontal
        result[line.get_label().split()[0]] = float(y[0])
    return result


def _spans(figure: Figure, name: str) -> tuple[list[tuple[float, float]], np.ndarray]:
    """(x extents, face colours) of the strip ``name`` of the label panel."""
    (collection,) = [c for c in _axes(figure, "labels").collections if c.get_label() == name]
    extents = []
    for path in collection.get_paths():
        xs = path.vertices[:, 0]
        extents.append((float(xs.min()), float(xs.max())))
    return extents, collection.get_facecolors()


def _colours(labels: list[str]) -> np.ndarray:
    return np.asarray([matplotlib.colors.to_rgba(recording_plot.LABEL_COLOURS[label]) for label in labels])


@pytest.mark.figures
def test_window_probabilities_are_drawn_at_the_window_centres_over_the_whole_recording(
    single_label_dir: Path, noise_recording: Path, tmp_path: Path, figures: list[Figure]
) -> None:
    model, _ = load_model(single_label_dir, device="cpu")
    rows = predict_windows(model, read_audio(noise_recording, RATE), window=4.0, hop=2.0)
    path = plot_recording(model, noise_recording, tmp_path / "noise.png", rows=rows)
    assert path == tmp_path / "noise.png" and path.stat().st_size > 10_000
    (figure,) = figures

    duration = 11.0
    starts = window_starts(11 * RATE, 4 * RATE, 2 * RATE)
    centres = (starts + np.minimum(starts + 4 * RATE, 11 * RATE)) / 2 / RATE  # the last window is 3 s
    assert centres.tolist() == [2.0, 4.0, 6.0, 8.0, 9.5]
    probabilities = _axes(figure, "probabilities")
    for name in ("crackle", "wheeze"):
        line = _line(probabilities, f"P({name}s present)")
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert x[0] == 0.0 and x[-1] == duration
        np.testing.assert_allclose(x[1:-1], centres)
        np.testing.assert_allclose(y[1:-1], [row[name] for row in rows])
        assert y[0] == y[1] and y[-1] == y[-2]  # the first and last windows reach the ends
        assert line.get_drawstyle() == "steps-mid"
    assert _threshold_lines(figure) == {}  # single-label: the label is the most probable class

    for label in ("spectrogram", "probabilities", "labels"):
        assert _axes(figure, label).get_xlim() == (0.0, duration)
    (mesh,) = [c for c in _axes(figure, "spectrogram").collections if isinstance(c, QuadMesh)]
    time_edges = mesh.get_coordinates()[0, :, 0]
    assert time_edges[0] == 0.0 and time_edges[-1] == pytest.approx(duration)
    assert np.all(np.diff(time_edges) > 0)

    extents, colours = _spans(figure, "predicted")  # each moment belongs to its nearest window centre
    edges = [0.0, 3.0, 5.0, 7.0, 8.75, duration]
    np.testing.assert_allclose(extents, list(itertools.pairwise(edges)))
    np.testing.assert_allclose(colours, _colours([row["label"] for row in rows]))
    assert [c.get_label() for c in _axes(figure, "labels").collections] == ["predicted"]


def test_threshold_lines_are_the_model_decision_thresholds(
    multi_label_dir: Path,
    noise_recording: Path,
    tmp_path: Path,
    figures: list[Figure],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, _config = load_model(multi_label_dir, device="cpu")
    rows = _rows(model, noise_recording)
    plot_recording(model, noise_recording, tmp_path / "config.png", rows=rows)
    assert _threshold_lines(figures[-1]) == {"crackle": THRESHOLDS[0], "wheeze": THRESHOLDS[1]}

    # the plot reads the thresholds through the decision rule's home, wherever they come from
    monkeypatch.setattr(respira.models.respira.decision, "thresholds_of", lambda config: (0.15, 0.85))
    plot_recording(model, noise_recording, tmp_path / "elsewhere.png", rows=rows)
    assert _threshold_lines(figures[-1]) == {"crackle": 0.15, "wheeze": 0.85}


def _rows(model: Any, audio: Path, **options: Any) -> list[dict[str, Any]]:
    """The recording as :meth:`respira.Detector.predict_file` predicts it (what the picture draws)."""
    return Detector(model).predict_file(audio, **options).rows


def _cycles_of(annotation: Path) -> list[tuple[float, float, str]]:
    """The annotation file's cycles, parsed here: ``start end crackle wheeze`` per line."""
    cycles = []
    for line in annotation.read_text().splitlines():
        if line.strip():
            start, end, crackle, wheeze = line.split()
            cycles.append((float(start), float(end), NAMES[int(crackle) + 2 * int(wheeze)]))
    return cycles


def test_annotated_cycles_are_drawn_with_their_labels(
    single_label_dir: Path, annotated_recording: tuple[Path, Path], tmp_path: Path, figures: list[Figure]
) -> None:
    wav, annotation = annotated_recording
    cycles = _cycles_of(annotation)
    assert {label for *_, label in cycles} - {"normal"}  # the recording has adventitious cycles
    model, _ = load_model(single_label_dir, device="cpu")
    rows = _rows(model, wav, annotations=annotation)
    plot_recording(model, wav, tmp_path / "annotated.png", rows=rows, annotations=annotation)
    (figure,) = figures

    extents, colours = _spans(figure, "annotated")
    np.testing.assert_allclose(extents, [(start, end) for start, end, _ in cycles])
    np.testing.assert_allclose(colours, _colours([label for *_, label in cycles]))
    texts = [t.get_text() for t in _axes(figure, "labels").texts if t.get_position()[1] == 1.0]
    assert texts == [label for *_, label in cycles]  # every synthetic cycle is wide enough for its name
    assert [t.get_text() for t in _axes(figure, "labels").get_yticklabels()] == ["predicted", "annotated"]

    # predictions of the cycles themselves: one level per cycle
    predicted, _ = _spans(figure, "predicted")
    np.testing.assert_allclose(predicted, [(start, end) for start, end, _ in cycles])
    line = _line(_axes(figure, "probabilities"), "P(crackles present)")
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    np.testing.assert_allclose(x[0::3], [start for start, *_ in cycles])
    np.testing.assert_allclose(x[1::3], [end for _, end, _ in cycles])
    assert np.isnan(x[2::3]).all() and np.isnan(y[2::3]).all()
    np.testing.assert_array_equal(y[0::3], y[1::3])
    # the recording's own duration: below the model's rate, it is drawn at its native rate
    assert _axes(figure, "labels").get_xlim() == (0.0, audio_header(wav).duration)


def test_long_recordings_have_bounded_columns_and_minute_ticks() -> None:
    rate = 2000
    waveform = np.random.default_rng(0).normal(0, 0.1, 700 * rate).astype(np.float32)
    rows = [
        {"start": float(s), "end": float(s + 4), "crackle": 0.2, "wheeze": 0.1, "label": "normal"}
        for s in range(0, 697, 2)
    ]
    figure = recording_figure(waveform, rate, rows, title="long")
    spectrum = _axes(figure, "spectrogram")
    (mesh,) = [c for c in spectrum.collections if isinstance(c, QuadMesh)]
    pixels = round(spectrum.get_position().width * figure.get_figwidth() * figure.dpi)
    assert mesh.get_coordinates().shape[1] == pixels + 1 < MAX_COLUMNS  # no more columns than pixels
    labels = _axes(figure, "labels")
    assert labels.get_xlabel() == "time (min:s)"
    assert labels.xaxis.get_major_formatter()(125.0, 0) == "2:05"
    with pytest.raises(ValueError, match="no predictions"):
        recording_figure(waveform, rate, [], title="none")


def _window_rows(duration: int) -> list[dict]:
    return [
        {
            "start": float(s),
            "end": float(min(s + 4, duration)),
            "crackle": 0.2,
            "wheeze": 0.1,
            "label": "normal",
        }
        for s in range(0, duration - 2, 2)
    ]


def _tick_labels(ax) -> list[str]:
    """The label panel's row names, bottom up (an event row's is on two lines)."""
    return [" ".join(t.get_text().split()) for t in ax.get_yticklabels()]


def _pixel_extents(ax, collection) -> list[tuple[float, float]]:
    """x extents of each bar of ``collection`` in display pixels."""
    extents = []
    for path in collection.get_paths():
        xs = ax.transData.transform(path.vertices)[:, 0]
        extents.append((float(xs.min()), float(xs.max())))
    return extents


def test_events_are_bars_from_onset_to_offset_in_a_row_per_label() -> None:
    rate, duration = 2000, 30
    waveform = np.random.default_rng(1).normal(0, 0.1, duration * rate).astype(np.float32)
    events = [
        Event(1.5, 4.0, "crackle", 0.9),
        Event(12.0, 12.02, "crackle", 0.6),  # one 20 ms frame: narrower than a pixel at this scale
        Event(29.99, 30.0, "crackle", 0.5),  # at the very end: widened inside the recording
        Event(6.0, 9.5, "wheeze", 0.4),
    ]
    figure = recording_figure(waveform, rate, _window_rows(duration), events=events, title="events")
    labels = _axes(figure, "labels")
    assert _tick_labels(labels) == ["wheeze events", "crackle events", "predicted"]  # bottom up
    assert [c.get_label() for c in labels.collections] == ["wheeze events", "crackle events", "predicted"]
    ticks = dict(zip(_tick_labels(labels), labels.get_yticks(), strict=True))

    wheeze, colours = _spans(figure, "wheeze events")
    assert wheeze == [(6.0, 9.5)]
    np.testing.assert_allclose(
        colours[0, :3], matplotlib.colors.to_rgb(recording_plot.PROBABILITY_COLOURS["wheeze"])
    )
    crackle, colours = _spans(figure, "crackle events")
    assert crackle[0] == (1.5, 4.0)
    assert colours[0, 3] > colours[1, 3] > colours[2, 3]  # more confident, more opaque
    (collection,) = [c for c in labels.collections if c.get_label() == "crackle events"]
    pixels = _pixel_extents(labels, collection)
    assert pixels[1][1] - pixels[1][0] == pytest.approx(recording_plot.MIN_EVENT_PIXELS)
    assert 12.0 - 1e-9 <= np.mean(crackle[1]) <= 12.02 + 1e-9  # still centred on its event
    assert crackle[2][1] == pytest.approx(duration) and pixels[2][1] - pixels[2][0] == pytest.approx(
        recording_plot.MIN_EVENT_PIXELS
    )
    for collection in labels.collections:  # bars stay inside their own row
        for path in collection.get_paths():
            ys = path.vertices[:, 1]
            row = ticks[collection.get_label()]
            assert row - 0.5 < ys.min() < ys.max() < row + 0.5

    texts = {(t.get_text(), t.get_position()[1]) for t in labels.texts}
    assert ("0.90", ticks["crackle events"]) in texts and ("0.40", ticks["wheeze events"]) in texts
    assert "0.60" not in {text for text, _ in texts}  # too narrow to hold its confidence
    assert "none detected" not in {text for text, _ in texts}


def test_no_events_give_the_rows_saying_so_and_none_gives_todays_figure() -> None:
    rate, duration = 2000, 12
    waveform = np.random.default_rng(2).normal(0, 0.1, duration * rate).astype(np.float32)
    rows = _window_rows(duration)
    cycles = [recording_plot.Span(0.5, 5.0, "crackle"), recording_plot.Span(5.0, 11.0, "normal")]
    empty = recording_figure(waveform, rate, rows, cycles=cycles, events=[], title="none")
    labels = _axes(empty, "labels")
    assert _tick_labels(labels) == ["wheeze events", "crackle events", "predicted", "annotated"]
    assert [c.get_label() for c in labels.collections] == ["predicted", "annotated"]  # no bars
    nothing = [t.get_position()[1] for t in labels.texts if t.get_text() == "none detected"]
    assert sorted(nothing) == [0.0, 1.0]  # the wheeze and crackle rows

    today = recording_figure(waveform, rate, rows, cycles=cycles, title="today")
    before = recording_figure(waveform, rate, rows, cycles=cycles, events=None, title="today")
    for figure in (today, before):
        labels = _axes(figure, "labels")
        assert _tick_labels(labels) == ["predicted", "annotated"]
        assert [c.get_label() for c in labels.collections] == ["predicted", "annotated"]
        assert labels.get_ylim() == (-0.5, 1.5)
        assert "none detected" not in [t.get_text() for t in labels.texts]
    assert _axes(before, "labels").get_position().bounds == _axes(today, "labels").get_position().bounds
    # the event rows make the label panel taller, at the other panels' expense
    assert _axes(empty, "labels").get_position().height > _axes(today, "labels").get_position().height


def _write_noise(path: Path, rate: int, seconds: float = 5.0) -> Path:
    sf.write(path, np.random.default_rng(4).normal(0, 0.1, int(seconds * rate)).astype(np.float32), rate)
    return path


@pytest.mark.parametrize(("native", "nyquist"), [(8000, 4000.0), (22050, RATE / 2)])
def test_the_spectrogram_ends_at_the_recording_own_nyquist(
    native: int, nyquist: float, single_label_dir: Path, tmp_path: Path, figures: list[Figure]
) -> None:
    wav = _write_noise(tmp_path / f"noise_{native}.wav", native)
    model, _ = load_model(single_label_dir, device="cpu")
    assert model.config.sampling_rate == RATE  # 16 kHz: an 8 kHz file's top half would be empty
    events = [Event(1.0, 1.5, "wheeze", 0.7)]
    plot_recording(model, wav, tmp_path / "plot.png", rows=_rows(model, wav), events=events)
    (figure,) = figures
    spectrum = _axes(figure, "spectrogram")
    assert spectrum.get_ylim()[1] == pytest.approx(nyquist)
    (mesh,) = [c for c in spectrum.collections if isinstance(c, QuadMesh)]
    assert mesh.get_coordinates()[:, 0, 1].max() == pytest.approx(nyquist)  # the cells, not only the view
    ticks = spectrum.get_yticks()
    assert ticks.max() <= nyquist and nyquist in ticks
    labels = [t.get_text() for t in spectrum.get_yticklabels()]
    assert labels[-1] == f"{nyquist / 1000:g}k" and "16k" not in labels
    assert _axes(figure, "labels").get_xlim() == (0.0, pytest.approx(5.0))
    assert _spans(figure, "wheeze events")[0] == [(1.0, 1.5)]  # plot_recording passes the events on


def test_frame_posteriors_are_drawn_with_every_peak_kept() -> None:
    """The frames the events came from, as thin lines in the probability panel: a short recording's frames
    as they are; a long one's reduced to at most FRAME_COLUMNS points, each the maximum of its run, so a
    one-frame peak survives."""
    rate, duration = 2000, 30
    waveform = np.random.default_rng(2).normal(0, 0.1, duration * rate).astype(np.float32)
    times = (np.arange(1500) + 0.5) * 0.02
    posteriors = np.stack([np.full(1500, 0.2), np.linspace(0, 1, 1500)], axis=1)
    figure = recording_figure(waveform, rate, _window_rows(duration), frames=(times, posteriors))
    lines = {line.get_label(): line for line in _axes(figure, "probabilities").get_lines()}
    np.testing.assert_allclose(lines["wheeze per frame"].get_ydata(), posteriors[:, 1])
    np.testing.assert_allclose(lines["crackle per frame"].get_xdata(), times)
    long_times = (np.arange(360_000) + 0.5) * 0.02  # two hours
    peaked = np.zeros((360_000, 2))
    peaked[123_457, 0] = 0.97
    figure = recording_figure(waveform, rate, _window_rows(duration), frames=(long_times, peaked))
    crackle = next(
        line for line in _axes(figure, "probabilities").get_lines() if line.get_label() == "crackle per frame"
    )
    assert len(crackle.get_ydata()) <= recording_plot.FRAME_COLUMNS
    assert crackle.get_ydata().max() == 0.97
