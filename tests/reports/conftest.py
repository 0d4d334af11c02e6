"""A short recording with its annotation file, and 11 s of noise, for the report tests (the tiny models:
tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ..conftest import RATE


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
