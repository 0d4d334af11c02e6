"""EfficientAT MobileNetV3 ("mn") audio taggers in the transformers style.

Importing this package registers ``model_type="efficientat"`` with `AutoConfig`, `AutoModel` and
`AutoModelForAudioClassification` (once; importing it again is harmless).
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from respira.models.features.efficientat_mel import EfficientATMel

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


def _register() -> None:
    """Register with the Auto classes unless already done (re-importing or reloading the module is fine)."""
    model_type = EfficientATConfig.model_type
    if model_type in CONFIG_MAPPING:
        registered = CONFIG_MAPPING[model_type]
        if registered is not EfficientATConfig and (
            registered.__module__ != EfficientATConfig.__module__
            or registered.__qualname__ != EfficientATConfig.__qualname__
        ):
            raise RuntimeError(
                f"model_type {model_type!r} is already registered to "
                f"{registered.__module__}.{registered.__qualname__}"
            )
    AutoConfig.register(model_type, EfficientATConfig, exist_ok=True)
    AutoModel.register(EfficientATConfig, EfficientATModel, exist_ok=True)
    AutoModelForAudioClassification.register(
        EfficientATConfig, EfficientATForAudioClassification, exist_ok=True
    )


_register()
