"""EfficientAT MobileNetV3 ("mn") audio taggers in the transformers style.

Importing this package registers ``model_type="efficientat"`` with `AutoConfig`, `AutoModel` and
`AutoModelForAudioClassification` (once; importing it again is harmless).
"""

from __future__ import annotations

from typing import Any

from ..features.efficientat_mel import EfficientATMel
from ..registration import register_model_type
from .configuration_efficientat import MOBILENET_V3_LARGE_SETTING, EfficientATConfig, make_divisible
from .modeling_efficientat import (
    EfficientATAudioClassifierOutput,
    EfficientATForAudioClassification,
    EfficientATModel,
    EfficientATPreTrainedModel,
)

__all__ = [
    "MOBILENET_V3_LARGE_SETTING",
    "EfficientATAudioClassifierOutput",
    "EfficientATConfig",
    "EfficientATForAudioClassification",
    "EfficientATMel",
    "EfficientATModel",
    "EfficientATPreTrainedModel",
    "convert_efficientat_checkpoint",
    "make_divisible",
    "original_to_hf_key",
]


_CONVERTER_NAMES = ("convert_efficientat_checkpoint", "original_to_hf_key")


def __getattr__(name: str) -> Any:
    # the converter is imported lazily so that `python -m respira.models.efficientat.convert_efficientat`
    # does not find its own module already imported
    if name in _CONVERTER_NAMES:
        from . import convert_efficientat

        return getattr(convert_efficientat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_model_type(EfficientATConfig, EfficientATModel, EfficientATForAudioClassification)
