"""respira models: the classifier and its encoders (AST, BEATs, EfficientAT, CNN), registered on import."""

from . import beats, cnn, efficientat  # noqa: F401  (each registers its model type)
from .respira import (
    RespiraClassifierOutput,
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
    build_model,
)

__all__ = [
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
    "build_model",
]
