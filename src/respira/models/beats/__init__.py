"""BEATs in the transformers style, registered with the Auto classes under ``model_type="beats"``.

Importing this package is enough for ``AutoConfig``/``AutoModel``/``AutoModelForAudioClassification`` to load
folders written by :func:`convert_beats_checkpoint` or ``save_pretrained``. Importing it again (or reloading
it) is harmless.
"""

from __future__ import annotations

import logging

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .configuration_beats import BeatsConfig
from .convert_beats import convert_beats_checkpoint
from .modeling_beats import BeatsForAudioClassification, BeatsModel, BeatsPreTrainedModel

logger = logging.getLogger(__name__)


def _register() -> None:
    try:
        registered = CONFIG_MAPPING[BeatsConfig.model_type]
    except KeyError:
        registered = None
    if registered is BeatsConfig:
        return
    if registered is not None and registered.__module__ != BeatsConfig.__module__:
        logger.warning(
            "model_type %r was registered by %s.%s; respira's BEATs replaces it",
            BeatsConfig.model_type,
            registered.__module__,
            registered.__qualname__,
        )
    # exist_ok: a reloaded module brings new class objects, which must replace the old ones.
    AutoConfig.register(BeatsConfig.model_type, BeatsConfig, exist_ok=True)
    AutoModel.register(BeatsConfig, BeatsModel, exist_ok=True)
    AutoModelForAudioClassification.register(BeatsConfig, BeatsForAudioClassification, exist_ok=True)


_register()

__all__ = [
    "BeatsConfig",
    "BeatsForAudioClassification",
    "BeatsModel",
    "BeatsPreTrainedModel",
    "convert_beats_checkpoint",
]
