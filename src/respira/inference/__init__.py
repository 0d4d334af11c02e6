"""Inference: everything that turns recordings into a model's verdicts.

The runners above the models, on the torch-free core of :mod:`respira.core` (windows, batches, decisions,
events): :mod:`.engine` runs a model over windows and cycles, :mod:`.event_detection` finds events in
frame posteriors, :mod:`.form` is the CPU inference form of a model, and :mod:`.detector` is the one
object to predict recordings (:class:`Detector`, returning :class:`~.prediction.Prediction`).

Names are imported from their module on first use (``import respira.inference`` stays light). Before
this room existed ``respira.inference`` was the engine module: its names still answer here, with a
``DeprecationWarning`` naming :mod:`.engine`, for one release.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..utils.lazy_exports import lazy_exports
from ..utils.moved import moved_module

_EXPORTS = {
    "Detector": "detector",
    "Prediction": "prediction",
    "PredictionError": "prediction",
    "recording_verdict": "prediction",
}
"""Each public name and the module that defines it."""

__all__ = ["Detector", "Prediction", "PredictionError", "recording_verdict"]

_exported, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
_engine_name = moved_module(__name__, f"{__name__}.engine")


def __getattr__(name: str) -> Any:
    """:data:`_EXPORTS` on first use; an old ``respira.inference.X`` of the engine, deprecated."""
    if name in _EXPORTS:
        return _exported(name)
    if name in importlib.import_module(f"{__name__}.engine").__all__:
        return _engine_name(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
