"""The package root ``respira``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import respira
from respira import _after_import as after_import


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
print(respira.train is respira.api.train, "respira.training.run" in sys.modules)  # the API, on first use
print(respira.TrainedRun.__name__)  # the trainer's modules, on first use of a run
"""


def test_import_respira_is_light_and_registers_the_models_as_transformers_is_imported() -> None:
    """``import respira`` imports neither torch, transformers nor respira.api, and transformers imported after
    it (here by a module of respira's own) knows respira's model types and pipeline, as ``import respira``
    promises; ``respira.train`` then imports the API, and the trainer's modules wait for a run."""
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS_LIGHT_THEN_REGISTERS], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "light",
        "respira.models.respira.configuration_respira RespiraForAudioClassification",
        "RespiraAudioClassificationPipeline",
        "True False",
        "TrainedRun",
    ]


IMPORTS_THE_CLI_FIRST = """
import sys
import respira.cli
import respira
from transformers import AutoModelForAudioClassification, pipeline
model = AutoModelForAudioClassification.from_pretrained(sys.argv[1])
print(type(model).__name__, type(pipeline("audio-classification", model=sys.argv[1])).__name__)
"""


def test_a_session_that_imports_the_cli_first_loads_respira_folders_through_transformers(
    tmp_path: Path,
) -> None:
    """``import respira.cli`` then ``import respira``: transformers' Auto classes and ``pipeline`` load a
    respira folder without ``trust_remote_code`` (only the ``respira`` command's own process leaves
    respira's models to the commands that need them)."""
    config = respira.RespiraConfig(encoder_config={"model_type": "respira_cnn", "channels": [4, 8, 8, 16]})
    respira.RespiraForAudioClassification(config).save_pretrained(tmp_path)
    respira.RespiraFeatureExtractor().save_pretrained(tmp_path)
    command = [sys.executable, "-c", IMPORTS_THE_CLI_FIRST, str(tmp_path)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["RespiraForAudioClassification", "RespiraAudioClassificationPipeline"]


@pytest.fixture
def module_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A top-level module not yet imported, which records that it was executed."""
    (tmp_path / "respira_hook_probe.py").write_text("import sys\nsys.hook_events.append('executed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "hook_events", [], raising=False)
    yield "respira_hook_probe"
    sys.modules.pop("respira_hook_probe", None)


def test_the_hook_runs_once_right_after_the_module_is_executed(module_file: str) -> None:
    after_import(module_file, lambda: sys.hook_events.append("hook"))
    assert sys.hook_events == []
    module = __import__(module_file)
    assert sys.hook_events == ["executed", "hook"]
    assert type(module.__loader__).__name__ == "SourceFileLoader"  # its own loader again
    __import__(module_file)
    assert sys.hook_events == ["executed", "hook"]


def test_a_module_already_imported_runs_the_hook_now(module_file: str) -> None:
    __import__(module_file)
    after_import(module_file, lambda: sys.hook_events.append("hook"))
    assert sys.hook_events == ["executed", "hook"]
