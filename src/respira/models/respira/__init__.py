"""The model folder: the respira classifier's config, model, feature extractor and pipeline, and all they
need at run time (encoder families, featurizers, audio reading, windows, decisions, labels).

It imports no other respira package, so ``respira export --with_code`` and ``respira push`` ship its
``*.py`` as they are, for ``trust_remote_code=True``. Importing it registers the classes with the Auto
classes and the pipeline.
"""

from .configuration_respira import RespiraConfig
from .feature_extraction_respira import RespiraFeatureExtractor
from .modeling_respira import (
    RespiraClassifierOutput,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
    RespiraPreTrainedModel,
    build_model,
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
    "build_model",
]
