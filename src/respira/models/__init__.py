"""respira models: the classifier and its encoders, registered with transformers' Auto classes on import.

Encoders: AST (``transformers.ASTModel``), BEATs (``beats``), EfficientAT MobileNetV3
(``efficientat``) and the contrastive-embedding paper's CNN (``cnn``).
"""

from . import beats, cnn, efficientat  # noqa: F401  (each registers its model type)
from .respira import (
    RespiraClassifierOutput,
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
    RespiraModelOutput,
)

__all__ = [
    "RespiraClassifierOutput",
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "RespiraModelOutput",
]
