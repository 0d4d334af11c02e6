"""One way to register a model folder's classes with transformers' Auto classes."""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedConfig,
    PreTrainedModel,
)


def register_model_type(
    config_class: type[PreTrainedConfig],
    model_class: type[PreTrainedModel],
    classification_class: type[PreTrainedModel] | None = None,
    feature_extractor_class: type | None = None,
) -> None:
    """Register the given classes with ``AutoConfig``, ``AutoModel`` and the other Auto classes."""
    # exist_ok: a reloaded module brings new class objects, which must replace the old ones
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if classification_class is not None:
        AutoModelForAudioClassification.register(config_class, classification_class, exist_ok=True)
    if feature_extractor_class is not None:
        AutoFeatureExtractor.register(config_class, feature_extractor_class, exist_ok=True)
