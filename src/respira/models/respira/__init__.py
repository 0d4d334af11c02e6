"""The respira classifier: config, model and feature extractor, registered with the Auto classes."""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

from .configuration_respira import MULTI_LABEL_NAMES, RespiraConfig
from .feature_extraction_respira import RespiraFeatureExtractor
from .modeling_respira import (
    RespiraClassifierOutput,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
    RespiraPreTrainedModel,
)

AutoConfig.register(RespiraConfig.model_type, RespiraConfig, exist_ok=True)
AutoModel.register(RespiraConfig, RespiraModel, exist_ok=True)
AutoModelForAudioClassification.register(RespiraConfig, RespiraForAudioClassification, exist_ok=True)
AutoFeatureExtractor.register(RespiraConfig, RespiraFeatureExtractor, exist_ok=True)

__all__ = [
    "MULTI_LABEL_NAMES",
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
    "RespiraPreTrainedModel",
]
