"""The package root ``respira``."""

from __future__ import annotations

import subprocess
import sys

import respira


def test_dir_lists_the_lazily_imported_names() -> None:
    """``dir(respira)`` lists every public name, the lazily imported ones too (autodoc documents from it)."""
    assert set(respira.__all__) <= set(dir(respira))
    assert {"Detector", "Prediction", "RespiraConfig"} <= set(dir(respira))


IMPORTS_LIGHT_THEN_REGISTERS = """
import sys
import respira
heavy = ("torch", "transformers", "respira.models", "respira.api")
print(sorted(name for name in heavy if name in sys.modules) or "light")
import respira.options  # its `from transformers import ...` registers respira's model types
from transformers import AutoConfig, AutoModelForAudioClassification
from transformers.pipelines import PIPELINE_REGISTRY
config = AutoConfig.for_model("respira")
print(type(config).__module__, AutoModelForAudioClassification._model_mapping[type(config)].__name__)
print(PIPELINE_REGISTRY.supported_tasks["audio-classification"]["impl"].__name__)
print(respira.train is respira.api.train, respira.TrainedRun.__name__)  # the API, imported on first use
"""


def test_import_respira_is_light_and_registers_the_models_as_transformers_is_imported() -> None:
    """``import respira`` imports neither torch, transformers nor respira.api, and transformers imported after
    it (here by a module of respira's own) knows respira's model types and pipeline, as ``import respira``
    promises; ``respira.train`` then imports the API."""
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS_LIGHT_THEN_REGISTERS], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "light",
        "respira.models.respira.configuration_respira RespiraForAudioClassification",
        "RespiraAudioClassificationPipeline",
        "True TrainedRun",
    ]
