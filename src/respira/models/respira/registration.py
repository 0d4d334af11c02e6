"""The encoder families' classes, registered with transformers' Auto classes on import (in respira and in
the code shipped with a model alike), and one way to register a model folder's classes."""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedConfig,
    PreTrainedModel,
)

from .configuration_beats import BeatsConfig
from .configuration_cnn import RespiraCNNConfig
from .configuration_efficientat import EfficientATConfig
from .modeling_beats import BeatsForAudioClassification, BeatsModel
from .modeling_cnn import RespiraCNNModel
from .modeling_efficientat import EfficientATForAudioClassification, EfficientATModel


def register_model_type(
    config_class: type[PreTrainedConfig],
    model_class: type[PreTrainedModel],
    classification_class: type[PreTrainedModel] | None = None,
    feature_extractor_class: type | None = None,
) -> None:
    """Register the given classes with ``AutoConfig``, ``AutoModel`` and the other Auto classes."""
    # exist_ok: a reloaded module (or a model's shipped copy) brings new class objects, which replace the old
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if classification_class is not None:
        AutoModelForAudioClassification.register(config_class, classification_class, exist_ok=True)
    if feature_extractor_class is not None:
        AutoFeatureExtractor.register(config_class, feature_extractor_class, exist_ok=True)


register_model_type(RespiraCNNConfig, RespiraCNNModel)
register_model_type(BeatsConfig, BeatsModel, BeatsForAudioClassification)
register_model_type(EfficientATConfig, EfficientATModel, EfficientATForAudioClassification)
