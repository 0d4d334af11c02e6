"""Inference: everything that turns recordings into a model's verdicts.

The runners above the models, on the torch-free core of :mod:`respira.core` (windows, batches, decisions,
events): :mod:`.engine` runs a model over windows and cycles, :mod:`.event_detection` finds events in
frame posteriors, :mod:`.form` is the CPU inference form of a model, and :mod:`.detector` is the one
object to predict recordings (:class:`Detector`, returning :class:`~.prediction.Prediction`).

Names are imported from their module on first use (``import respira.inference`` stays light).
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "Detector": "detector",
    "Prediction": "prediction",
    "PredictionError": "prediction",
    "recording_verdict": "prediction",
}
"""Each public name and the module that defines it."""

__all__ = ["Detector", "Prediction", "PredictionError", "recording_verdict"]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
