"""Models that load without respira: the model folder shipped as it is (``export --with_code``, ``push``),
for every family.

The decisive tests run in a subprocess where ``import respira`` is impossible (a meta-path finder
refuses it, ``PYTHONPATH`` is cleared and the working directory is outside the repository) and load
the exported folder, and the same model pushed to the local test Hub, with plain transformers and
``trust_remote_code=True``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForAudioClassification

from respira import RespiraFeatureExtractor, RespiraForAudioClassification
from respira.hub import export_model, push_run
from respira.hub.remote_code import (
    MODEL_FOLDER,
    REMOTE_CODE_AUTO_MAP,
    REMOTE_CODE_PIPELINES,
    check_remote_code,
    code_size,
    remote_code_files,
)
from respira.models.respira.encoders import encoder_names
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES

from ..models.encoder_tester import CASES
from .hub_server import HubServer
from .test_card_export_push import hub_env

# the waveform families of the Hub ship the same code but their registry entry: HuBERT's stands for them
FAMILIES = tuple(name for name in encoder_names() if name not in WAVEFORM_MODEL_TYPES or name == "hubert")
SUBPROCESS_TIMEOUT = 400
RATE = 16000


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """The encoder tester's tiny model of family ``name`` (batch-norm statistics moved, eval mode)."""
    return CASES[name].model(**kwargs)


WITHOUT_RESPIRA = r"""
import importlib.abc, sys

class NoRespira(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "respira" or name.startswith("respira."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, NoRespira())
"""

LOAD = r"""
import json, os, sys, traceback
import numpy as np, torch
import transformers.dynamic_module_utils
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

try:
    import respira  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("respira is importable in the test subprocess")
jobs = json.loads(sys.argv[1])
wave = np.load(jobs["wave"])


def load(models):
    results = {}
    for name, source in models.items():
        try:
            AutoConfig.from_pretrained(source)
        except Exception as error:
            refused = " ".join(str(error).split())
        else:
            refused = None
        model = AutoModelForAudioClassification.from_pretrained(source, trust_remote_code=True).eval()
        layers = list(model.modules())
        extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=True)
        inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0].tolist()
        classify = pipeline("audio-classification", model=source, trust_remote_code=True)
        scores = classify(jobs["wav"], top_k=None, function_to_apply="none")
        decided = classify(jobs["wav"], top_k=1)
        results[name] = {
            "refused_without_trust": refused,
            "model_module": type(model).__module__,
            "layer_modules": sorted({type(layer).__module__ for layer in layers}),
            "layer_classes": sorted({f"{type(m).__module__}:{type(m).__qualname__}" for m in layers}),
            "extractor_module": type(extractor).__module__,
            "logits": logits,
            "pipeline": {item["label"]: item["score"] for item in scores},
            "pipeline_class": type(classify).__module__ + "." + type(classify).__name__,
            "decided": decided[0]["label"],
        }
    return results


# one fork per family, each with its own folder and remote-code cache: no family sees what another loaded
for family, job in jobs["families"].items():
    sys.stdout.flush()
    if os.fork() == 0:
        try:
            os.chdir(job["cwd"])
            transformers.dynamic_module_utils.HF_MODULES_CACHE = job["modules"]
            results = load(job["models"])
            leaked = sorted(m for m in sys.modules if m == "respira" or m.startswith("respira."))
            found = {"family": family, "models": results, "leaked": leaked}
            print("\nRESULT " + json.dumps(found), flush=True)  # after any prompt text
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    if os.wait()[1]:
        raise SystemExit(f"{family}: its process failed")
"""


def _run_dir(folder: Path, family: str) -> Path:
    model = tiny_model(family, target_seconds=1.0)
    model.save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {family: _run_dir(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def exports(run_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's run exported with its code; read-only, copy it before changing files."""
    root = tmp_path_factory.mktemp("exports")
    return {family: export_model(run_dirs[family], root / family, with_code=True) for family in FAMILIES}


@pytest.fixture(scope="module")
def own_models(run_dirs: dict[str, Path]) -> dict[str, RespiraForAudioClassification]:
    """Each family's run loaded by respira once, for every test that compares with it (read-only)."""
    return {
        family: RespiraForAudioClassification.from_pretrained(run_dirs[family]).eval() for family in FAMILIES
    }


@pytest.fixture(scope="module")
def wave(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path, Path]:
    """A 1.5 s waveform as ``.npy`` (exact), and its first second (the models' fixed length: the
    pipeline scores longer inputs by windows) as a 16 kHz float WAV file for the pipeline."""
    folder = tmp_path_factory.mktemp("wave")
    samples = (0.1 * np.random.default_rng(3).standard_normal(int(1.5 * RATE))).astype(np.float32)
    np.save(folder / "wave.npy", samples)
    sf.write(folder / "wave.wav", samples[:RATE], RATE, subtype="FLOAT")
    return samples, folder / "wave.npy", folder / "wave.wav"


def run_without_respira(script: str, jobs: dict, tmp_path: Path) -> dict:
    """Run ``script`` (after :data:`WITHOUT_RESPIRA`) with ``jobs`` in a fresh process where respira cannot
    be imported; its ``RESULT`` line, parsed."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), HF_MODULES_CACHE=str(tmp_path / "modules")
    )
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_RESPIRA + script, json.dumps(jobs)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _expected_logits(model: RespiraForAudioClassification, *waves: np.ndarray) -> list[np.ndarray]:
    """respira's logits for each of ``waves`` by ``model``."""
    extractor = RespiraFeatureExtractor()
    with torch.no_grad():
        return [
            model(**extractor(samples, sampling_rate=RATE, return_tensors="pt")).logits[0].numpy()
            for samples in waves
        ]


def _load_without_respira(
    families: dict[str, dict[str, str]], wave_paths: tuple[Path, Path], env: dict, cwd: Path
):
    """Each family's models (name → Hub repo or folder) loaded by :data:`LOAD` in a process where respira
    cannot be imported, each family in a fork of its own: what each load found, per family and name."""
    jobs = {"wave": str(wave_paths[0]), "wav": str(wave_paths[1]), "families": {}}
    for family, models in families.items():
        (cwd / family).mkdir(parents=True)
        jobs["families"][family] = {
            "models": models,
            "cwd": str(cwd / family),
            "modules": str(cwd / family / "hf_modules"),
        }
    env = {key: value for key, value in env.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_RESPIRA + LOAD, json.dumps(jobs)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,  # transformers' trust_remote_code prompt reads stdin
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    outputs = [
        json.loads(line[len("RESULT ") :])
        for line in result.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert [output["family"] for output in outputs] == list(families), (
        result.stdout[-2000:] + result.stderr[-2000:]
    )
    assert all(output["leaked"] == [] for output in outputs)
    return {output["family"]: output["models"] for output in outputs}


def _check_loaded(loaded: dict, own_model: RespiraForAudioClassification, folder: Path, samples: np.ndarray):
    """What a load without respira found, against respira's model of the same weights (``own_model``) and
    the config of the ``folder`` it loaded."""
    own = list(own_model.modules())
    expected, first_second = _expected_logits(own_model, samples, samples[:RATE])
    assert loaded["refused_without_trust"] and "trust_remote_code" in loaded["refused_without_trust"]
    assert loaded["model_module"].startswith("transformers_modules.")
    assert loaded["model_module"].endswith(".modeling_respira")
    # every layer of respira's model is a class of the shipped code (none left out)
    expected_layers = {type(layer).__module__ for layer in own}
    shipped_layers = {
        c.split(":")[1] for c in loaded["layer_classes"] if c.startswith("transformers_modules.")
    }
    assert shipped_layers == {
        type(layer).__qualname__ for layer in own if type(layer).__module__.startswith("respira.")
    }
    assert {m for m in loaded["layer_modules"] if not m.startswith("transformers_modules.")} == {
        m for m in expected_layers if not m.startswith("respira.")
    }
    assert loaded["extractor_module"].endswith(".feature_extraction_respira")
    np.testing.assert_allclose(loaded["logits"], expected, atol=1e-5, rtol=0)
    config = json.loads((folder / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    np.testing.assert_allclose(
        [loaded["pipeline"][label] for label in labels], first_second, atol=1e-4, rtol=0
    )
    assert loaded["pipeline_class"].startswith("transformers_modules.")  # the shipped pipeline
    assert loaded["pipeline_class"].endswith(".pipeline_respira.RespiraAudioClassificationPipeline")
    assert loaded["decided"] == labels[int(np.argmax(first_second))]


# ---------------------------------------------------------------------------------------------- the bundle


def test_the_shipped_code_is_the_model_folder_as_it_is(exports: dict[str, Path]) -> None:
    code = remote_code_files()
    assert dict(code.files) == {path.name: path.read_text() for path in MODEL_FOLDER.glob("*.py")}
    for name in REMOTE_CODE_AUTO_MAP.values():
        assert f"{name.split('.')[0]}.py" in code.files
    assert {"torch", "transformers", "numpy"} <= set(code.requirements)
    assert "respira" not in code.requirements
    assert "torchcodec" not in code.requirements  # read_audio's optional fallback for other codecs
    for family, export in exports.items():
        assert {path.name: path.read_text() for path in export.glob("*.py")} == dict(code.files), family
        assert check_remote_code(export) == sorted(code.files)
        config = json.loads((export / "config.json").read_text())
        assert config["auto_map"] == REMOTE_CODE_AUTO_MAP
        assert config["custom_pipelines"] == REMOTE_CODE_PIPELINES
        preprocessor = json.loads((export / "preprocessor_config.json").read_text())
        extractor = REMOTE_CODE_AUTO_MAP["AutoFeatureExtractor"]
        assert preprocessor["auto_map"] == {"AutoFeatureExtractor": extractor}


AUDIT_FILES = 20
"""The most files the model folder ships for a ``trust_remote_code=True`` user to read (issue 85)."""
CARD_TEXT = re.compile(r"@(article|inproceedings|misc)\s*\{|\bbibtex|\bcitation|\bcard_(tag|descr)", re.I)


def test_the_shipped_code_is_few_files_and_no_card_text(exports: dict[str, Path]) -> None:
    """The model folder, as ``export --with_code`` ships it for every family, is at most 20 files, and none
    holds a citation or card words (they live with the card code and the losses)."""
    assert 0 < len(list(MODEL_FOLDER.glob("*.py"))) <= AUDIT_FILES
    for family, export in exports.items():
        assert len(list(export.glob("*.py"))) <= AUDIT_FILES, family
    assert [path.name for path in MODEL_FOLDER.glob("*.py") if CARD_TEXT.search(path.read_text())] == []


def _code_modules(model: torch.nn.Module) -> set[str]:
    """The modules defining the classes (and their bases) of a model's layers and configurations."""
    objects = [*model.modules(), model.config, model.config.encoder_config]
    return {cls.__module__ for obj in objects for cls in type(obj).__mro__}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_module_of_the_model_ships(
    family: str, own_models: dict[str, RespiraForAudioClassification], exports: dict[str, Path]
) -> None:
    """Each respira module that defines a layer of the model (e.g. BEATs' filter banks and their derived
    buffers beside ``modeling_beats``) is a file of the exported folder."""
    model = own_models[family]
    needed = {
        module.rsplit(".", 1)[-1] + ".py" for module in _code_modules(model) if module.startswith("respira.")
    }
    if family == "beats":
        assert {"filterbanks.py", "spectrum.py", "modeling_beats.py"} <= needed
    defined = {
        node.name
        for path in exports[family].glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    classes = {cls.__name__ for obj in [*model.modules(), model.config] for cls in type(obj).__mro__}
    assert {
        name for name in classes if name.startswith(("Respira", "EfficientAT", "BEATs"))
    } - defined == set()


def test_check_remote_code_names_what_is_wrong(exports: dict[str, Path], tmp_path: Path) -> None:
    export = Path(shutil.copytree(exports["cnn"], tmp_path / "export"))
    (export / "featurizer.py").write_text("from respira.models import RespiraConfig\n")
    with pytest.raises(ValueError, match=r"featurizer\.py imports respira"):
        check_remote_code(export)
    (export / "featurizer.py").write_text("from .missing import thing\n")
    with pytest.raises(ValueError, match="names no file of the folder"):
        check_remote_code(export)
    (export / "feature_extraction_respira.py").unlink()
    with pytest.raises(ValueError, match=r"feature_extraction_respira\.py is not in"):
        check_remote_code(export)


def test_export_without_code_is_unchanged_and_card_says_respira(
    run_dirs: dict[str, Path], exports: dict[str, Path], tmp_path: Path
):
    plain = export_model(run_dirs["cnn"], tmp_path / "plain")
    assert not list(plain.glob("*.py"))
    assert "auto_map" not in json.loads((plain / "config.json").read_text())
    card = ModelCard.load(plain / "README.md")
    assert card.data.library_name == "respira" and "custom_code" not in card.data.tags
    assert "trust_remote_code=True" not in card.text
    card = ModelCard.load(exports["cnn"] / "README.md")
    assert card.data.library_name == "transformers" and "custom_code" in card.data.tags
    assert "trust_remote_code=True)" in card.text and "### 2. With transformers alone" in card.text
    # torch from its CPU wheel first, as README installs it (a plain `pip install torch` pulls CUDA)
    requirements = [name for name in remote_code_files().requirements if name != "torch"]
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in card.text
    assert "pip install " + " ".join(requirements) + "\n" in card.text


@pytest.mark.parametrize("family", FAMILIES)
def test_the_same_folder_loads_with_respira_and_no_remote_code(
    family: str, own_models: dict[str, RespiraForAudioClassification], exports: dict[str, Path], wave
) -> None:
    export = exports[family]
    model = AutoModelForAudioClassification.from_pretrained(export)  # no trust_remote_code
    assert type(model) is RespiraForAudioClassification
    inputs = RespiraFeatureExtractor()(wave[0], sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        logits = model.eval()(**inputs).logits[0].numpy()
    np.testing.assert_allclose(logits, _expected_logits(own_models[family], wave[0])[0], atol=1e-6, rtol=0)
    # respira's config keeps the shipped pipeline config.json names (pipeline() asks trust_remote_code for it)
    assert model.config.custom_pipelines == REMOTE_CODE_PIPELINES


# ---------------------------------------------------------------------------------------------- no respira


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_every_family_loads_from_the_hub_and_from_a_folder_without_respira(
    run_dirs: dict[str, Path],
    exports: dict[str, Path],
    own_models: dict[str, RespiraForAudioClassification],
    wave,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        repos = {family: f"user/respira-{family}" for family in FAMILIES}
        for family, repo in repos.items():
            push_run(run_dirs[family], repo, token="test-token")  # with_code is push's default
        assert hub.state.repos[repos["beats"]].commits  # pushed
        # a fork per family of a process that imported only torch and transformers (a family must not rely
        # on another's registrations), loading the Hub copy, then the exported folder: each from its own
        # shipped code (checked below), so the second load cannot borrow modules the first one imported
        loaded = _load_without_respira(
            {family: {"hub": repo, "folder": str(exports[family])} for family, repo in repos.items()},
            wave[1:],
            hub_env(hub.url, tmp_path / "hf_home"),
            tmp_path / "loads",
        )
    for family in FAMILIES:
        hub_load, folder_load = loaded[family]["hub"], loaded[family]["folder"]
        _check_loaded(hub_load, own_models[family], run_dirs[family], wave[0])  # the export's weights are
        _check_loaded(folder_load, own_models[family], exports[family], wave[0])  # the run's (test above)
        shipped = [
            {c.split(":")[0] for c in load["layer_classes"] if c.startswith("transformers_modules.")}
            | {load["model_module"], load["extractor_module"], load["pipeline_class"].rsplit(".", 1)[0]}
            for load in (hub_load, folder_load)
        ]
        assert shipped[0].isdisjoint(shipped[1]), shipped


def test_code_size_counts_code_lines_as_cloc_does() -> None:
    text = '"""Doc.\n\nMore.\n"""\n\nimport os  # a comment\n\n# a comment line\nX = 1\n"""X\'s doc."""\n\n\n'
    text += 'def f():\n    """Doc."""\n    return os.sep\n'
    assert code_size([text, "Y = 2\n"]) == (2, 5)
    assert code_size([text.replace('"""Doc."""', '"""A longer\n    doc."""')]) == (1, 4)
