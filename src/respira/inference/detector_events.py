"""The event side of :class:`respira.Detector`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.events import FRAME_HOP_SECONDS, EventSettings
from ..utils.messages import one_line
from .engine import WindowPlan
from .event_rules import EventDetection
from .prediction import Prediction, PredictionError

__all__ = ["DetectorEvents"]


class DetectorEvents:
    """The event methods of :class:`respira.Detector` (a mixin)."""

    config: Any
    inference_model: Any
    options: Mapping[str, Any]

    def detect_events(
        self,
        source: str | Path | Any,
        sampling_rate: int | None = None,
        *,
        thresholds: Sequence[float] | None = None,
        settings: EventSettings | None = None,
        frame_hop_seconds: float = FRAME_HOP_SECONDS,
        name: str | None = None,
        prediction: Prediction | None = None,
    ) -> EventDetection:
        """Crackle and wheeze events (onset, offset, confidence) of a file or waveform, kept where the
        recording's verdict (``prediction``, when made already) holds them."""
        from .event_detection import detect_events

        options = {
            "thresholds": thresholds,
            "settings": settings,
            "frame_hop_seconds": frame_hop_seconds,
            "batch_size": self.options["batch_size"],
        }
        if not isinstance(source, (str, Path)):
            if prediction is None:
                prediction = self.predict(source, sampling_rate, name=name)
            audio = self._resampled(source, sampling_rate, name)
            try:
                detection = detect_events(self.inference_model, audio, file=name, **options)
            except ValueError as error:
                raise PredictionError(one_line(error)) from None
        else:
            file = str(source)
            if sampling_rate is not None:
                raise PredictionError("sampling_rate applies to a waveform; a file's rate is read from it")
            if prediction is None:
                prediction = self.predict_file(source)
            try:
                detection = detect_events(self.inference_model, source, **options)
            except (OSError, ValueError) as error:
                message = one_line(error)
                raise PredictionError(message if file in message else f"{file}: {message}") from None
        return self._gated(detection, prediction)

    def _gated(self, detection: EventDetection, prediction: Prediction) -> EventDetection:
        from .event_rules import gate_by_verdict

        return gate_by_verdict(
            detection,
            prediction.rows,
            self.config,
            aggregation=prediction.aggregation,
            top_k=prediction.top_k,
        )

    def planned_events(
        self,
        plan: WindowPlan,
        chunks: Sequence[tuple[int, int, bool]],
        outputs: Sequence[tuple[np.ndarray, np.ndarray]],
        prediction: Prediction,
        *,
        frame_hop_seconds: float = FRAME_HOP_SECONDS,
    ) -> EventDetection:
        """:meth:`detect_events` of a :meth:`plan_windows` plan's waveform, from its chunks
        (:func:`~respira.inference.event_detection.plan_chunks`) and their ``step_outputs``."""
        from .event_detection import detection_of_frames, frames_from_chunks

        try:
            frames = frames_from_chunks(
                self.config, chunks, outputs, plan.samples.shape[0], frame_hop_seconds
            )
        except ValueError as error:
            raise PredictionError(str(error)) from None
        detection = detection_of_frames(self.inference_model, frames, file=prediction.file)
        return self._gated(detection, prediction)
