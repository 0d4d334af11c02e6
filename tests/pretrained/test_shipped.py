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


# the shipped folders' exports loading with transformers alone: tests/test_pretrained.py (one process
# without respira for them and the default detector's three ways)


def test_the_training_corpora_are_read_from_the_run_record(tmp_path: Path) -> None:
    assert sites.trained_corpora(tmp_path) is None  # no respira_run.json
    (tmp_path / "respira_run.json").write_text(json.dumps({"data": {"corpora": []}}))
    assert sites.trained_corpora(tmp_path) == ["icbhi"]  # a run on one corpus names none
    record = {"data": {"corpora": [{"name": "icbhi"}, {"name": "kauh"}, {"name": None}]}}
    (tmp_path / "respira_run.json").write_text(json.dumps(record))
    assert sites.trained_corpora(tmp_path) == ["icbhi", "kauh"]
