"""respira.inference.windowing, ``respira predict`` / ``respira evaluate`` and the report plots, with a tiny
model."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import warnings
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from respira import RespiraForAudioClassification
from respira.cli import main
from respira.data.text_files import read_annotations
from respira.hub.loading import ModelLoadError, load_model, resolve_device
from respira.inference.detector import Detector, PredictionError
from respira.inference.windowing import analysis_frame_samples, predict_windows
from respira.models.respira.audio_decoding import AudioReadError, read_audio
from respira.models.respira.labels import CLASS_NAMES, MULTI_LABEL
from respira.models.respira.windows import span_samples, window_starts
from respira.reports.curves import plot_confusion_matrix
from respira.reports.training_curves import plot_training_curves

from ..conftest import RATE, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="module")
def model(model_dir: Path) -> RespiraForAudioClassification:
    loaded, config = load_model(model_dir, device="cpu")
    assert config is loaded.config and not loaded.training
    return loaded


@pytest.fixture(scope="module")
def stereo_recording(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic recording rewritten as 44.1 kHz stereo, and a copy of its annotation file."""
    source = sorted((synthetic_corpus / "ICBHI_final_database").glob("*.wav"))[0]
    samples, rate = sf.read(source, dtype="float32")
    mono = 0.5 * soxr.resample(samples, rate, 44100)
    folder = tmp_path_factory.mktemp("stereo")
    wav = folder / "recording_44k_stereo.wav"
    sf.write(wav, np.stack([mono, 0.5 * mono], axis=1), 44100, subtype="PCM_16")
    annotation = folder / "recording_44k_stereo.txt"
    shutil.copy(source.with_suffix(".txt"), annotation)
    return wav, annotation


def _expected_windows(num_samples: int, window: float = 4.0, hop: float = 2.0) -> int:
    w, h = round(window * RATE), round(hop * RATE)
    return 1 if num_samples <= w else 1 + math.ceil((num_samples - w) / h)


def _check_probabilities(row: dict) -> None:
    for key in ("crackle", "wheeze", "p_normal", "p_crackle", "p_wheeze", "p_both"):
        assert 0.0 <= row[key] <= 1.0
    assert row["crackle"] == pytest.approx(row["p_crackle"] + row["p_both"], abs=1e-9)
    assert row["wheeze"] == pytest.approx(row["p_wheeze"] + row["p_both"], abs=1e-9)
    classes = [row[f"p_{name}"] for name in CLASS_NAMES]
    assert sum(classes) == pytest.approx(1.0, abs=1e-5)
    assert row["label"] == CLASS_NAMES[int(np.argmax(classes))]


def _not_blank(path: Path) -> np.ndarray:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert float(image[..., :3].std()) > 0.05  # not a uniform (blank) picture
    return image


# ------------------------------------------------------------------------------------------- audio
def test_read_audio_downmixes_and_resamples_to_16k(stereo_recording: tuple[Path, Path]) -> None:
    wav, _ = stereo_recording
    info = sf.info(wav)
    waveform = read_audio(wav)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(waveform.shape[0] - info.frames * RATE / 44100) <= 1
    stereo, _ = sf.read(wav, dtype="float32")
    reference = soxr.resample(stereo.mean(axis=1), 44100, RATE, quality="HQ")
    np.testing.assert_allclose(waveform, reference, atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"RIFF, but not really a WAV file at all"])
def test_read_audio_names_unreadable_files(tmp_path: Path, content: bytes) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(content)
    with pytest.raises(AudioReadError, match=r"broken\.wav"):
        read_audio(broken)
    with pytest.raises(AudioReadError, match="no such file"):
        read_audio(tmp_path / "missing.flac")


def test_window_starts_cover_the_signal() -> None:
    assert window_starts(10, 64, 32).tolist() == [0]
    assert window_starts(64, 64, 32).tolist() == [0]
    assert window_starts(65, 64, 32).tolist() == [0, 32]
    assert window_starts(200, 64, 32).tolist() == [0, 32, 64, 96, 128, 160]  # 160 + 64 >= 200


def test_span_samples_rounds_each_time_and_clips_the_end_however_far() -> None:
    assert span_samples(0.5, 1.25, 100, 1000) == (50, 125)
    assert span_samples(0.004, 0.016, 100, 1000) == (0, 2)  # round(0.4), round(1.6)
    assert span_samples(1.001, 1.003, 16000, 40000) == (16016, 16048)  # 1.001 * 16000 = 16015.999...
    assert span_samples(9.0, 10.5, 100, 1000) == (900, 1000)
    assert span_samples(9.0, 1e308, 100, 1000) == (900, 1000)  # 1e308 * 100 is inf as a float
    assert span_samples(12.0, 13.0, 100, 1000) == (1200, 1000)  # starts past the end: callers refuse it


# ------------------------------------------------------------------------------------------ predict
def test_predict_windows_on_a_44k_stereo_file(
    model: RespiraForAudioClassification, stereo_recording: tuple[Path, Path]
) -> None:
    wav, _ = stereo_recording
    rows = Detector(model, window=4.0, hop=2.0).predict_file(wav).rows
    num_samples = read_audio(wav).shape[0]
    assert len(rows) == _expected_windows(num_samples)
    assert rows[0]["start"] == 0.0
    assert rows[-1]["end"] == pytest.approx(num_samples / RATE)
    assert [row["start"] for row in rows] == pytest.approx([2.0 * i for i in range(len(rows))])
    for row in rows:
        assert row["file"] == str(wav)
        assert row["end"] - row["start"] <= 4.0 + 1e-9
        _check_probabilities(row)


def test_smoothing_is_a_centred_moving_average(model: RespiraForAudioClassification) -> None:
    waveform = np.random.default_rng(0).normal(scale=0.1, size=RATE * 12).astype(np.float32)
    raw = predict_windows(model, waveform, window=2.0, hop=1.0)
    smoothed = predict_windows(model, waveform, window=2.0, hop=1.0, smoothing=3)
    assert len(raw) == len(smoothed) == 11
    for i in range(1, len(raw) - 1):
        expected = np.mean([raw[j]["p_normal"] for j in (i - 1, i, i + 1)])
        assert smoothed[i]["p_normal"] == pytest.approx(expected, abs=1e-9)
    assert smoothed[0]["p_normal"] == pytest.approx(np.mean([raw[0]["p_normal"], raw[1]["p_normal"]]))
    for row in smoothed:
        _check_probabilities(row)


def test_predict_annotated_cycles(
    model: RespiraForAudioClassification, stereo_recording: tuple[Path, Path]
) -> None:
    wav, annotation = stereo_recording
    cycles = read_annotations(annotation)
    rows = Detector(model).predict_file(wav, annotations=annotation).rows
    assert len(rows) == len(cycles)
    for row, cycle in zip(rows, cycles, strict=True):
        assert (row["start"], row["end"]) == (cycle.start, cycle.end)
        assert row["annotated_label"] in CLASS_NAMES
        _check_probabilities(row)
    with pytest.raises(ValueError, match="starts after the end"):
        predict_windows(model, read_audio(wav), cycles=[(1e4, 1e4 + 1)])


def test_recordings_shorter_than_one_frame_are_errors_and_the_others_still_predicted(
    model: RespiraForAudioClassification, tmp_path: Path
) -> None:
    frame = analysis_frame_samples(model)
    paths = [tmp_path / "one_16k.wav", tmp_path / "one_44k_stereo.wav", tmp_path / "one_frame.wav"]
    sf.write(paths[0], np.array([0.1], dtype=np.float32), RATE)
    sf.write(paths[1], np.array([[0.1, -0.1]], dtype=np.float32), 44100)
    sf.write(paths[2], np.full(frame, 0.1, dtype=np.float32), RATE)
    detector = Detector(model)
    for path in paths[:2]:
        with pytest.raises(PredictionError, match=f"{path}.*shorter than one analysis frame"):
            detector.predict_file(path)
    rows = detector.predict_file(paths[2]).rows
    assert [row["file"] for row in rows] == [str(paths[2])]
    assert rows[0]["start"] == 0.0 and rows[0]["end"] == pytest.approx(frame / RATE)
    _check_probabilities(rows[0])


def test_multi_label_rows_use_the_config_thresholds(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "multi", problem_type=MULTI_LABEL, decision_thresholds=[0.3, 0.7])
    multi, config = load_model(folder, device="cpu")
    assert config.problem_type == MULTI_LABEL
    waveform = np.random.default_rng(1).normal(scale=0.1, size=RATE * 7).astype(np.float32)
    rows = predict_windows(multi, waveform)
    assert len(rows) == 3
    for row in rows:
        assert not any(key.startswith("p_") for key in row)
        assert 0 <= row["crackle"] <= 1 and 0 <= row["wheeze"] <= 1
        expected = int(row["crackle"] >= 0.3) + 2 * int(row["wheeze"] >= 0.7)
        assert row["label"] == CLASS_NAMES[expected]


@pytest.mark.slow
def test_one_hour_recording(model: RespiraForAudioClassification, tmp_path: Path) -> None:
    """An hour at 4 kHz PCM_16 (~29 MB), written minute by minute: read, resampled, predicted in batches."""
    path = tmp_path / "one_hour.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=4000, channels=1, subtype="PCM_16") as handle:
        for minute in range(60):
            block = np.zeros(4000 * 60, dtype=np.float32) if minute % 2 else rng.normal(0, 0.05, 4000 * 60)
            handle.write(block)
    rows = Detector(model, batch_size=64).predict_file(path).rows
    assert len(rows) == _expected_windows(3600 * RATE) == 1799
    assert rows[-1]["end"] == pytest.approx(3600.0)
    assert all(0.0 <= row["crackle"] <= 1.0 for row in rows)


# -------------------------------------------------------------------------------------------- CLI
def test_cli_predict_csv_and_json(
    model_dir: Path,
    stereo_recording: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav, annotation = stereo_recording
    num_windows = _expected_windows(read_audio(wav).shape[0])

    assert main(["predict", str(model_dir), str(wav), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == num_windows
    assert list(table[0])[:6] == ["file", "start", "end", "crackle", "wheeze", "label"]
    assert {"p_normal", "p_crackle", "p_wheeze", "p_both"} <= set(table[0])
    assert table[0]["file"] == str(wav) and table[0]["label"] in CLASS_NAMES

    assert main(["predict", str(model_dir), str(wav), "--window", "3", "--hop", "1.5"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == _expected_windows(read_audio(wav).shape[0], 3.0, 1.5)
    assert all(row["file"] == str(wav) for row in rows)

    output = tmp_path / "out" / "cycles.csv"
    code = main(
        ["predict", str(model_dir), str(wav), "--annotations", str(annotation), "--output", str(output)]
    )
    assert code == 0
    assert str(output) in capsys.readouterr().out
    table = list(csv.DictReader(output.open()))
    cycles = read_annotations(annotation)
    assert [(float(r["start"]), float(r["end"])) for r in table] == [(c.start, c.end) for c in cycles]

    assert main(["predict", str(model_dir), str(wav), str(wav), "--annotations", str(annotation)]) == 2
    assert "exactly one FILE" in capsys.readouterr().err

    json_output = tmp_path / "windows.json"  # a suffix that disagrees with --format: refused, nothing written
    assert main(["predict", str(model_dir), str(wav), "--output", str(json_output), "--format", "csv"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"respira predict: error: --output {json_output} names a .json file but --format is csv: give one of "
        "them (or make them agree)"
    )
    assert not json_output.exists()


def test_cli_predict_reports_unreadable_files_and_predicts_the_rest(
    model_dir: Path, stereo_recording: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, _ = stereo_recording
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"this is not audio")
    short = tmp_path / "short.flac"
    sf.write(short, np.random.default_rng(2).normal(0, 0.1, 5000).astype(np.float32), 8000)

    assert main(["predict", str(model_dir), str(wav), str(broken), str(short)]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("respira predict: error:")]
    assert len(errors) == 1 and str(broken) in errors[0]
    rows = json.loads(captured.out)
    assert {row["file"] for row in rows} == {str(wav), str(short)}

    assert main(["predict", str(model_dir), str(broken), str(tmp_path / "missing.wav")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert any(str(broken) in line for line in errors)
    assert any("missing.wav" in line for line in errors)
    assert "none of the 2 files" in errors[-1]


def test_model_loading_errors_are_one_line(
    model_dir: Path,
    stereo_recording: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wav, _ = stereo_recording
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(model_dir / "config.json", no_weights / "config.json")
    assert main(["predict", str(no_weights), str(wav)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"respira predict: error: model folder without weights: {no_weights}"

    assert main(["predict", str(model_dir), str(wav), "--onnx"]) == 2  # a model folder without model.onnx
    assert capsys.readouterr().err.strip() == (
        f"respira predict: error: model folder without weights: {model_dir} (it has model.safetensors but "
        "no model.onnx: leave out --onnx, or export it with --onnx)"
    )

    other = tmp_path / "not_respira"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (other / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="not a respira model"):
        load_model(other)

    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    hub_id = "respira-tests/no-such-model-xyz"
    assert main(["predict", hub_id, str(wav)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith(f"respira predict: error: {hub_id} is neither a local folder (")
    assert error.endswith(
        "and HF_HUB_OFFLINE is set: pass a model folder, or unset HF_HUB_OFFLINE to download it"
    )


def test_a_device_torch_does_not_know_or_this_machine_lacks_is_refused_before_loading(
    model_dir: Path, stereo_recording: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    wav, _ = stereo_recording
    assert main(["predict", str(model_dir), str(wav), "--device", "tpu"]) == 2
    assert capsys.readouterr().err.strip() == (
        "respira predict: error: device 'tpu' is not a torch device (cpu, cuda, cuda:1, mps...)"
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU, whatever this machine has
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0") and resolve_device(None).type == "cuda"
    with pytest.raises(ValueError, match=r"^device 'cuda:1' is not available here \(torch .* sees 1 CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match=r"^device 'cuda' is not available here .*; use cpu"):
        load_model(model_dir, device="cuda")
    assert resolve_device(None) == torch.device("cpu")


# ----------------------------------------------------------------------------------------- evaluate
@pytest.mark.figures
def test_cli_evaluate_writes_the_report(
    model_dir: Path,
    synthetic_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    progress_bars_on: None,
) -> None:
    model_copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    cache = tmp_path / "cache"
    code = main(
        [
            "evaluate",
            str(model_copy),
            "--data_dir",
            str(synthetic_corpus),
            "--cache_dir",
            str(cache),
            "--record",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "ICBHI score" in printed and "specificity" in printed
    report = model_copy / "evaluation_test"
    # single-label: ROC and PR curves of the label probabilities, no threshold plot (it decides by argmax)
    files = "metrics.json, cycle_predictions.csv, confusion_matrix.png, roc_curves.png, "
    files += "precision_recall_curves.png"
    assert f"wrote {files} to {report}" in printed
    assert not (report / "threshold_curves.png").exists()
    for name in ("roc_curves.png", "precision_recall_curves.png"):
        _not_blank(report / name)
    cycles = json.loads((report / "metrics.json").read_text())["num_examples"]
    assert f"scoring cycles ({cycles} cycles)" in captured.err.splitlines()  # not a terminal: one line

    text = (report / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    for key in ("icbhi_score", "specificity", "sensitivity"):
        assert metrics[key] is None or 0.0 <= metrics[key] <= 1.0
    assert metrics["class_names"] == list(CLASS_NAMES)
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["num_examples"] > 0

    _not_blank(report / "confusion_matrix.png")

    code = main(
        [
            "evaluate",
            str(model_copy),
            "--data_dir",
            str(synthetic_corpus),
            "--cache_dir",
            str(cache),
            "--split",
            "dev",
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "'dev'" in error and "train, validation, test" in error


def test_cli_evaluate_interrupted_while_drawing_keeps_the_earlier_report(
    model_dir: Path, synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    arguments = ["evaluate", str(model_copy), "--data_dir", str(synthetic_corpus)]
    arguments += ["--cache_dir", str(tmp_path / "cache"), "--record"]
    assert main(arguments) == 0
    report = model_copy / "evaluation_test"
    before = {path.name: path.read_bytes() for path in report.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("respira.evaluation.protocol.save_figures", interrupted)
    assert main([*arguments, "--batch_size", "4"]) == 130
    assert {path.name: path.read_bytes() for path in report.iterdir()} == before
    assert sorted(path.name for path in model_copy.iterdir() if path.name.startswith(".")) == []
    (report / "notes.txt").write_text("mine")  # a folder that is no longer only a report: refused up front
    assert main(arguments) == 2
    assert (report / "notes.txt").read_text() == "mine" and (report / "metrics.json").read_bytes() == before[
        "metrics.json"
    ]


@pytest.mark.figures
def test_cli_evaluate_multi_label_prints_auc_and_devices_and_draws_the_threshold_plot(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], progress_bars_on: None
) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score
    from transformers.utils import logging as transformers_logging

    model_dir = save_tiny_model(tmp_path / "model", problem_type=MULTI_LABEL, decision_thresholds=[0.3, 0.7])
    report = tmp_path / "report"
    transformers_logging.disable_progress_bar()  # the user turned the bars off: no stage line
    try:
        arguments = ["evaluate", str(model_dir), "--data_dir", str(synthetic_corpus), "--split", "all"]
        code = main([*arguments, "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(report)])
    finally:
        transformers_logging.enable_progress_bar()
    assert code == 0
    captured = capsys.readouterr()
    assert "scoring cycles" not in captured.err
    metrics = json.loads((report / "metrics.json").read_text())
    with (report / "cycle_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    lines = captured.out.splitlines()
    for name, classes in (("crackle", ("crackle", "both")), ("wheeze", ("wheeze", "both"))):
        truth = [int(row["label"] in classes) for row in rows]
        scores = [float(row[name]) for row in rows]
        assert metrics[f"auc_{name}"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-6)
        assert metrics[f"average_precision_{name}"] == pytest.approx(
            average_precision_score(truth, scores), abs=1e-6
        )
        (line,) = [line for line in lines if line.startswith(f"  {name} ")]
        assert line.split() == [
            name,
            str(sum(truth)),
            "of",
            str(len(rows)),
            f"{100 * metrics[f'auc_{name}']:.1f}",  # in %, as every score a person reads
            f"{100 * metrics[f'average_precision_{name}']:.1f}",
        ]
    assert "per label (threshold-free):" in lines and "per stethoscope:" in lines
    devices = lines[lines.index("per stethoscope:") + 3 :][: len(metrics["by_device"])]
    for line, (device, scores) in zip(devices, metrics["by_device"].items(), strict=True):
        assert line.split()[:2] == [device, str(scores["num_examples"])]
    assert sum(scores["num_examples"] for scores in metrics["by_device"].values()) == len(rows)
    for name in ("roc_curves.png", "precision_recall_curves.png", "threshold_curves.png"):
        _not_blank(report / name)
        assert name in lines[-1]


# ------------------------------------------------------------------------------------------- plots
@pytest.mark.figures
def test_plots_from_hand_made_inputs(tmp_path: Path) -> None:
    cm = np.array([[50, 5, 3, 2], [6, 30, 1, 3], [2, 1, 20, 2], [0, 0, 0, 0]])
    path = plot_confusion_matrix(cm, CLASS_NAMES, tmp_path / "plots" / "cm.png")
    assert path == tmp_path / "plots" / "cm.png"
    _not_blank(path)

    history = []
    for step in range(10, 110, 10):
        history.append({"loss": 1.0 / step, "task_loss": 0.8 / step, "aux_loss": 0.2 / step, "step": step})
        if step % 50 == 0:
            history.append(
                {"eval_loss": 1.2 / step, "eval_icbhi_score": step / 200, "step": step, "epoch": 1.0}
            )
    _not_blank(plot_training_curves(history, tmp_path / "curves.png"))
    _not_blank(
        plot_training_curves([{"loss": 1.0, "epoch": 0.5}, {"loss": 0.5, "epoch": 1.0}], tmp_path / "few.png")
    )
    assert plot_training_curves([], tmp_path / "empty.png").is_file()

    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(ValueError, match="4 class names for a confusion matrix of shape"):
        plot_confusion_matrix(cm[:3], CLASS_NAMES, tmp_path / "bad.png")


# ------------------------------------------------- bad input: one line naming the user's file (issue 10)
def test_a_window_shorter_than_one_analysis_frame_is_refused_before_any_work(
    model_dir: Path, model: RespiraForAudioClassification, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.inference.windowing import analysis_frame_samples

    wav = tmp_path / "two_seconds.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 2 * RATE).astype(np.float32), RATE)
    frame = analysis_frame_samples(model)
    assert frame == 1024  # the CNN's log-mel analyses 1024-sample frames
    assert main(["predict", str(model_dir), str(wav), "--window", "1e-9", "--hop", "1e-9"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "shorter than one analysis frame" in error and "0.064 s" in error
    with pytest.raises(ValueError, match="analysis frame"):
        predict_windows(model, np.zeros(RATE, np.float32), window=(frame - 1) / RATE, hop=0.01)
    one_frame = frame / RATE
    assert len(predict_windows(model, np.zeros(RATE, np.float32), window=one_frame, hop=one_frame)) == 16


def test_windows_per_recording_are_capped_with_a_clear_message(
    model_dir: Path, model: RespiraForAudioClassification, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "ten_seconds.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 10 * RATE).astype(np.float32), RATE)
    code = main(["predict", str(model_dir), str(wav), "--window", "0.1", "--hop", "0.0001"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(wav) in error
    assert "79201 windows, more than the limit of 10000 per recording" in error
    assert (
        main(["predict", str(model_dir), str(wav), "--window", "4", "--hop", "2", "--max_windows", "3"]) == 2
    )
    assert "more than the limit of 3" in capsys.readouterr().err
    assert len(predict_windows(model, np.zeros(10 * RATE, np.float32), max_windows=4)) == 4


def test_a_recording_needing_too_many_windows_is_refused_before_it_is_decoded(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header says how long it is: a 2-h recording is refused at once, not after decoding it."""
    import respira.inference.streaming

    wav = tmp_path / "long.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 60 * RATE).astype(np.float32), RATE)

    def never(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the recording was decoded")

    monkeypatch.setattr(respira.inference.streaming, "read_audio", never)
    assert main(["predict", str(model_dir), str(wav), "--max_windows", "3"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"respira predict: error: {wav}: 4 s windows every 2 s over 60.0 s of audio make 29 windows, more "
        "than the limit of 3 per recording; use a longer hop (or raise max_windows)"
    )


def test_annotation_errors_name_the_annotation_file_and_line(
    model_dir: Path, stereo_recording: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, annotation = stereo_recording
    duration = sf.info(wav).duration
    lines = annotation.read_text().splitlines()
    late = tmp_path / "late.txt"
    late.write_text("\n".join([*lines, f"{duration + 1:.3f}\t{duration + 2:.3f}\t0\t0"]) + "\n")
    assert main(["predict", str(model_dir), str(wav), "--annotations", str(late)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{late}:{len(lines) + 1}: cycle" in error and "starts after the end of" in error

    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["predict", str(model_dir), str(wav), "--annotations", str(empty)]) == 2
    assert f"{empty}: holds no cycles" in capsys.readouterr().err

    assert main(["predict", str(model_dir), str(wav), "--annotations", str(tmp_path / "none.txt")]) == 2
    assert f"{tmp_path / 'none.txt'}: cannot be read" in capsys.readouterr().err


def test_cycles_running_past_the_audio_are_clipped_with_one_warning_naming_the_worst_line(
    model: RespiraForAudioClassification, stereo_recording: tuple[Path, Path], tmp_path: Path
) -> None:
    wav, _ = stereo_recording
    duration = sf.info(wav).duration
    annotation = tmp_path / "overrun.txt"
    annotation.write_text(f"0\t{duration + 0.01:.3f}\t0\t0\n0.5\t{duration + 9:.3f}\t1\t0\n1\t1e308\t0\t1\n")
    worst = r"2 cycle\(s\) end more than 0\.05 s after .* worst: .*overrun\.txt:3 ends at 1e\+308 s"
    with pytest.warns(UserWarning, match=worst):
        rows = Detector(model).predict_file(wav, annotations=annotation).rows
    assert rows[2]["end"] == 1e308  # rows keep the given spans
    clipped = Detector(model).predict(read_audio(wav), RATE, cycles=[(1.0, duration)]).rows[0]  # clipped
    scores = [key for key in clipped if key.startswith("p_") or key in ("crackle", "wheeze")]
    expected = [clipped[key] for key in scores]
    assert scores and [rows[2][key] for key in scores] == pytest.approx(expected, abs=1e-6)
    annotation.write_text(f"0\t{duration + 0.01:.3f}\t0\t0\n")  # within the tolerance: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Detector(model).predict_file(wav, annotations=annotation)


@pytest.mark.parametrize("where", ["onto-a-folder", "under-a-file"])
def test_an_output_path_that_cannot_be_a_file_is_one_line_naming_it(
    model_dir: Path,
    stereo_recording: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    wav, _ = stereo_recording
    if where == "onto-a-folder":
        output = tmp_path / "results"
        output.mkdir()
    else:
        (tmp_path / "results").write_text("a file\n")
        output = tmp_path / "results" / "out.csv"
    assert main(["predict", str(model_dir), str(wav), "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(output) in error
    assert ".partial" not in error and "Errno" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def _pickled_weights_folder(model_dir: Path, folder: Path, extra: object) -> Path:
    folder.mkdir()
    shutil.copy(model_dir / "config.json", folder / "config.json")
    state = dict(RespiraForAudioClassification.from_pretrained(model_dir).state_dict())
    state["training_args"] = extra
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("damage", ["truncated-safetensors", "pickled-bin", "extra-weights"])
def test_damaged_or_pickled_weights_are_one_line_naming_the_file(
    model_dir: Path,
    stereo_recording: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    import argparse

    wav, _ = stereo_recording
    if damage == "truncated-safetensors":
        model = Path(shutil.copytree(model_dir, tmp_path / "model"))
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        expected = f"{weights}: not a readable safetensors file, truncated or damaged"
    elif damage == "pickled-bin":
        model = _pickled_weights_folder(model_dir, tmp_path / "model", argparse.Namespace(lr=0.1))
        weights = model / "pytorch_model.bin"
        expected = (
            f"{weights}: pickled weights holding Python objects (argparse.Namespace), which respira never"
        )
    else:
        model = _pickled_weights_folder(model_dir, tmp_path / "model", torch.zeros(3))
        weights = model / "pytorch_model.bin"
        expected = f"{weights}: the weights do not match config.json (unexpected keys: training_args)"
    capsys.readouterr()  # (building the folder printed a progress bar)
    assert main(["predict", str(model), str(wav)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert error.startswith(f"respira predict: error: {expected}")
    assert "\x1b[" not in error and "Traceback" not in error
    with pytest.raises(ModelLoadError, match=r"safetensors|pickled|do not match"):
        load_model(model)
