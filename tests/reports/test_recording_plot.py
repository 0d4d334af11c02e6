"""The picture of a recording: time axes, window centres, thresholds and annotated cycles, read off
the matplotlib artists (not the pixels)."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.colors
import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

import respira.decision
from respira.audio import read_audio
from respira.hub.loading import load_model
from respira.inference import predict_windows, window_starts
from respira.reports import plot_recording, recording_figure, recording_plot
from respira.reports.spectrogram import MAX_COLUMNS

from .conftest import RATE, THRESHOLDS

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
    plot_recording(model, noise_recording, tmp_path / "config.png")
    assert _threshold_lines(figures[-1]) == {"crackle": THRESHOLDS[0], "wheeze": THRESHOLDS[1]}

    # the plot reads the thresholds through the decision rule's home, wherever they come from
    monkeypatch.setattr(respira.decision, "thresholds_of", lambda config: (0.15, 0.85))
    plot_recording(model, noise_recording, tmp_path / "elsewhere.png")
    assert _threshold_lines(figures[-1]) == {"crackle": 0.15, "wheeze": 0.85}


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
    plot_recording(model, wav, tmp_path / "annotated.png", annotations=annotation)
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
    duration = read_audio(wav, RATE).shape[0] / RATE
    assert _axes(figure, "labels").get_xlim() == (0.0, duration)


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
