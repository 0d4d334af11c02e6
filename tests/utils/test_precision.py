"""full_float32: TF32 off inside every forward respira runs for predictions, torch's settings back after
(checked on the CPU through the switches each layer sees; the CUDA numbers: benchmarks/gpu_agreement.py)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from respira import RespiraConfig, RespiraForAudioClassification
from respira.evaluation.cycles import evaluate_model
from respira.inference.detector import Detector
from respira.inference.embeddings import embed_waveforms
from respira.models.respira.labels import MULTI_LABEL
from respira.sites.site_sample import LabelledRecording, embed_recordings
from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.utils.precision import full_float32

from ..conftest import RATE, TINY_ENCODER

pytestmark = pytest.mark.skipif(
    not hasattr(torch.backends.cudnn, "conv"), reason="reads torch >= 2.9's fp32_precision switches"
)
FULL = ("ieee", "ieee")
USERS = ("tf32", "tf32")  # TF32 on for both, as TrainingArguments(tf32=True) leaves them


def switches() -> tuple[str, str]:
    return torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision


def set_switches(values: tuple[str, str]) -> None:
    torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = values


@pytest.fixture(autouse=True)
def tf32_on() -> Iterator[None]:
    before = switches()
    set_switches(USERS)
    yield
    set_switches(before)


def test_the_switches_are_off_inside_and_back_after_nested_raised_and_threaded_blocks() -> None:
    with full_float32():
        assert switches() == FULL
        with full_float32():
            assert switches() == FULL
        assert switches() == FULL  # the inner block does not restore under the outer one
    assert switches() == USERS
    with pytest.raises(RuntimeError), full_float32():
        raise RuntimeError
    assert switches() == USERS
    # two threads overlapping: the first out must not turn TF32 back on under the second
    entered, first_out, seen = threading.Event(), threading.Event(), []

    def second() -> None:
        with full_float32():
            entered.set()
            first_out.wait(5)
            seen.append(switches())

    with full_float32():
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(5)
    first_out.set()
    thread.join(5)
    assert seen == [FULL] and switches() == USERS


@pytest.fixture(scope="module")
def detector() -> Detector:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config=dict(TINY_ENCODER),
        target_seconds=1.0,
        problem_type=MULTI_LABEL,
        decision_thresholds=[0.5, 0.5],
    )
    return Detector(RespiraForAudioClassification(config).eval(), window=1.0, hop=1.0)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("precision") / "noise.wav"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(3 * RATE)).astype(np.float32), RATE)
    return path


def _cycles() -> datasets.Dataset:
    rng = np.random.default_rng(1)
    rows = {"audio": [{"array": 0.1 * rng.standard_normal(RATE), "sampling_rate": RATE} for _ in range(4)]}
    rows |= {"label": [0, 1, 2, 3], "patient_id": [1, 1, 2, 2]}
    return datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=RATE))


def _trainer(detector: Detector, folder: Path) -> RespiraTrainer:
    args = RespiraTrainingArguments(output_dir=str(folder), report_to=[], use_cpu=True, save_strategy="no")
    model = copy.deepcopy(detector.model)  # evaluate tunes its thresholds; the hooks come along
    return RespiraTrainer(model, args, eval_dataset=_cycles())


ENTRY_POINTS: dict[str, Callable[[Detector, Path, Path], Any]] = {
    "Detector.predict_file": lambda detector, wav, _: detector.predict_file(wav),
    "Detector.detect_events": lambda detector, wav, _: detector.detect_events(wav),
    "embed_recordings": lambda detector, wav, _: embed_recordings(
        detector, [LabelledRecording(wav, True, False, "p1", "r1")], progress=False
    ),
    "evaluate_model": lambda detector, _, folder: evaluate_model(
        detector.model, _cycles(), output_dir=folder
    ),
    "embed_waveforms": lambda detector, wav, _: embed_waveforms(detector.model, [sf.read(wav)[0]]),
    # validation tunes the thresholds inference decides at; the test split is scored as inference would
    "RespiraTrainer.evaluate": lambda detector, _, folder: _trainer(detector, folder).evaluate(),
    "RespiraTrainer.predict": lambda detector, _, folder: _trainer(detector, folder).predict(_cycles()),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.filterwarnings("ignore:metric\\(s\\) with an empty denominator")
def test_every_forward_of_a_prediction_runs_in_full_float32(
    entry: str, detector: Detector, recording: Path, tmp_path: Path
) -> None:
    seen: list[tuple[str, str]] = []
    layers = {
        id(module): module
        for model in (detector.model, detector.inference_model)  # the CPU form is a folded copy
        for module in model.modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }
    handles = [layer.register_forward_hook(lambda *_: seen.append(switches())) for layer in layers.values()]
    try:
        ENTRY_POINTS[entry](detector, recording, tmp_path)
    finally:
        for handle in handles:
            handle.remove()
    assert seen and set(seen) == {FULL}
    assert switches() == USERS
