"""Inference: everything that turns recordings into a model's verdicts (names imported on first use)."""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "Detector": "detector",
    "Prediction": "prediction",
    "PredictionError": "prediction",
}

__all__ = ["Detector", "Prediction", "PredictionError"]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
