"""The package root ``respira``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import respira


def test_dir_lists_the_lazily_imported_names() -> None:
    """``dir(respira)`` lists every public name, the lazily imported ones too (autodoc documents from it)."""
    assert set(respira.__all__) <= set(dir(respira))
    assert {"Detector", "Prediction", "RespiraConfig"} <= set(dir(respira))


IMPORTS_AND_REGISTERS = """
import sys
import respira
print("respira.inference.detector" in sys.modules, "respira.inference.windowing" in sys.modules)
print([type(finder).__name__ for finder in sys.meta_path if type(finder).__module__.startswith("respira")])
from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification
from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.audio_classification import AudioClassificationPipeline as OWN
config = AutoConfig.for_model("respira")
print(type(config).__module__, AutoModel._model_mapping[type(config)].__name__)
print(AutoModelForAudioClassification._model_mapping[type(config)].__name__)
print(FEATURE_EXTRACTOR_MAPPING[type(config)].__name__)
impl = PIPELINE_REGISTRY.supported_tasks["audio-classification"]["impl"]
print(impl in (OWN, f"{OWN.__module__}.{OWN.__name__}"))
print(respira.train is respira.api.train, "respira.training.run" in sys.modules)  # the API, on first use
print(respira.TrainedRun.__name__)  # the trainer's modules, on first use of a run
"""


def test_import_respira_registers_the_models_with_the_auto_classes_and_leaves_the_pipeline_task() -> None:
    """``import respira`` registers respira's config, models and feature extractor with transformers' Auto
    classes, leaves the ``audio-classification`` task transformers' own and installs no import hook; the
    detector's modules wait for ``respira.Detector``, ``respira.train`` imports the API, and the trainer's
    modules wait for a run."""
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS_AND_REGISTERS], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "False False",  # respira.inference.detector and .windowing: imported on first use
        "[]",  # no import hook
        "respira.models.respira.configuration_respira RespiraModel",
        "RespiraForAudioClassification",
        "RespiraFeatureExtractor",
        "True",
        "True False",
        "TrainedRun",
    ]


def test_the_respira_command_imports_no_torch_to_show_its_help() -> None:
    """The ``respira`` command registers respira's models where it loads one, not as ``import respira``
    does: ``respira --help`` imports neither torch nor respira's modeling code."""
    command = [sys.executable, "-X", "importtime", "-m", "respira", "--help"]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.startswith("usage: respira"), run.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert "transformers" in imported
    assert not imported & {"torch", "respira.models.respira.modeling_respira"}


def test_only_the_respira_command_defers_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed ``respira`` script and ``python -m respira`` register where they load a model; any other
    process registers at ``import respira``, a user's own ``respira.py`` script included."""
    processes = {
        ("/venv/bin/respira", "/venv/bin/python /venv/bin/respira predict x.wav"): True,
        ("C:/venv/Scripts/respira.exe", "python respira.exe --help"): True,
        ("/src/respira/__main__.py", "python -m respira --help"): True,
        ("/home/me/respira.py", "python /home/me/respira.py"): False,
        ("/home/me/study.py", "python /home/me/study.py respira"): False,
        ("", "python"): False,
    }
    for (script, command), is_the_command in processes.items():
        monkeypatch.setattr(sys, "argv", [script])
        monkeypatch.setattr(sys, "orig_argv", command.split())
        assert respira._the_command() is is_the_command, (script, command)
