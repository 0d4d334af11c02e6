"""Inference: everything that turns recordings into a model's verdicts.

The runners above the models, on the torch-free core of :mod:`respira.core` (windows, decisions, events):
:mod:`.engine` runs a model over windows and cycles, :mod:`.event_detection` finds events in frame
posteriors, :mod:`.form` is the CPU inference form of a model, and :mod:`.detector` is the one object to
predict recordings (:class:`Detector`, returning :class:`~.prediction.Prediction`).

Names are imported from their module on first use (``import respira.inference`` stays light).
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "Detector": "detector",
    "Prediction": "prediction",
    "PredictionError": "prediction",
    "recording_verdict": "prediction",
    **{
        name: "engine"
        for name in (
            "MAX_WINDOWS",
            "WindowPlan",
            "analysis_frame_samples",
            "check_window_limit",
            "check_window_options",
            "plan_windows",
            "predict_cycles",
            "predict_files",
            "predict_windows",
            "run_windows",
            "window_count",
            "window_rows",
            "window_starts",
        )
    },
}
"""Each public name and the module that defines it (``respira.inference`` was the engine module before
the room existed, so its names stay here)."""

__all__ = [
    "MAX_WINDOWS",
    "Detector",
    "Prediction",
    "PredictionError",
    "WindowPlan",
    "analysis_frame_samples",
    "check_window_limit",
    "check_window_options",
    "plan_windows",
    "predict_cycles",
    "predict_files",
    "predict_windows",
    "recording_verdict",
    "run_windows",
    "window_count",
    "window_rows",
    "window_starts",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
