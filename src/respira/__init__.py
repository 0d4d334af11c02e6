"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's configs, models and feature extractor with transformers'
Auto classes, so ``AutoModelForAudioClassification.from_pretrained(folder_or_hub_id)`` and
``pipeline("audio-classification", model=...)`` work without ``trust_remote_code``.

``respira.Detector.from_pretrained(folder_or_hub_id)`` is the one object to predict recordings
(:mod:`respira.inference.detector`); ``respira.train(recipe, **overrides)`` and ``respira.evaluate(model,
**options)`` do what ``respira train`` and ``respira evaluate`` do, returning a
:class:`~respira.training.run.trained.TrainedRun` and an :class:`~respira.api.Evaluation`
(:mod:`respira.api`). Each is imported on first use.
"""

from typing import Any

from .models import (
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
)
from .utils.moved import install_moved_modules

_MOVED_MODULES: dict[str, str] = {
    "respira.wav": "respira.audio.wav",
    "respira.dsp": "respira.audio.dsp",
    "respira.input_checks": "respira.audio.checks",
    "respira.windows": "respira.core.windows",
    "respira.decision": "respira.core.decision",
    "respira.events": "respira.core.events",
    "respira.recording_chunks": "respira.core.chunks",
    "respira.onnx_graph": "respira.core.onnx_graph",
    "respira.inference_form": "respira.inference.form",
    "respira.detector": "respira.inference.detector",
    "respira.prediction": "respira.inference.prediction",
    "respira.event_detection": "respira.inference.event_detection",
    "respira.reports.evaluation": "respira.evaluation.cycles",
    "respira.reports.external_validation": "respira.evaluation.external_validation",
    "respira.reports.event_corpus": "respira.evaluation.event_corpus",
    "respira.reports.event_detection_report": "respira.evaluation.event_detection_report",
    "respira.reports.calibration": "respira.sites.calibration",
    "respira.hub.adaptation": "respira.sites.adaptation",
    "respira.hub.quality": "respira.sites.quality",
    "respira.hub.card_callback": "respira.hub.card_data",
    "respira.hub.card_fields": "respira.hub.card_data",
    "respira.hub.card_external": "respira.hub.card_results",
    "respira.hub.card_sites": "respira.hub.card_results",
    "respira.hub.card_splits": "respira.hub.card_results",
    "respira.hub.card_folder": "respira.hub.card_render",
    "respira.training.splits.corpora": "respira.training.splits.multi_corpus",
    "respira.training.run.folds": "respira.training.run.cross_validation",
    "respira.training.run.run": "respira.training.run.training_run",
    "respira.training.run.validation": "respira.training.run.recipe_checks",
    "respira.training.augment.validation": "respira.training.augment.argument_checks",
    "respira.metrics.trainer": "respira.metrics.compute_metrics",
    "respira.screening.run": "respira.screening.runner",
}
"""The modules that moved into rooms (old path -> new): each keeps its old path for one release."""
install_moved_modules(_MOVED_MODULES)

__version__ = "0.1.0.dev0"

__all__ = [
    "Detector",
    "Evaluation",
    "Prediction",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "SiteFitResult",
    "TrainedRun",
    "__version__",
    "evaluate",
    "fit_site",
    "train",
]

_LAZY: dict[str, str] = {
    "Detector": "inference.detector",
    "Prediction": "inference.prediction",
    "Evaluation": "api",
    "TrainedRun": "api",
    "evaluate": "api",
    "fit_site": "api",
    "SiteFitResult": "api",
    "train": "api",
}
"""Names of the package imported from their module on first use (``import respira`` stays light)."""


def __getattr__(name: str) -> Any:
    """``respira.Detector``, ``respira.train``... (:data:`_LAZY`), imported on first use."""
    if name in _LAZY:
        import importlib  # by name: the package root re-exports, it is no layer (the contract's root)

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'respira' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the lazily imported ones (so ``dir()`` and autodoc list them)."""
    return sorted({*globals(), *__all__})
