"""A detector for the app page that needs neither torch nor respira's model code: ``model.onnx`` with
onnxruntime (what the Hub Space runs; see :mod:`respira.hub.onnx` for the file).

The recording gets the model's input preprocessing (:func:`respira.dsp.prepare_recording`), windows
are cut as :func:`respira.inference.window_starts` cuts them (a test checks the two agree), run in
batches of equal length (the graph has no mask), and each window is decided by
:func:`respira.decision.decide` — so the rows are those ``respira predict --onnx`` writes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..decision import decide, flag_order, is_multi_label
from ..dsp import prepare_recording, resample
from ..labels import CLASS_NAMES
from ..windows import FRAME_SAMPLES_KEY, check_holds_a_frame, span_samples, window_starts

__all__ = ["OnnxDetector", "OnnxPrediction", "window_spans"]

BATCH_SIZE = 32


def window_spans(num_samples: int, window_samples: int, hop_samples: int) -> list[tuple[int, int]]:
    """Sample ranges of sliding windows covering ``num_samples``, the last one ending at the end
    (one window when the signal is not longer than a window), as :mod:`respira.inference` cuts them."""
    starts = window_starts(num_samples, window_samples, hop_samples)
    return [(int(start), int(min(start + window_samples, num_samples))) for start in starts]


@dataclass(frozen=True)
class OnnxPrediction:
    """The rows an :class:`OnnxDetector` predicted (as :class:`respira.Prediction`'s ``rows``)."""

    rows: list[dict[str, Any]]


class OnnxDetector:
    """``model.onnx`` and ``config.json`` of a folder, run with onnxruntime; its ``predict`` is called as
    :meth:`respira.Detector.predict` is (the page runs either)."""

    def __init__(self, folder: str | Path, name: str | None = None) -> None:
        import onnxruntime

        folder = Path(folder)
        self.config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
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
        self.input_name = self.session.get_inputs()[0].name
        # the first output is the probabilities (the graph also outputs its own decision: present, label)
        self.output_name = self.session.get_outputs()[0].name

    def _probabilities(self, segments: Sequence[np.ndarray]) -> np.ndarray:
        result = np.zeros((len(segments), len(self.config["id2label"])), dtype=np.float64)
        by_length: dict[int, list[int]] = {}
        for index, segment in enumerate(segments):
            by_length.setdefault(int(segment.shape[0]), []).append(index)
        for indices in by_length.values():
            for first in range(0, len(indices), BATCH_SIZE):
                rows = indices[first : first + BATCH_SIZE]
                batch = np.stack([np.asarray(segments[i], dtype=np.float32) for i in rows])
                (probabilities,) = self.session.run([self.output_name], {self.input_name: batch})
                result[rows] = probabilities
        return result

    def predict(
        self,
        waveform: np.ndarray,
        sampling_rate: int,
        *,
        cycles: Sequence[tuple[float, float]] | None = None,
        window: float,
        hop: float,
    ) -> OnnxPrediction:
        """Rows (``start``, ``end``, ``crackle``, ``wheeze``, ``label``, single-label: ``p_*``) of sliding
        windows, or of ``cycles`` (``(start, end)`` seconds), of a mono waveform at ``sampling_rate``."""
        rate = int(self.config["sampling_rate"])
        samples = resample(np.asarray(waveform, dtype=np.float32), int(sampling_rate), rate)
        signal = prepare_recording(SimpleNamespace(**self.config), samples)
        total = signal.shape[0]
        if cycles:
            spans = [(float(start), float(end)) for start, end in cycles]
            samples = []
            for number, (start, end) in enumerate(spans, start=1):
                first, stop = span_samples(start, end, rate, total)
                if first >= total:
                    raise ValueError(f"cycle {start}-{end} s starts after the end of the recording")
                stop = max(stop, first + 1)
                cycle = f"cycle {number} ({start}-{end} s) of the recording"
                check_holds_a_frame(stop - first, self.frame_samples, rate, cycle)
                samples.append((first, stop))
        else:
            check_holds_a_frame(total, self.frame_samples, rate)
            window_samples = round(window * rate)
            hop_samples = max(1, min(round(hop * rate), window_samples))
            samples = window_spans(total, window_samples, hop_samples)
            spans = [(start / rate, stop / rate) for start, stop in samples]
        probabilities = self._probabilities([signal[start:stop] for start, stop in samples])
        decision = decide(probabilities, self.config)
        rows = [
            {
                "start": start,
                "end": end,
                "crackle": float(decision.flags[index, 0]),
                "wheeze": float(decision.flags[index, 1]),
                "label": CLASS_NAMES[int(decision.classes[index])],
            }
            for index, (start, end) in enumerate(spans)
        ]
        if not is_multi_label(self.config):
            classes = probabilities[:, flag_order(self.config)]
            for row, values in zip(rows, classes, strict=True):
                row.update({f"p_{n}": float(v) for n, v in zip(CLASS_NAMES, values, strict=True)})
        if any(not math.isfinite(row["crackle"]) for row in rows):
            raise ValueError("the model returned non-finite probabilities")
        return OnnxPrediction(rows)
