"""embed_recordings on real KAUH recordings through the shipped detector: the windows predict cuts, the
model's own logits, and embeddings its head reads."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import respira
from respira.metrics.thresholds import sigmoid
from respira.sites import LabelledRecording, embed_recordings, linear_head, site_head_refusal


@pytest.fixture(scope="module")
def detector():
    return respira.Detector.from_pretrained()


@pytest.fixture(scope="module")
def kauh_subset(shared_kauh: Path) -> list[LabelledRecording]:
    from respira.data.kauh import read_kauh_index

    index = read_kauh_index(shared_kauh)
    rows = index[index["patient_id"].isin(sorted(index["patient_id"].unique())[:2])]
    return [
        LabelledRecording(Path(r.path), bool(r.crackle), bool(r.wheeze), str(r.patient_id), r.recording)
        for r in rows.itertuples()
    ]


@pytest.mark.real_data
def test_window_logits_are_the_detectors_window_probabilities(detector, kauh_subset):
    sample = embed_recordings(detector, kauh_subset, batch_size=5, progress=False)
    assert len(sample.recordings) == len(kauh_subset) == 6  # two patients, three filter modes each
    for position, recording in enumerate(kauh_subset):
        rows = detector.predict_file(recording.path).rows
        expected = np.array([[row["crackle"], row["wheeze"]] for row in rows])
        own = sample.recording == position
        np.testing.assert_allclose(sigmoid(sample.base_logits[own]), expected, atol=1e-5)
        assert sample.recordings[position].duration == pytest.approx(rows[-1]["end"], abs=1e-3)
    weight, bias = sample.base_head
    np.testing.assert_allclose(sample.embeddings @ weight.T + bias, sample.base_logits, atol=1e-4)
    assert sample.base_thresholds == tuple(detector.config.decision_thresholds)
    assert sample.units_are_patients and set(sample.units) == {r.unit for r in kauh_subset}


@pytest.mark.real_data
def test_an_unreadable_recording_is_one_line_naming_it(detector, kauh_subset, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    recordings = [kauh_subset[0], LabelledRecording(broken, False, False, "x", "broken")]
    with pytest.raises(ValueError, match=r"broken\.wav") as raised:
        embed_recordings(detector, recordings, progress=False)
    assert "\n" not in str(raised.value)


def test_a_model_without_torch_weights_cannot_take_a_site_head():
    export = SimpleNamespace(config=SimpleNamespace(problem_type="multi_label_classification"))
    assert "ONNX" in site_head_refusal(export)
    assert linear_head(export) is None


def test_recordings_are_read_side_by_side_taking_turns_with_the_model(detector, tmp_path, monkeypatch):
    """With two threads two recordings are read at once (a barrier both must reach), never while the model
    runs; the sample keeps the recordings' order."""
    import threading

    import soundfile as sf
    import torch

    import respira.models.respira.audio_dsp
    import respira.screening.batches

    recordings = []
    for number, seconds in enumerate((5, 9, 3, 7, 6)):
        path = tmp_path / f"r{number}.wav"
        sf.write(path, 0.1 * np.sin(np.arange(8000 * seconds) * 0.05 * (number + 1)), 8000)
        recordings.append(LabelledRecording(path, False, False, f"p{number}", path.name))
    barrier, model_runs, reading, calls = threading.Barrier(2, timeout=10), [], [], []
    prepare, pad_batch = respira.screening.batches.prepare, respira.models.respira.audio_dsp.pad_batch

    def read(*args, **kwargs):
        reading.append(1)
        calls.append(1)
        if len(calls) <= 2:
            barrier.wait()  # BrokenBarrierError: read one after the other
        try:
            return prepare(*args, **kwargs)
        finally:
            reading.pop()

    def padded(windows):
        model_runs.append(len(reading))
        return pad_batch(windows)

    monkeypatch.setattr(respira.screening.batches, "prepare", read)
    monkeypatch.setattr(respira.models.respira.audio_dsp, "pad_batch", padded)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sample = embed_recordings(detector, recordings, batch_size=2, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert model_runs and set(model_runs) == {0}  # no recording read while the model ran
    assert [r.path for r in sample.recordings] == [r.path for r in recordings]
    assert [r.duration for r in sample.recordings] == pytest.approx([5, 9, 3, 7, 6])
    assert np.bincount(sample.recording).tolist() == [2, 4, 1, 3, 2]  # 4-s windows every 2 s
