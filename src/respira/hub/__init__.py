"""Sharing trained models: model cards, Hub-ready export and push.

* :func:`export_model` turns a training run folder into a self-contained model folder (config,
  safetensors weights, feature extractor, metrics and a generated ``README.md`` model card);
* :func:`push_run` exports a run and uploads it to a Hub model repository;
* :class:`RespiraModelCardData`, :class:`ModelCardCallback`, :func:`card_data_from_run_dir` and
  :func:`render_model_card` build the model card (see :mod:`respira.hub.card`).
"""

from .card import (
    MODEL_CARD_TEMPLATE,
    ModelCardCallback,
    RespiraModelCardData,
    card_data_from_run_dir,
    render_model_card,
)
from .export import EXPORTED_FILES, check_run_dir, export_model
from .push import HubConnectionError, push_run

__all__ = [
    "EXPORTED_FILES",
    "MODEL_CARD_TEMPLATE",
    "HubConnectionError",
    "ModelCardCallback",
    "RespiraModelCardData",
    "card_data_from_run_dir",
    "check_run_dir",
    "export_model",
    "push_run",
    "render_model_card",
]
