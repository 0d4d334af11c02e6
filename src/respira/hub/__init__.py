"""Sharing trained models: loading, model cards, Hub-ready export and push.

* :mod:`respira.hub.loading`: :func:`load_model` (a folder or a Hub id, one-line errors) and
  :func:`check_model_folder`, the one check that a folder holds a respira model;
* :mod:`respira.hub.card_data`: :class:`RespiraModelCardData`, what a model card states (with the
  names it uses), and :class:`ModelCardCallback`, which fills it during training;
* :mod:`respira.hub.card_results`: what a folder's results say on its card (``model-index`` results, the
  sites it serves, external validation, the data split);
* :mod:`respira.hub.card_render`: :func:`card_data_from_run_dir`, :func:`render_model_card` and
  :func:`render_folder_card` (a folder's card from its own files);
* :mod:`respira.hub.export`: :func:`export_model` turns a training run folder into a self-contained
  model folder (config, safetensors weights, feature extractor, metrics and a ``README.md`` card);
* :mod:`respira.hub.push`: :func:`push_run` exports a run and uploads it to a Hub model repository.
"""

from .card_callback import ModelCardCallback
from .card_data import RespiraModelCardData
from .card_render import MODEL_CARD_TEMPLATE, card_data_from_run_dir, render_folder_card, render_model_card
from .export import EXPORTED_FILES, export_model
from .loading import ModelLoadError, check_model_folder, load_model
from .push import HubConnectionError, push_run

__all__ = [
    "EXPORTED_FILES",
    "MODEL_CARD_TEMPLATE",
    "HubConnectionError",
    "ModelCardCallback",
    "ModelLoadError",
    "RespiraModelCardData",
    "card_data_from_run_dir",
    "check_model_folder",
    "export_model",
    "load_model",
    "push_run",
    "render_folder_card",
    "render_model_card",
]
