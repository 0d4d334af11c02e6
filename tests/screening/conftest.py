"""Fixtures of the screening tests: a tiny detector folder and a small archive with bad recordings."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from respira.models.respira.labels import MULTI_LABEL

from ..conftest import save_tiny_model

GOOD = 6
"""Readable recordings in :func:`write_archive`'s archive (3 to 8 s, mono and stereo, 8 kHz)."""
BAD = {"broken.wav", "empty.wav", "short.wav"}


def write_archive(folder: Path, good: int = GOOD) -> Path:
    """``good`` noise recordings (half in a sub-folder), and three bad ones: not audio, empty, 10 samples."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for index in range(good):
        samples = rng.normal(0, 0.1, (int((3 + index % 6) * 8000), 1 + index % 2)).astype(np.float32)
        sf.write(folder / ("sub" if index % 2 else "") / f"r{index:03d}.wav", samples, 8000)
    (folder / "broken.wav").write_bytes(b"not audio at all")
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), 16000)
    sf.write(folder / "short.wav", np.zeros(10, np.float32), 16000)
    (folder / "notes.txt").write_text("not a recording")
    (folder / ".hidden.wav").write_bytes(b"skipped")
    return folder


@pytest.fixture(scope="session")
def detector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screen_model")
    return save_tiny_model(folder, problem_type=MULTI_LABEL, decision_thresholds=[0.3, 0.7])


@pytest.fixture(scope="session")
def archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("screen_archive"))


@pytest.fixture
def archive(archive_template: Path, tmp_path: Path) -> Path:
    """A copy of the archive this test may change (modification times kept)."""
    return Path(shutil.copytree(archive_template, tmp_path / "archive"))


ONE_PROCESS = SimpleNamespace(process_index=0, num_processes=1, is_main_process=True)
"""accelerate's ``PartialState`` of a plain run, as :func:`respira.screening.screen` reads it."""
