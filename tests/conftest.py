"""Shared fixtures: a synthetic ICBHI corpus made once per session, and the real ../shared data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.run_record import CorpusRecord, DataRecord

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SHARED_DIR = Path(os.environ.get("RESPIRA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(autouse=True, scope="session")
def _datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's dataset cache out of the user's ~/.cache."""
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corpus in the official layout; read-only, copy it before changing files."""
    from respira.synthetic import make_synthetic_icbhi

    return make_synthetic_icbhi(tmp_path_factory.mktemp("synthetic") / "icbhi", n_patients=12, seed=0)


@pytest.fixture
def corpus_copy(synthetic_corpus: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the synthetic corpus."""
    return Path(shutil.copytree(synthetic_corpus, tmp_path / "icbhi"))


@pytest.fixture(scope="session")
def shared_icbhi() -> Path:
    """The real ICBHI sample in ../shared/icbhi (skips when absent, as on a user's machine)."""
    path = SHARED_DIR / "icbhi"
    if not path.is_dir():
        pytest.skip(f"real ICBHI data not found at {path} (../shared is only present on project machines)")
    return path


@pytest.fixture(scope="session")
def complete_annotations(shared_icbhi: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official layout with all 920 annotation files and no audio (symlinks into ../shared)."""
    root = tmp_path_factory.mktemp("icbhi_annotations_only")
    (root / "ICBHI_final_database").symlink_to(shared_icbhi / "annotations_all", target_is_directory=True)
    for name in (
        "ICBHI_challenge_train_test.txt",
        "ICBHI_Challenge_diagnosis.txt",
        "ICBHI_Challenge_demographic_information.txt",
    ):
        (root / name).symlink_to(shared_icbhi / name)
    return root


@pytest.fixture(scope="session")
def shared_kauh() -> Path:
    """The real KAUH recordings in ../shared/kauh (skips when absent, as on a user's machine)."""
    path = SHARED_DIR / "kauh"
    if not path.is_dir():
        pytest.skip(f"real KAUH data not found at {path} (../shared is only present on project machines)")
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """Reference test vectors for encoder implementations in ../shared/reference (skips when absent)."""
    path = SHARED_DIR / "reference"
    if not path.is_dir():
        pytest.skip(f"reference vectors not found at {path} (../shared is only present on project machines)")
    return path


@pytest.fixture(scope="session")
def prepared_folder(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``respira prepare --output_dir`` of the synthetic corpus at 4 kHz with a 0.25 validation share
    (the options of the tiny training recipe); read-only."""
    from respira.cli import main

    root = tmp_path_factory.mktemp("prepared_dataset")
    code = main(
        ["prepare", "--data_dir", str(synthetic_corpus), "--sampling_rate", "4000", "--validation_size",
         "0.25", "--output_dir", str(root / "icbhi"), "--cache_dir", str(root / "cache")]
    )  # fmt: skip
    assert code == 0
    return root / "icbhi"


@pytest.fixture
def progress_bars_on(monkeypatch: pytest.MonkeyPatch):
    """Progress bars turned on in transformers, huggingface_hub and datasets (respira.utils.progress
    shows its stages); their switches are restored afterwards."""
    import datasets
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as transformers_logging

    from respira.utils.progress import GROUP, bars_enabled

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    before = (transformers_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())
    group_off = are_progress_bars_disabled(GROUP)
    transformers_logging.enable_progress_bar()
    datasets.enable_progress_bars()
    if not bars_enabled():
        pytest.skip("progress bars are forced off by the environment (HF_*_DISABLE_PROGRESS_BARS=1)")
    yield
    (transformers_logging.enable_progress_bar if before[0] else transformers_logging.disable_progress_bar)()
    (datasets.enable_progress_bars if before[1] else datasets.disable_progress_bars)()
    if group_off:
        disable_progress_bars(GROUP)


def two_corpus_record(icbhi: Path, name: str, folder: Path) -> DataRecord:
    """The data record of a tiny multi-corpus run: ICBHI (``icbhi``) and the recording-labelled corpus
    ``name`` (``folder``), at 4 kHz, cut into 1 s windows every 0.5 s."""
    return DataRecord(
        data_dir=str(icbhi),
        sampling_rate=4000,
        validation_size=0.25,
        corpora=[CorpusRecord("icbhi", str(icbhi)), CorpusRecord(name, str(folder), "recording")],
        corpus_window_seconds=1.0,
        corpus_hop_seconds=0.5,
    )


KAUH_SOUNDS = ("N", "C", "E W", "I C E W", "Crep", "N")


def write_kauh(folder: Path, patients: int = 6, rate: int = 4000) -> Path:
    """``patients`` patients x 3 filter modes of KAUH-named noise, 2-5 s long."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for patient in range(1, patients + 1):
        seconds = 2.0 + 0.6 * patient
        for mode in "BDE":
            samples = (0.05 * rng.standard_normal(round(seconds * rate))).astype(np.float32)
            name = f"{mode}P{patient}_Asthma,{KAUH_SOUNDS[patient % len(KAUH_SOUNDS)]},P L L,50,M.wav"
            sf.write(folder / name, samples, rate, subtype="PCM_16")
    return folder


def encode_aac(source: Path, target: Path) -> Path:
    """``source`` (any audio ffmpeg reads) re-encoded by ffmpeg to AAC in ``target`` (an ``.m4a``): a phone's
    format, which libsndfile does not read."""
    import subprocess

    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), str(target)], check=True, stdin=subprocess.DEVNULL
    )
    return target
