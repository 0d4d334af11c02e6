"""Sharing trained models: loading, model cards, Hub-ready export and push (names imported on first use)."""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {  # each public name → the module that defines it
    "EXPORTED_FILES": "export",
    "MODEL_CARD_TEMPLATE": "card_template",
    "HubConnectionError": "push",
    "ModelLoadError": "loading",
    "RespiraModelCardData": "card_data",
    "card_data_from_run_dir": "card_render",
    "check_model_folder": "loading",
    "export_model": "export",
    "load_model": "loading",
    "push_run": "push",
    "render_folder_card": "card_render",
    "render_model_card": "card_template",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
