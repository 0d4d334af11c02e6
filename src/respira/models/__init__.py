"""respira models: the classifier and its encoders (AST, BEATs, EfficientAT, CNN), registered on import."""

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
