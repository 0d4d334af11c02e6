"""The respira classifier: config, model and feature extractor, registered with the Auto classes."""

from ..registration import register_model_type
from .configuration_respira import RespiraConfig
from .feature_extraction_respira import RespiraFeatureExtractor
from .modeling_respira import (
    RespiraClassifierOutput,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
    RespiraPreTrainedModel,
)

register_model_type(RespiraConfig, RespiraModel, RespiraForAudioClassification, RespiraFeatureExtractor)

__all__ = [
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
    "RespiraPreTrainedModel",
]
