"""The respira classifier: config, model and feature extractor, registered with the Auto classes."""

from .configuration_respira import RespiraConfig
from .feature_extraction_respira import RespiraFeatureExtractor
from .modeling_respira import (
    RespiraClassifierOutput,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
    RespiraPreTrainedModel,
)
from .pipeline_respira import RespiraAudioClassificationPipeline, register_audio_classification_pipeline
from .registration import register_model_type

register_model_type(RespiraConfig, RespiraModel, RespiraForAudioClassification, RespiraFeatureExtractor)
register_audio_classification_pipeline()

__all__ = [
    "RespiraAudioClassificationPipeline",
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
    "RespiraPreTrainedModel",
]
