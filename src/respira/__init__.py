"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's configs, models and feature extractor with transformers'
Auto classes, so ``AutoModelForAudioClassification.from_pretrained(folder_or_hub_id)`` and
``pipeline("audio-classification", model=...)`` work without ``trust_remote_code``.

``respira.Detector.from_pretrained(folder_or_hub_id)`` is the one object to predict recordings
(:mod:`respira.detector`; imported on first use).
"""

from typing import Any

from .models import (
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Detector",
    "Prediction",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``respira.Detector`` and ``respira.Prediction``, imported on first use (import stays light)."""
    if name in ("Detector", "Prediction"):
        import importlib  # by name: the package root re-exports, it is no layer (the contract's root)

        return getattr(importlib.import_module(f"{__name__}.detector"), name)
    raise AttributeError(f"module 'respira' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the lazily imported ones (so ``dir()`` and autodoc list them)."""
    return sorted({*globals(), *__all__})
