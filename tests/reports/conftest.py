"""Tiny models (untrained, seeded) and a short recording with its annotation file for the report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.models.respira.labels import MULTI_LABEL

from ..conftest import SHARED_DIR

RATE = 16000
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}
THRESHOLDS = [0.3, 0.7]


def save_tiny_model(folder: Path, **config_kwargs) -> Path:
    torch.manual_seed(0)
    config = RespiraConfig(encoder_config=dict(TINY_ENCODER), target_seconds=1.0, **config_kwargs)
    RespiraForAudioClassification(config).save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def single_label_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_single"))


@pytest.fixture(scope="session")
def multi_label_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_multi")
    return save_tiny_model(folder, problem_type=MULTI_LABEL, decision_thresholds=THRESHOLDS)


@pytest.fixture(scope="session")
def annotated_recording(
    synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The first synthetic recording with a crackle or wheeze cycle and its annotation file, copied."""
    source = next(
        wav
        for wav in sorted((synthetic_corpus / "ICBHI_final_database").glob("*.wav"))
        if any(line.split()[2:] != ["0", "0"] for line in wav.with_suffix(".txt").read_text().splitlines())
    )
    folder = tmp_path_factory.mktemp("annotated")
    shutil.copy(source, folder / source.name)
    shutil.copy(source.with_suffix(".txt"), folder / source.with_suffix(".txt").name)
    return folder / source.name, folder / source.with_suffix(".txt").name


@pytest.fixture(scope="session")
def noise_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 s of noise at 16 kHz: 5 windows of 4 s every 2 s, the last one 3 s long."""
    path = tmp_path_factory.mktemp("noise") / "noise.wav"
    sf.write(path, np.random.default_rng(3).normal(0, 0.1, 11 * RATE).astype(np.float32), RATE)
    return path


@pytest.fixture(scope="session")
def sprsound_test_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SPRSound sample's official test parts (links into ../shared; what evaluate scores by
    default), and the train part's annotations without its recordings: scoring that part would fail."""
    shared = SHARED_DIR / "sprsound"
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent (the real SPRSound sample)")
    folder = tmp_path_factory.mktemp("sprsound_test") / "sprsound"
    folder.mkdir()
    for part in ("test_wav", "test_json", "train_json"):
        (folder / part).symlink_to(shared / part, target_is_directory=True)
    return folder
