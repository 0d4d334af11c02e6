"""One recording through a detector, as the app page shows it (``respira app`` and its Hub Space).

:func:`analyse` checks the upload (decodable, at most :data:`MAX_SECONDS`; input cautions as for ``respira
predict``), runs the detector over sliding windows or the annotated cycles, decides the recording's verdict
(:func:`respira.core.decision.decide_recording`, rule :data:`AGGREGATION`), keeps only the events that
verdict holds (:func:`respira.inference.event_rules.gate_by_verdict`, so the events never contradict it)
and draws the ``respira predict --plot`` figure. The spectrogram is drawn at the recording's native rate
where that is lower than the model's (:func:`display_rate`), so an 8 kHz recording shows 0-4 kHz.

No torch here: the Hub Space runs this module with onnxruntime alone. A *detector* is a
:class:`respira.Detector` or anything with its interface (``config``, ``name``, ``predict(waveform,
sampling_rate, *, window, hop, cycles)`` and optionally ``detect_events(waveform, sampling_rate, *, rule)``;
:class:`respira.app.onnx_runner.OnnxDetector` is the Space's). Without ``detect_events``, or from an ONNX
export without frame outputs, the page is analysed without events and says so.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.figure import Figure

from ..audio.checks import InputWarning, check_input
from ..audio.decoding import audio_duration, audio_header, native_sampling_rate, read_audio
from ..core.decision import (
    aggregation_of,
    config_field,
    decide_rows,
    is_multi_label,
    thresholds_of,
)
from ..core.onnx_graph import FRAME_NAME
from ..core.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS
from ..data.text_files import ClippedCycleWarning
from ..inference.event_rules import FRAMES_RULE, EventDetection, gate_by_verdict
from ..labels import cycle_label
from ..metrics.recording_level import describe_aggregation
from ..reports.recording_plot import Span, figure_subtitle, recording_figure
from ..utils.messages import one_line

__all__ = [
    "CAUTIONS",
    "MAX_SECONDS",
    "Analysis",
    "Detector",
    "InputError",
    "Verdict",
    "analyse",
    "default_window",
    "detects_events",
    "display_rate",
    "recording_verdict",
]

MAX_SECONDS = 600.0
"""The longest recording the app accepts (10 minutes): longer ones are refused before decoding."""
CAUTIONS: tuple[type[Warning], ...] = (InputWarning, ClippedCycleWarning)
"""Warnings about an upload that is scored all the same: the page shows them beside the verdict."""
FRAME_OUTPUT = FRAME_NAME
"""The ONNX graph's frame output, which event detection needs."""


class InputError(ValueError):
    """An upload or option the page refuses; the message is one line naming the user's file."""


class Predicted(Protocol):
    """What a detector's ``predict`` returns: at least the rows of the windows (or cycles)."""

    rows: list[dict[str, Any]]


class Detector(Protocol):
    """What the page runs: :class:`respira.Detector`'s interface (torch or ONNX model, its config)."""

    config: Any
    name: str

    def predict(
        self,
        waveform: np.ndarray,
        sampling_rate: int,
        *,
        cycles: Sequence[tuple[float, float]] | None = None,
        window: float,
        hop: float,
    ) -> Predicted: ...

    def detect_events(self, waveform: np.ndarray, sampling_rate: int, *, rule: str) -> EventDetection: ...


def default_window() -> tuple[float, float]:
    """The page's default ``(window, hop)``: ``respira predict``'s, so both give the same verdict."""
    return DEFAULT_WINDOW_SECONDS, DEFAULT_HOP_SECONDS


@dataclass(frozen=True)
class Verdict:
    """The recording-level decision."""

    present: tuple[bool, bool]
    probabilities: tuple[float, float]
    thresholds: tuple[float, float]
    rule: str

    def lines(self) -> list[str]:
        """The verdict as Markdown lines: one per label, then the rule."""
        lines = [
            f"- {name}: {'**present**' if self.present[index] else 'absent'} (recording probability "
            f"{self.probabilities[index]:.3f}, threshold {self.thresholds[index]:.2f})"
            for index, name in enumerate(("Crackles", "Wheezes"))
        ]
        lines.append(f"- Rule: {self.rule}; a label is present when it reaches its threshold.")
        return lines


def recording_verdict(
    rows: Sequence[Mapping[str, Any]],
    config: Any,
    rule: str | None = None,
    *,
    top_k: int | None = None,
) -> Verdict:
    """Crackles / wheezes present in the recording whose windows (or cycles) are ``rows``; ``rule`` and
    ``top_k`` default to the model's own aggregation, as :class:`respira.Detector` decides."""
    if not rows:
        raise ValueError("no predictions to decide")
    if rule is None:
        rule, top_k = aggregation_of(config)
    probabilities, decision = decide_rows(rows, config, rule, top_k)
    assert decision.thresholds is not None
    crackle, wheeze = (bool(value) for value in decision.present[0])
    return Verdict(
        (crackle, wheeze),
        (float(probabilities[0]), float(probabilities[1])),
        decision.thresholds,
        describe_aggregation(rule, top_k),
    )


@dataclass
class Analysis:
    """What the page shows for one recording; ``events`` is ``None`` when the detector cannot detect them."""

    rows: list[dict[str, Any]]
    verdict: Verdict
    figure: Figure
    duration: float
    cautions: list[str] = field(default_factory=list)
    events: EventDetection | None = None


@contextmanager
def _recorded_cautions() -> Iterator[list[str]]:
    """Collect each :data:`CAUTIONS` message warned in the block, once; pass other warnings on."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        for category in CAUTIONS:
            warnings.simplefilter("always", category)
        yield messages
    for item in caught:
        if issubclass(item.category, CAUTIONS):
            if str(item.message) not in messages:
                messages.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _one_line(error: BaseException, path: str | Path | None, name: str) -> str:
    text = one_line(error)
    if path is not None:
        text = text.replace(str(path), name)
    return text if name in text else f"{name}: {text}"


def load_recording(path: str | Path, rate: int, name: str) -> np.ndarray:
    """The upload at ``path`` as mono float32 at ``rate``, or an :class:`InputError` naming ``name``."""
    try:
        duration = audio_duration(path, name=name)
        if duration > MAX_SECONDS:
            raise InputError(
                f"{name} is {duration:.0f} s long; the app accepts recordings up to {MAX_SECONDS:.0f} s "
                "(use `respira predict` for longer ones)"
            )
        waveform = read_audio(path, rate, name=name)
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError) as error:
        raise InputError(_one_line(error, path, name)) from None
    if waveform.size == 0:
        raise InputError(f"{name} holds no audio samples (empty recording)")
    return waveform


def display_rate(path: str | Path, rate: int) -> int:
    """The spectrogram's rate: the recording's own when below the model's ``rate``."""
    return min(int(rate), native_sampling_rate(path) or int(rate))


def detects_events(detector: Any) -> bool:
    """Whether ``detector`` has ``detect_events`` and, if it runs an ONNX graph, frame outputs."""
    if not callable(getattr(detector, "detect_events", None)):
        return False
    frames = getattr(detector, "has_frame_outputs", None)
    if frames is not None:
        return bool(frames)
    session = getattr(getattr(detector, "model", None), "session", None)
    if session is None:  # a torch model
        return True
    return FRAME_OUTPUT in {output.name for output in session.get_outputs()}


def load_cycles(path: str | Path, name: str, recording: str, num_samples: int, rate: int) -> list[Any]:
    """The cycles of an ICBHI annotation file that fit the recording (one past its end warns, clipped)."""
    from ..data.text_files import check_cycles_fit, read_annotations

    try:
        cycles = read_annotations(Path(path))
        check_cycles_fit(cycles, name, recording, num_samples, rate)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InputError(_one_line(error, path, name)) from None
    if not cycles:
        raise InputError(f"{name}: no cycles (expected lines `start end crackle wheeze`)")
    return cycles


def check_window(window: Any, hop: Any) -> tuple[float, float]:
    """``(window, hop)`` as floats, or an :class:`InputError` saying what is wrong."""
    try:
        window, hop = float(window), float(hop)
    except (TypeError, ValueError):
        raise InputError(f"window and hop must be numbers of seconds, got {window!r} and {hop!r}") from None
    if not (math.isfinite(window) and 0 < window <= MAX_SECONDS):
        raise InputError(f"window must be between 0 and {MAX_SECONDS:.0f} seconds, got {window:g}")
    if not (math.isfinite(hop) and 0 < hop <= window):
        raise InputError(f"hop must be positive and at most the window ({window:g} s), got {hop:g}")
    return window, hop


def analyse(
    detector: Detector,
    path: str | Path,
    *,
    name: str | None = None,
    annotations: str | Path | None = None,
    annotation_name: str | None = None,
    window: float,
    hop: float,
    progress: Callable[[float, str], None] | None = None,
) -> Analysis:
    """Check, predict, decide and draw one uploaded recording; bad input raises :class:`InputError`.

    ``name`` / ``annotation_name``: the user's file names, shown instead of the upload's temporary path.
    """
    report = progress or (lambda _fraction, _text: None)
    name = name or Path(path).name
    window, hop = check_window(window, hop)
    rate = int(config_field(detector.config, "sampling_rate"))
    report(0.05, "reading the recording")
    with _recorded_cautions() as cautions:
        waveform = load_recording(path, rate, name)
        duration = waveform.shape[0] / rate
        cycles = None
        if annotations is not None:
            annotation_name = annotation_name or Path(annotations).name
            cycles = load_cycles(annotations, annotation_name, name, waveform.shape[0], rate)
        # here, naming the user's file (the ONNX runner checks nothing; a Detector names a waveform)
        header = audio_header(path, name=name)
        warning = check_input(
            waveform,
            rate,
            name,
            recorded_rate=header.sampling_rate,
            pcm_bits=header.pcm_bits,
            window_seconds=None if cycles else window,
        )
        report(0.2, "running the detector")
        events = None
        try:
            spans = [(c.start, c.end) for c in cycles] if cycles else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputWarning)  # said above, with the file's name
                rows = detector.predict(waveform, rate, cycles=spans, window=window, hop=hop).rows
                if detects_events(detector):
                    report(0.45, "detecting events")
                    found = detector.detect_events(waveform, rate, rule=FRAMES_RULE)
                    events = dataclasses.replace(found, file=name)
        except ValueError as error:
            raise InputError(_one_line(error, path, name)) from None
        report(0.65, "reading the recording for the figure")
        shown_rate = display_rate(path, rate)
        shown = waveform if shown_rate == rate else load_recording(path, shown_rate, name)
    if events is None:
        cautions.append(
            f"no events are shown: model {detector.name} cannot detect them (an ONNX export written before "
            "event detection: export the model again)"
        )
    for row in rows:  # the same rows from a Detector and the Space's runner, the user's file named
        row.pop("warning", None)
        if warning is not None:
            row["warning"] = warning
    if cycles:
        for row, cycle in zip(rows, cycles, strict=True):
            row["annotated_label"] = cycle_label(cycle.crackle, cycle.wheeze)
    verdict = recording_verdict(rows, detector.config)
    if events is not None:
        events = gate_by_verdict(events, rows, detector.config)
    report(0.7, "drawing the figure")
    multi_label = is_multi_label(detector.config)
    figure = recording_figure(
        shown,
        shown_rate,
        rows,
        thresholds=thresholds_of(detector.config) if multi_label else None,
        cycles=[Span(c.start, c.end, cycle_label(c.crackle, c.wheeze)) for c in cycles] if cycles else None,
        title=f"{name}  ·  model {detector.name}",
        subtitle=figure_subtitle(rows, config_field(detector.config, "problem_type"), window, hop, 1),
        events=events.events if events is not None else None,
        events_caption=events.describe() if events is not None else None,
        left_out=events.left_out if events is not None else None,
    )
    return Analysis(rows, verdict, figure, duration, cautions, events)
