"""EfficientAT MobileNetV3 ("mn") audio taggers in the transformers style, registered on import."""

from __future__ import annotations

from ..convert_efficientat import convert_efficientat_checkpoint
from ..respira.configuration_efficientat import MOBILENET_V3_LARGE_SETTING, EfficientATConfig
from ..respira.modeling_efficientat import EfficientATForAudioClassification, EfficientATModel
from ..respira.registration import register_model_type

__all__ = [
    "MOBILENET_V3_LARGE_SETTING",
    "EfficientATConfig",
    "EfficientATForAudioClassification",
    "EfficientATModel",
    "convert_efficientat_checkpoint",
]

register_model_type(EfficientATConfig, EfficientATModel, EfficientATForAudioClassification)
