"""EfficientAT MobileNetV3 ("mn") audio taggers in the transformers style, registered on import."""

from __future__ import annotations

from typing import Any

from ..registration import register_model_type
from .configuration_efficientat import MOBILENET_V3_LARGE_SETTING, EfficientATConfig
from .modeling_efficientat import EfficientATForAudioClassification, EfficientATModel

__all__ = [
    "MOBILENET_V3_LARGE_SETTING",
    "EfficientATConfig",
    "EfficientATForAudioClassification",
    "EfficientATModel",
    "convert_efficientat_checkpoint",
]


def __getattr__(name: str) -> Any:
    # lazily: `python -m ...convert_efficientat` must not find its own module already imported
    if name == "convert_efficientat_checkpoint":
        from . import convert_efficientat

        return getattr(convert_efficientat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_model_type(EfficientATConfig, EfficientATModel, EfficientATForAudioClassification)
