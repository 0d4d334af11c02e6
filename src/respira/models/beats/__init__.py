"""BEATs in the transformers style, registered with the Auto classes under ``model_type="beats"``."""

from __future__ import annotations

from ..convert_beats import convert_beats_checkpoint
from ..respira.configuration_beats import BeatsConfig
from ..respira.modeling_beats import BeatsForAudioClassification, BeatsModel
from ..respira.registration import register_model_type

register_model_type(BeatsConfig, BeatsModel, BeatsForAudioClassification)

__all__ = ["BeatsConfig", "BeatsForAudioClassification", "BeatsModel", "convert_beats_checkpoint"]
