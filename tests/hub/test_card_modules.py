"""The model card lives in three modules (card_data, card_results, card_render); every public name of the
eight modules it came from still imports from its old path (a deprecated alias for the ones gone)."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

import respira.hub

OLD_PUBLIC_NAMES: dict[str, tuple[str, ...]] = {
    "respira.hub.card_callback": ("ModelCardCallback",),
    "respira.hub.card_data": (
        "AUX_LOSS_NAMES",
        "HYPERPARAMETERS",
        "MODEL_INDEX_METRICS",
        "TRAINER_STATE_FACTS",
        "RespiraModelCardData",
    ),
    "respira.hub.card_fields": (
        "ARCHITECTURE_KEYS",
        "AUX_LOSS_NAMES",
        "HUB_METRIC_ARGS",
        "HUB_METRIC_ID",
        "HYPERPARAMETERS",
        "MODEL_INDEX_METRICS",
        "NOT_METRICS",
    ),
    "respira.hub.card_external": (
        "ExternalGroup",
        "ExternalValidation",
        "StaleEvaluationWarning",
        "external_eval_results",
        "external_rows",
        "external_validations",
        "scored_model",
    ),
    "respira.hub.card_folder": ("card_data_from_run_dir", "render_folder_card"),
    "respira.hub.card_render": ("MODEL_CARD_TEMPLATE", "render_model_card", "template_context"),
    "respira.hub.card_sites": ("ALL_NORMAL_METRIC", "site_eval_results", "site_rows"),
    "respira.hub.card_splits": ("split_description", "split_rows", "subset_note"),
}
"""The ``__all__`` of each card module before they were brought into three."""
CARD_MODULES = {"card_data.py", "card_results.py", "card_render.py"}


def test_the_card_is_three_modules() -> None:
    assert {path.name for path in Path(respira.hub.__file__).parent.glob("card_*.py")} == CARD_MODULES


@pytest.mark.parametrize(("old", "names"), sorted(OLD_PUBLIC_NAMES.items()))
def test_every_old_public_name_imports_from_its_old_path(old: str, names: tuple[str, ...]) -> None:
    module = importlib.import_module(old)
    new = respira._MOVED_MODULES.get(old, old)
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            found = getattr(module, name)
        assert found is getattr(importlib.import_module(new), name), f"{old}.{name}"
