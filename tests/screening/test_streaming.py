"""respira.inference.streaming (Detector.stream, behind screen_rows): windows of several recordings in one
forward pass give predict's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.inference import forward, streaming
from respira.inference.detector import Detector
from respira.inference.forward import batched
from respira.inference.streaming import read_ahead
from respira.models.respira.audio_decoding import read_audio
from respira.screening import open_source
from respira.screening.runner import screen_rows

from .conftest import BAD, write_archive

TOLERANCE = 1e-6
"""Windows batched with other recordings' differ from predict's in the last float bits only."""


def _per_recording(detector: Detector, path: str, frame_hop: float) -> tuple[dict, list[dict]]:
    """What ``respira predict`` / the per-recording path gives one file: verdict and event rows."""
    rate = detector.sampling_rate
    waveform = read_audio(path, rate, name=path)
    prediction = detector.predict(waveform, rate, name=path)
    detection = detector.detect_events(
        waveform, rate, name=path, prediction=prediction, frame_hop_seconds=frame_hop
    )
    events = [{k: v for k, v in event.items() if k != "file"} for event in detection.to_rows()]
    return {"verdict": prediction.label, "crackle": prediction.crackle, "wheeze": prediction.wheeze}, events


def _assert_same(
    detector: Detector, files: list[str], folder: Path, *, batch_size: int, prefetch: int = 2
) -> None:
    detector.options["batch_size"] = batch_size
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "listing.txt"
    listing.write_text("\n".join(files))
    recordings = list(open_source(str(listing)).share())
    screened = list(screen_rows(detector, recordings, events=True, frame_hop_seconds=0.02, prefetch=prefetch))
    assert [row["path"] for row, _ in screened] == files  # the listing's order
    for (row, events), path in zip(screened, files, strict=True):
        expected, expected_events = _per_recording(detector, path, 0.02)
        assert row.get("error") is None, row
        assert row["verdict"] == expected["verdict"]
        assert (row["crackle"], row["wheeze"]) == pytest.approx(
            (expected["crackle"], expected["wheeze"]), abs=TOLERANCE
        )
        assert [{**e, "path": None, "confidence": None} for e in events] == [
            {**e, "path": None, "confidence": None} for e in expected_events
        ]
        assert [e["confidence"] for e in events] == pytest.approx(
            [e["confidence"] for e in expected_events], abs=TOLERANCE
        )


def test_real_recordings_of_several_rates_and_lengths_batched_together_give_predicts_rows(
    shared_icbhi: Path, tmp_path: Path
) -> None:
    folder = shared_icbhi / "ICBHI_final_database"
    names = ["104_1b1_Al_sc_Litt3200.wav", "101_1b1_Al_sc_Meditron.wav", "223_1b1_Al_sc_Meditron.wav"]
    files = [str(folder / name) for name in names]
    samples, rate = sf.read(files[1], frames=int(2.5 * 44100), dtype="float32")
    sf.write(tmp_path / "shorter_than_a_window.wav", samples, rate)  # one window, shorter than 4 s
    files.insert(1, str(tmp_path / "shorter_than_a_window.wav"))
    detector = Detector.from_pretrained(device="cpu")  # the shipped detector: mn04, 32 kHz, 4 kHz low-pass
    # 5 windows a batch: batches span recordings, and recordings span batches
    _assert_same(detector, files, tmp_path, batch_size=5)


def test_the_synthetic_corpus_batched_together_gives_predicts_rows(
    synthetic_corpus: Path, detector_dir: Path, tmp_path: Path
) -> None:
    files = sorted(str(path) for path in synthetic_corpus.rglob("*.wav"))[:5]
    detector = Detector.from_pretrained(detector_dir, device="cpu")
    _assert_same(detector, files, tmp_path, batch_size=3, prefetch=0)


def test_recordings_are_read_in_line_for_a_cpu_model_and_ahead_for_a_gpu_one(
    synthetic_corpus: Path, detector_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU no reader thread competes with the forward pass; off it (here: the model said to be on
    a GPU) the background thread reads ahead, and the rows are the same either way."""
    files = sorted(str(path) for path in synthetic_corpus.rglob("*.wav"))[:4]
    detector = Detector.from_pretrained(detector_dir, device="cpu")
    assert streaming.runs_on_cpu(detector.model)
    started: list[int] = []
    real = streaming.read_ahead

    def counted(*args, **kwargs):
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(streaming, "read_ahead", counted)
    _assert_same(detector, files, tmp_path / "cpu", batch_size=3, prefetch=2)
    assert started == []
    monkeypatch.setattr(streaming, "runs_on_cpu", lambda model: False)
    _assert_same(detector, files, tmp_path / "gpu", batch_size=3, prefetch=2)
    assert started == [1]


def test_a_bad_recording_inside_a_batch_does_not_poison_its_neighbours(
    detector_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_archive(tmp_path / "archive", good=6)
    sf.write(archive / "long.wav", np.zeros(8000 * 30, np.float32), 8000)  # 14 windows > max_windows 10
    detector = Detector.from_pretrained(detector_dir, device="cpu", batch_size=64, max_windows=10)
    sf.write(archive / "odd.wav", np.full(int(8000 * 2.5), 0.1, np.float32), 8000)  # one 2.5-s window
    real = forward.forward

    def refusing(model, windows, output):  # the model refuses one recording's window
        if any(window.shape[0] == round(2.5 * detector.sampling_rate) for window in windows):
            raise ValueError("input_values holds NaN or infinite samples")
        return real(model, windows, output)

    monkeypatch.setattr(forward, "forward", refusing)
    rows = {
        Path(row["path"]).name: row for row, _ in screen_rows(detector, open_source(str(archive)).share())
    }
    assert rows["odd.wav"]["error"] == "input_values holds NaN or infinite samples"
    assert (
        rows["long.wav"]["error"]
        == "4 s windows every 2 s over 30.0 s of audio make 14 windows, more than the limit of 10 per "
        "recording; use a longer hop (or raise max_windows)"
    )
    assert rows["broken.wav"]["error"].startswith("cannot be decoded as audio")
    assert rows["empty.wav"]["error"] == "holds no audio samples (empty recording)"
    assert "10 samples" in rows["short.wav"]["error"]
    assert {name for name, row in rows.items() if row.get("error")} == BAD | {"odd.wav", "long.wav"}
    for name, row in rows.items():
        if row.get("error") is None:  # its windows shared a batch with the refused ones
            expected = detector.predict_file(row["path"])
            assert row["crackle"] == pytest.approx(expected.crackle, abs=TOLERANCE), name
            assert row["verdict"] == expected.label


def test_batched_runs_parts_of_several_items_together_and_yields_them_in_order() -> None:
    items = {"a": 3, "b": 0, "c": 5, "d": 1}
    calls: list[list[float]] = []

    def run(parts: list[np.ndarray]) -> list[float]:
        calls.append([float(part[0]) for part in parts])
        return [float(part[0]) * 10 for part in parts]

    def parts(name: str) -> list[np.ndarray]:
        return [np.array([ord(name) + i], dtype=np.float32) for i in range(items[name])]

    out = list(batched(items, parts, run, batch_size=4))
    assert [len(call) for call in calls] == [4, 4, 1]  # 9 parts, 4 a batch, across items
    assert [name for name, _, _ in out] == ["a", "b", "c", "d"]
    assert out[2][1] == [(ord("c") + i) * 10 for i in range(5)] and out[1][1] == []


def test_the_readers_stay_a_bounded_queue_ahead_and_hand_their_errors_over() -> None:
    pulled: list[int] = []

    def items():
        for index in range(100):
            pulled.append(index)
            yield index

    ahead = read_ahead(items(), lambda x: x, 3)
    assert pulled == []  # nothing read before the consumer asks
    assert next(ahead) == 0 and len(pulled) <= 3 + 1
    assert list(ahead) == list(range(1, 100))
    assert list(read_ahead(range(7), lambda x: x * 2, 3, threads=2, turns=True)) == [x * 2 for x in range(7)]

    def failing(value: int) -> int:
        if value == 2:
            raise RuntimeError("disk gone")
        return value

    with pytest.raises(RuntimeError, match="disk gone"):
        list(read_ahead(range(5), failing, 2))


def test_one_forward_pass_holds_the_windows_of_several_recordings(
    detector_dir: Path, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = Detector.from_pretrained(detector_dir, device="cpu", batch_size=8)
    real, sizes = forward.forward, []

    def counting(model, windows, output):
        sizes.append(len(windows))
        return real(model, windows, output)

    monkeypatch.setattr(forward, "forward", counting)
    rows = list(screen_rows(detector, open_source(str(archive)).share()))
    windows = sum(
        len(detector.plan_windows(*_read(detector, row["path"])).windows)
        for row, _ in rows
        if row.get("error") is None
    )
    assert sum(sizes) == windows and sizes[:-1] == [8] * (len(sizes) - 1)  # full batches but the last
    assert len(sizes) < len(rows) - len(BAD)  # fewer forward passes than recordings


def _read(detector: Detector, path: str) -> tuple:
    return read_audio(path, detector.sampling_rate), detector.sampling_rate
