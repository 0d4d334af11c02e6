"""respira models: the classifier and its encoders, registered with transformers' Auto classes on import."""

from . import cnn  # noqa: F401  (registers respira_cnn)
from .respira import (
    MULTI_LABEL_NAMES,
    RespiraClassifierOutput,
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
)

__all__ = [
    "MULTI_LABEL_NAMES",
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
]
