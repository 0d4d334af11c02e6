"""Shared fixtures: a synthetic ICBHI corpus made once per session, and the real ../shared data."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# transformers copies a folder's remote code into this cache, unlocked, when the folder is loaded (read as it
# is imported, so set before respira): each session, and each pytest-xdist worker, gets its own
_MODULES_CACHE = tempfile.TemporaryDirectory(prefix="respira-tests-hf-modules-")
os.environ["HF_MODULES_CACHE"] = _MODULES_CACHE.name

from .figures import drawn, skip_drawing  # noqa: E402

if TYPE_CHECKING:
    from respira.records.run import DataRecord

SHARED_DIR = Path(os.environ.get("RESPIRA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


skip_drawing()


@pytest.fixture(autouse=True)
def _figures_drawn(request: pytest.FixtureRequest) -> Iterator[None]:
    """Figures drawn for real in a test marked ``figures``."""
    if request.node.get_closest_marker("figures") is None:
        yield
        return
    with drawn():
        yield


@pytest.fixture(autouse=True, scope="session")
def _datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's dataset cache out of the user's ~/.cache."""
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(autouse=True, scope="session")
def _onnx_registry_once() -> Iterator[None]:
    """torch's ONNX exporter builds its registry of torchlib functions anew for every export (re-reading
    each function's source: about a second); a worker's exports share one, each given its own copy. What an
    export reads of it is the same, so are the bytes it writes. Without that exporter: nothing changes."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        yield
        return
    registry = _registration.ONNXRegistry
    build = registry.__dict__.get("from_torchlib")
    if not isinstance(build, classmethod):
        yield
        return
    built: dict[Any, Any] = {}

    def from_torchlib(cls: type, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = build.__func__(cls, *args, **kwargs)
        own = copy.copy(built[key])
        own.functions = {target: list(metas) for target, metas in built[key].functions.items()}
        return own

    registry.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        registry.from_torchlib = build


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corpus in the official layout (12 patients, 25 recordings at 4, 10 and 44.1 kHz of
    3-4 cycles: every class in every split of each split strategy); read-only, copy it before changing it."""
    from respira.synthetic import make_synthetic_icbhi

    out = tmp_path_factory.mktemp("synthetic") / "icbhi"
    return make_synthetic_icbhi(out, n_patients=12, seed=0, cycles_per_recording=(3, 4))


@pytest.fixture
def corpus_copy(synthetic_corpus: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the synthetic corpus."""
    return Path(shutil.copytree(synthetic_corpus, tmp_path / "icbhi"))


def _shared_icbhi_folder(name: str) -> Path:
    """``../shared/NAME``, skipping the test when absent (as on a user's machine)."""
    path = SHARED_DIR / name
    if not path.is_dir():
        pytest.skip(f"real ICBHI data not found at {path} (../shared is only present on project machines)")
    return path


@pytest.fixture(scope="session")
def shared_icbhi() -> Path:
    """The real ICBHI sample in ../shared/icbhi (skips when absent, as on a user's machine)."""
    return _shared_icbhi_folder("icbhi")


@pytest.fixture(scope="session")
def shared_icbhi_cycles() -> Path:
    """The 39 more ICBHI patients of ../shared/icbhi_cycles, FLAC (skips when absent)."""
    return _shared_icbhi_folder("icbhi_cycles")


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
    from respira.records.run import CorpusRecord, DataRecord

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


AUDIO_FORMATS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac")
"""The formats :func:`write_audio` writes: what every reader is tested to take (``AUDIO_SUFFIXES``)."""


def write_audio(path: Path, samples: np.ndarray, rate: int) -> Path:
    """``samples`` (float, mono) written to ``path`` in the format its suffix names (one of
    :data:`~respira.data.corpus_files.AUDIO_SUFFIXES`): libsndfile's formats by soundfile, AAC by ffmpeg."""
    formats = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
               ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}  # fmt: skip
    if path.suffix in formats:
        if path.suffix in (".opus", ".mp3") and rate != 16000:  # neither codec takes every rate
            import soxr

            samples, rate = soxr.resample(samples, rate, 16000), 16000
        sf.write(path, samples, rate, format=formats[path.suffix][0], subtype=formats[path.suffix][1])
        return path
    wav = path.with_name(f"{path.name}.source.wav")
    sf.write(wav, samples, rate, subtype="PCM_16")
    encode_aac(wav, path)
    wav.unlink()
    return path


SPRSOUND_RATE = 8000
SPRSOUND_SECONDS = 2.0
SPRSOUND_PARTS = {
    "train": ("train_wav", "train_json"),
    "inter_test": ("test_wav", "test_json/inter_test_json"),
    "intra_test": ("test_wav", "test_json/intra_test_json"),
}
"""The official parts of SPRSound and their (audio, annotation) folders."""
# (official part, stem, record label, events as (start ms, end ms, type), JSON flavour)
# flavour "strings": record_annotation and times as strings (the copies seen); "numbers":
# recording_annotation and times as numbers (the release's documentation).
SPRSOUND_TINY = (
    ("train", "101_6.7_1_p1_11", "Normal", [(100, 900, "Normal"), (1000, 1800, "Normal")], "strings"),
    (
        "train",
        "101_6.7_1_p2_12",
        "DAS",
        [(200, 700, "Fine Crackle"), (800, 1500, "Coarse Crackle")],
        "numbers",
    ),
    ("train", "102_0.4_0_p3_21", "CAS", [(0, 1000, "Wheeze"), (1200, 1900, "Stridor")], "strings"),
    ("intra_test", "102_0.4_0_p4_22", "Normal", [(300, 1300, "Normal")], "numbers"),
    ("train", "103_12_1_p1_31", "CAS & DAS", [(100, 1900, "Wheeze+Crackle")], "strings"),
    ("train", "103_12_1_p2_32", "Poor Quality", [], "strings"),
    ("inter_test", "104_3.5_0_p1_41", "Normal", [(50, 950, "Normal")], "numbers"),
    ("inter_test", "105_8_1_p4_51", "CAS", [(300, 1700, "Rhonchi")], "strings"),
)


def write_sprsound_wav(path: Path, seconds: float = SPRSOUND_SECONDS, rate: int = SPRSOUND_RATE) -> None:
    """Noise seeded by the name, so a wrong segment cannot pass for the right one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(path.name.encode()))
    sf.write(
        path, (0.2 * rng.standard_normal(round(seconds * rate))).astype(np.float32), rate, subtype="PCM_16"
    )


def write_sprsound_json(path: Path, label: str, events: list, flavour: str = "strings") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    convert = str if flavour == "strings" else (lambda ms: ms)
    key = "record_annotation" if flavour == "strings" else "recording_annotation"
    spans = [{"start": convert(start), "end": convert(end), "type": kind} for start, end, kind in events]
    path.write_text(json.dumps({key: label, "event_annotation": spans}))


def write_sprsound(root: Path) -> Path:
    """:data:`SPRSOUND_TINY` in SPRSound's official layout under ``root``."""
    for part, stem, label, events, flavour in SPRSOUND_TINY:
        audio_dir, notes_dir = SPRSOUND_PARTS[part]
        write_sprsound_wav(root / audio_dir / f"{stem}.wav")
        write_sprsound_json(root / notes_dir / f"{stem}.json", label, events, flavour)
    return root


AUDIT_CLIPPED_SHARE = 0.415
"""The share of samples at full scale of the audit's clipped recording (issue 49)."""


@pytest.fixture(scope="session")
def audit_recordings(shared_kauh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The audit's three recordings a detector scores but cannot judge (issue 49), as 16-bit WAV files:
    ``silent`` (10 s of digital silence), ``clipped`` (a real normal KAUH recording amplified until
    41.5 % of its samples sit at full scale) and ``short`` (its first 0.2 s)."""
    folder = tmp_path_factory.mktemp("audit")
    real, rate = sf.read(shared_kauh / "BP30_N,N,P R M,18,F.wav", dtype="float64")
    gain = 1 / np.quantile(np.abs(real), 1 - AUDIT_CLIPPED_SHARE)
    files = {
        "silent": (np.zeros(10 * rate), folder / "silence.wav"),
        "clipped": (np.clip(gain * real, -1.0, 1.0), folder / "clipped.wav"),
        "short": (real[: rate // 5], folder / "short.wav"),
    }
    for samples, path in files.values():
        sf.write(path, samples, rate, subtype="PCM_16")
    return {name: path for name, (_, path) in files.items()}


CODE_BLOCKS = tuple(f"tests/docs/test_{name}_blocks.py::" for name in ("code", "howto", "tutorial"))
"""The docs' code blocks; a run that ran one ends with the count of blocks per page (here, not in
tests/docs/conftest.py: under pytest-xdist the controlling process reads only this conftest)."""


# Tiny models (untrained, seeded) for the evaluation and report tests
RATE = 16000
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}
THRESHOLDS = [0.3, 0.7]


def save_tiny_model(folder: Path, **config_kwargs) -> Path:
    """An untrained tiny CNN (seed 0) of 1 s and its feature extractor, saved in ``folder``."""
    import torch

    from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification

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
    from respira.models.respira.labels import MULTI_LABEL

    folder = tmp_path_factory.mktemp("tiny_multi")
    return save_tiny_model(folder, problem_type=MULTI_LABEL, decision_thresholds=THRESHOLDS)


def built_once_per_run(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder ``name`` of this run, shared by its pytest-xdist workers: the first to ask builds it
    (``build(folder)``, into a staging folder moved into place), the others wait for it and read it. For what
    every worker would build the same (seeded): an ONNX conversion costs seconds of CPU."""
    shared = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's, every worker's
    folder = shared / "built_once" / name
    folder.parent.mkdir(exist_ok=True)
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # closing the file unlocks it
        if not folder.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
            build(staging)
            staging.rename(folder)
    return folder


@pytest.fixture(scope="session")
def multi_label_onnx_dir(multi_label_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``multi_label_dir``'s model as a folder of ``model.onnx`` and ``config.json`` alone (the detector
    then runs onnxruntime), converted once per run. Read it; copy it to change it."""

    def convert(folder: Path) -> None:
        from respira.hub.loading import load_model
        from respira.hub.onnx import ONNX_FILE, export_onnx

        model, config = load_model(multi_label_dir, device="cpu")
        export_onnx(model, folder / ONNX_FILE)
        config.save_pretrained(folder)

    return built_once_per_run(tmp_path_factory, "multi_label_onnx", convert)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = any(
        getattr(report, "nodeid", "").startswith(CODE_BLOCKS)
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if not ran:
        return
    # the pages as the tests read them; under pytest-xdist the controlling process imported no test module
    from .docs.doc_blocks import documentation_pages, read_page

    terminalreporter.section("documentation code blocks (collected / run / parsed only / data)")
    total = [0, 0, 0, 0]
    for page in (read_page(path) for path in documentation_pages()):
        blocks = page.blocks
        counts = [
            len(blocks),
            sum(block.runs for block in blocks),
            sum(block.kind in {"shell", "python", "recipe"} and not block.runs for block in blocks),
            sum(block.kind == "data" for block in blocks),
        ]
        total = [a + b for a, b in zip(total, counts, strict=True)]
        shared = " (data=shared)" if page.shared_data else ""
        terminalreporter.write_line(f"{page.name}{shared}: {' / '.join(map(str, counts))}")
    terminalreporter.write_line(f"all pages: {' / '.join(map(str, total))}")
