"""A detector for the app page that needs neither torch nor respira's model code: ``model.onnx`` with
onnxruntime (what the Hub Space runs; see :mod:`respira.hub.onnx` for the file).

The recording gets the model's input preprocessing (:func:`respira.audio.dsp.prepare_recording`), windows
are cut by :func:`respira.core.windows.window_spans` (as every runner cuts them), run in batches of equal
length (the graph has no mask), and made rows by :func:`respira.core.decision.decided_rows` — so the rows
are those ``respira predict --onnx`` writes.

Events (:meth:`OnnxDetector.detect_events`) are :func:`respira.inference.event_detection.detect_events` of the
detector itself: it gives the graph's frame outputs (:meth:`OnnxDetector.predict_frames`, as
:meth:`respira.hub.onnx.OnnxClassifier.predict_frames` does) and the frame length of its metadata
(``analysis_frame_samples``), and its ``config`` reads as attributes too (:class:`JsonConfig`), so
nothing there needs torch; by default they are kept where the recording's verdict holds them
(:func:`respira.inference.event_rules.gate_by_verdict`, as :meth:`respira.Detector.detect_events` keeps
them).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.dsp import prepare_recording, resample
from ..core.decision import decided_rows
from ..core.events import FRAME_HOP_SECONDS, EventSettings
from ..core.onnx_graph import (
    FRAME_NAME,
    FRAME_TIMES_NAME,
    batches_by_length,
    run_probabilities,
    steps_within,
)
from ..core.windows import (
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    FRAME_SAMPLES_KEY,
    check_holds_a_frame,
    cycle_spans,
    window_samples,
    window_spans,
)
from ..inference.event_detection import detect_events
from ..inference.event_rules import (
    DEFAULT_EVENT_RULE,
    VERDICT_RULE,
    EventDetection,
    check_event_rule,
    gate_by_verdict,
)

__all__ = [
    "FRAME_NAME",
    "FRAME_TIMES_NAME",
    "JsonConfig",
    "OnnxDetector",
    "OnnxPrediction",
    "window_spans",
]

BATCH_SIZE = 32


class JsonConfig(dict):
    """A ``config.json`` mapping whose keys also read as attributes, as a ``RespiraConfig``'s do."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class OnnxPrediction:
    """The rows an :class:`OnnxDetector` predicted."""

    rows: list[dict[str, Any]]


class OnnxDetector:
    """A folder's ``model.onnx`` and ``config.json`` run by onnxruntime as a :class:`respira.Detector`.

    ``has_frame_outputs``: the graph gives frame posteriors (older exports predict windows only).
    """

    def __init__(self, folder: str | Path, name: str | None = None) -> None:
        import onnxruntime

        folder = Path(folder)
        self.config = JsonConfig(json.loads((folder / "config.json").read_text(encoding="utf-8")))
        self.name = name or folder.name
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        metadata = self.session.get_modelmeta().custom_metadata_map
        # exports written before the frame length was recorded: no check (as before)
        self.frame_samples = int(metadata.get(FRAME_SAMPLES_KEY, 1))
        self.analysis_frame_samples = self.frame_samples  # what respira.inference.event_detection reads
        self.input_name = self.session.get_inputs()[0].name
        # the first output is the probabilities (the graph also outputs its own decision: present, label,
        # and the frame outputs)
        outputs = [output.name for output in self.session.get_outputs()]
        self.output_name = outputs[0]
        self.has_frame_outputs = FRAME_NAME in outputs and FRAME_TIMES_NAME in outputs

    def predict_frames(
        self, waveforms: Sequence[np.ndarray], batch_size: int = BATCH_SIZE
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per prepared waveform: its time steps' centres (seconds) and ``[steps, labels]`` probabilities."""
        if not self.has_frame_outputs:
            raise ValueError(
                f"this model.onnx has no {FRAME_NAME} output (it was exported before event detection): "
                "export the model again"
            )
        rate = float(self.config.sampling_rate)
        result: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros((0, 0)))] * len(waveforms)
        for length, rows, batch in batches_by_length(waveforms, batch_size):
            frames, times = self.session.run([FRAME_NAME, FRAME_TIMES_NAME], {self.input_name: batch})
            times = times.astype(np.float64)
            keep = steps_within(times, length / rate)
            for row, index in enumerate(rows):
                result[index] = (times[keep], frames[row][keep].astype(np.float64))
        return result

    def detect_events(
        self,
        waveform: np.ndarray,
        sampling_rate: int,
        *,
        thresholds: Sequence[float] | None = None,
        settings: EventSettings | None = None,
        frame_hop_seconds: float = FRAME_HOP_SECONDS,
        rule: str = DEFAULT_EVENT_RULE,
        window: float = DEFAULT_WINDOW_SECONDS,
        hop: float = DEFAULT_HOP_SECONDS,
    ) -> EventDetection:
        """The crackle and wheeze events of a mono waveform, as :meth:`respira.Detector.detect_events`."""
        rule = check_event_rule(rule)
        rate = int(self.config.sampling_rate)
        samples = resample(np.asarray(waveform, dtype=np.float32), int(sampling_rate), rate)
        detection = detect_events(
            self,
            samples,
            thresholds=thresholds,
            settings=settings,
            frame_hop_seconds=frame_hop_seconds,
            batch_size=BATCH_SIZE,
        )
        if rule != VERDICT_RULE:
            return detection
        prediction = self.predict(samples, rate, window=window, hop=hop)
        return gate_by_verdict(detection, prediction.rows, self.config)

    def predict(
        self,
        waveform: np.ndarray,
        sampling_rate: int,
        *,
        cycles: Sequence[tuple[float, float]] | None = None,
        window: float,
        hop: float,
    ) -> OnnxPrediction:
        """Rows of sliding windows (or ``cycles``) of a mono waveform, as :meth:`respira.Detector.predict`."""
        rate = int(self.config.sampling_rate)
        samples = resample(np.asarray(waveform, dtype=np.float32), int(sampling_rate), rate)
        signal = prepare_recording(self.config, samples)
        total = signal.shape[0]
        if cycles:
            samples, spans = cycle_spans(cycles, rate, total, self.frame_samples)
        else:
            check_holds_a_frame(total, self.frame_samples, rate)
            samples = window_spans(total, *window_samples(window, hop, rate))
            spans = [(start / rate, stop / rate) for start, stop in samples]
        probabilities = run_probabilities(
            self.session,
            [signal[start:stop] for start, stop in samples],
            BATCH_SIZE,
            len(self.config["id2label"]),
            self.output_name,
            self.input_name,
        )
        rows = decided_rows(probabilities, spans, self.config)
        if any(not math.isfinite(row["crackle"]) for row in rows):
            raise ValueError("the model returned non-finite probabilities")
        return OnnxPrediction(rows)
