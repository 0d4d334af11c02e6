"""Sharing trained models: loading, model cards, Hub-ready export and push."""

from .card_data import ModelCardCallback, RespiraModelCardData
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
