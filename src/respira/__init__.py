"""respira: fine-tune audio encoders for respiratory-sound classification on ICBHI 2017.

``import respira`` registers respira's configs, models and feature extractor with transformers'
Auto classes, so ``AutoModelForAudioClassification.from_pretrained(folder_or_hub_id)`` and
``pipeline("audio-classification", model=...)`` work without ``trust_remote_code``.
"""

from .models import (
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "RespiraConfig",
    "RespiraFeatureExtractor",
    "RespiraForAudioClassification",
    "RespiraModel",
    "__version__",
]
