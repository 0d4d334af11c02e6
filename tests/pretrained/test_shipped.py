"""Shipped detectors by name (``respira.pretrained.shipped``): any folder of respira.pretrained with a
model is a model name for every command, the loader and :meth:`respira.Detector.from_pretrained`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import respira
from respira.hub.loading import ModelLoadError, resolve_model_name
from respira.pretrained import DEFAULT_DETECTOR_NAME, default_detector_dir, shipped
from respira.records import sites


def test_the_default_detector_is_found_by_its_name() -> None:
    assert shipped.shipped_detectors()[DEFAULT_DETECTOR_NAME] == default_detector_dir()
    assert resolve_model_name(DEFAULT_DETECTOR_NAME) == default_detector_dir()
    detector = respira.Detector.from_pretrained(DEFAULT_DETECTOR_NAME, device="cpu")
    assert detector.name == DEFAULT_DETECTOR_NAME
    assert (
        detector.config.decision_thresholds == respira.Detector.from_pretrained().config.decision_thresholds
    )


def test_a_new_folder_is_a_model_name_without_more_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pretrained"
    (package / "not-a-model").mkdir(parents=True)  # no config.json: no detector
    site = package / "ward-crackle-wheeze"
    site.mkdir()
    for name in ("config.json", "preprocessor_config.json", "model.safetensors", "checksums.sha256"):
        shutil.copyfile(default_detector_dir() / name, site / name)
    record = {"data": {"corpora": [{"name": "icbhi"}, {"name": "kauh"}]}}
    (site / "respira_run.json").write_text(json.dumps(record))
    monkeypatch.setattr(shipped, "_PACKAGE", package)

    assert list(shipped.shipped_detectors()) == ["ward-crackle-wheeze"]
    assert resolve_model_name("ward-crackle-wheeze") == site
    assert shipped.describe_detectors() == [
        shipped.ShippedDetector("ward-crackle-wheeze", "icbhi, kauh", site, "no site recorded")
    ]
    assert respira.Detector.from_pretrained("ward-crackle-wheeze", device="cpu").name == "ward-crackle-wheeze"
    with pytest.raises(ModelLoadError):
        resolve_model_name("not-a-model")  # a folder without a model is no name, nor a path here


def test_a_folder_here_comes_before_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_DETECTOR_NAME).mkdir()
    assert resolve_model_name(DEFAULT_DETECTOR_NAME) == Path(DEFAULT_DETECTOR_NAME)


TRANSFORMERS_ALONE = r"""
import json, sys
import numpy as np, torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

jobs = json.loads(sys.argv[1])
wave = np.load(jobs["wave"])
out = {}
for folder in jobs["folders"]:
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**extractor(wave, sampling_rate=extractor.sampling_rate, return_tensors="pt")).logits
    out[folder] = {"class": type(model).__module__, "probabilities": torch.sigmoid(logits[0]).tolist()}
print("RESULT " + json.dumps(out))
"""


def test_the_shipped_folders_carry_no_code_and_their_exports_load_with_transformers_alone(
    tmp_path: Path,
) -> None:
    """Issue 51: the wheel carried every shipped folder's generated code, which an installed respira never
    runs, and ``trainer_state.json``. The folders declare the code (``auto_map``); an export of each (what
    ``respira push`` uploads) writes today's code, which loads and scores as respira does in a process
    where respira cannot be imported."""

    import numpy as np
    import torch

    from respira.hub import export_model
    from respira.hub.remote_code import remote_code_files

    from ..hub.test_remote_code import run_without_respira

    folders = shipped.shipped_detectors()
    assert set(folders) == {"icbhi-crackle-wheeze", "sprsound-crackle-wheeze"}  # every shipped folder
    exports, expected = [], {}
    wave = np.random.default_rng(0).normal(0, 0.1, 32_000 * 4).astype(np.float32)
    np.save(tmp_path / "wave.npy", wave)
    for name, folder in folders.items():
        config = json.loads((folder / "config.json").read_text())
        assert "auto_map" in config, name
        assert [path.name for path in folder.iterdir() if path.suffix == ".py"] == [], name
        assert not (folder / "trainer_state.json").exists(), name
        export = export_model(folder, tmp_path / name, onnx=False)
        code = remote_code_files()
        assert {path.name: path.read_text() for path in export.glob("*.py")} == code.files, name
        model = respira.RespiraForAudioClassification.from_pretrained(folder).eval()
        extractor = respira.RespiraFeatureExtractor.from_pretrained(folder)
        with torch.no_grad():
            logits = model(
                **extractor(wave, sampling_rate=extractor.sampling_rate, return_tensors="pt")
            ).logits
        expected[str(export)] = torch.sigmoid(logits[0]).tolist()
        exports.append(str(export))
    jobs = {"folders": exports, "wave": str(tmp_path / "wave.npy")}
    result = run_without_respira(TRANSFORMERS_ALONE, jobs, tmp_path)
    for export in exports:
        assert result[export]["class"].startswith("transformers_modules."), export
        np.testing.assert_allclose(result[export]["probabilities"], expected[export], atol=1e-5, rtol=0)


def test_the_training_corpora_are_read_from_the_run_record(tmp_path: Path) -> None:
    assert sites.trained_corpora(tmp_path) is None  # no respira_run.json
    (tmp_path / "respira_run.json").write_text(json.dumps({"data": {"corpora": []}}))
    assert sites.trained_corpora(tmp_path) == ["icbhi"]  # a run on one corpus names none
    record = {"data": {"corpora": [{"name": "icbhi"}, {"name": "kauh"}, {"name": None}]}}
    (tmp_path / "respira_run.json").write_text(json.dumps(record))
    assert sites.trained_corpora(tmp_path) == ["icbhi", "kauh"]
