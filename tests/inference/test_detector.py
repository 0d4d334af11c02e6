"""respira.Detector: one object to load a model (folder, ONNX export, Hub id) and predict recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import respira
from respira.cli import main
from respira.hub.loading import ModelLoadError, load_model
from respira.inference.detector import Detector, Prediction, PredictionError
from respira.inference.windowing import analysis_frame_samples, predict_windows
from respira.models.respira.audio_decoding import AudioLevelWarning, SampleRateWarning, read_audio
from respira.models.respira.decision import decide_flags
from respira.models.respira.labels import CLASS_NAMES
from respira.models.respira.windows import DEFAULT_TOP_K

from ..conftest import RATE, THRESHOLDS


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 s of noise at 8 kHz stereo: resampled and down-mixed on reading."""
    path = tmp_path_factory.mktemp("detector_audio") / "noise.wav"
    noise = np.random.default_rng(5).normal(0, 0.1, (11 * 8000, 2)).astype(np.float32)
    sf.write(path, noise, 8000)
    return path


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    """Rows of the inference form (batch norms folded) against the loaded model's: the same to float
    rounding, the same labels."""
    assert [row.keys() for row in got] == [row.keys() for row in expected]
    for row, reference in zip(got, expected, strict=True):
        for key, value in reference.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, abs=1e-6), (key, row, reference)
            else:
                assert row[key] == value, (key, row, reference)


def test_the_detector_runs_the_inference_form_and_keeps_the_model_as_loaded(multi_label_dir: Path) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    loaded, _ = load_model(multi_label_dir, device="cpu")
    assert detector.inference_model is not detector.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in detector.inference_model.modules())
    state, reference = detector.model.state_dict(), loaded.state_dict()
    assert state.keys() == reference.keys() and all(torch.equal(state[k], reference[k]) for k in state)


def test_respira_exports_the_detector_and_its_prediction() -> None:
    """The lazy exports (``import respira`` alone leaves them unimported: tests/test_package.py)."""
    assert respira.Detector is Detector and respira.Prediction is Prediction


def test_predict_file_rows_are_the_inference_rows_and_the_verdict_is_the_decision_rule(
    multi_label_dir: Path, recording: Path
) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    result = detector.predict_file(recording)
    model, _ = load_model(multi_label_dir, device="cpu")
    rows = predict_windows(model, read_audio(recording, detector.sampling_rate), name=str(recording))
    expected = [{"file": str(recording), **row} for row in rows]
    assert len(result.rows) == 5
    assert_same_rows(result.rows, expected)  # the detector runs the model's inference form
    flags = np.array([[row["crackle"], row["wheeze"]] for row in result.rows])
    assert (result.crackle, result.wheeze) == tuple(flags.max(axis=0))
    assert result.label == decide_flags(flags.max(axis=0)[None], THRESHOLDS).labels[0]
    assert result.thresholds == tuple(THRESHOLDS) and result.file == str(recording)
    top2 = detector.predict_file(recording, aggregation="topk_mean", top_k=2)
    assert top2.crackle == pytest.approx(np.sort(flags[:, 0])[-2:].mean())
    assert "2 largest" in top2.description


def test_predict_array_resamples_and_matches_the_model_rate_path(multi_label_dir: Path) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu", window=2.0, hop=1.0)
    waveform = np.random.default_rng(2).normal(0, 0.1, 5 * RATE).astype(np.float32)
    result = detector.predict(torch.from_numpy(waveform), RATE)
    model, _ = load_model(multi_label_dir, device="cpu")
    assert_same_rows(result.rows, predict_windows(model, waveform, window=2.0, hop=1.0))
    assert result.file is None and len(result.rows) == 4
    at_8k = detector.predict(waveform[::2], RATE // 2)
    assert len(at_8k.rows) == 4  # same duration once resampled to the model's 16 kHz
    cycles = detector.predict(waveform, RATE, cycles=[(0.0, 1.5), (2.0, 4.0)])
    assert [(row["start"], row["end"]) for row in cycles.rows] == [(0.0, 1.5), (2.0, 4.0)]
    assert cycles.label in CLASS_NAMES


def test_results_convert_to_pandas_and_json(multi_label_dir: Path, recording: Path) -> None:
    result = Detector.from_pretrained(multi_label_dir, device="cpu").predict_file(recording)
    frame = result.to_pandas()
    assert list(frame.columns[:6]) == ["file", "start", "end", "crackle", "wheeze", "label"]
    assert len(frame) == len(result.rows)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["label"] == result.label and data["thresholds"] == THRESHOLDS and len(data["rows"]) == 5


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"window": -1.0}, "window must be a positive"),
        ({"hop": 9.0}, "hop must be positive and at most the window"),
        ({"aggregation": "median"}, "aggregation must be one of"),
        ({"aggregation": "topk_mean", "top_k": 0}, "top_k must be a whole number >= 1, got 0"),
        ({"top_k": 2}, r"top_k applies to aggregation='topk_mean' only, got 'max'"),  # was kept, unused
        ({"batch_size": 0}, "batch_size must be"),
        ({"max_windows": 0}, "max_windows must be a whole number >= 1, got 0"),
        ({"max_windows": 2.5}, "max_windows must be a whole number"),
    ],
)
def test_bad_options_are_one_line_before_any_work(multi_label_dir: Path, options: dict, words: str) -> None:
    with pytest.raises(PredictionError, match=words) as caught:
        Detector.from_pretrained(multi_label_dir, device="cpu", **options)
    assert "\n" not in str(caught.value)


def test_top_k_defaults_as_the_cli_and_goes_only_with_topk_mean(
    multi_label_dir: Path, recording: Path
) -> None:
    topk = Detector.from_pretrained(multi_label_dir, device="cpu", aggregation="topk_mean")
    default = topk.predict_file(recording)  # topk_mean without top_k was an error; --top_k defaults to 3
    assert (default.aggregation, default.top_k) == ("topk_mean", DEFAULT_TOP_K) == ("topk_mean", 3)
    three = sorted((row["crackle"] for row in default.rows), reverse=True)[:3]
    assert default.crackle == pytest.approx(sum(three) / 3)
    as_max = topk.predict_file(recording, aggregation="max")  # the default top_k does not follow it
    assert (as_max.aggregation, as_max.top_k) == ("max", None)
    assert as_max.crackle == pytest.approx(max(row["crackle"] for row in as_max.rows))
    with pytest.raises(PredictionError, match="top_k applies to aggregation='topk_mean' only"):
        topk.predict_file(recording, aggregation="max", top_k=2)


def test_bad_inputs_are_one_line_naming_them(multi_label_dir: Path, tmp_path: Path) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVE")
    with pytest.raises(PredictionError, match=r"broken\.wav"):
        detector.predict_file(broken)
    with pytest.raises(PredictionError, match="mono"):
        detector.predict(np.zeros((2, 100), dtype=np.float32), RATE)
    with pytest.raises(PredictionError, match="sampling_rate"):
        detector.predict(np.zeros(100, dtype=np.float32), 0)
    with pytest.raises(ModelLoadError, match="model folder not found"):
        Detector.from_pretrained(tmp_path / "nothing")
    with pytest.raises(TypeError, match="windw"):
        detector.predict_file(broken, windw=2.0)


def test_onnx_exports_predict_the_same(
    multi_label_dir: Path, multi_label_onnx_dir: Path, recording: Path
) -> None:
    from respira.hub.onnx import OnnxClassifier

    onnx = Detector.from_pretrained(multi_label_onnx_dir)  # no torch weights: onnxruntime
    assert isinstance(onnx.model, OnnxClassifier)
    result = onnx.predict_file(recording)
    reference = Detector.from_pretrained(multi_label_dir, device="cpu").predict_file(recording)
    assert result.crackle == pytest.approx(reference.crackle, abs=1e-4)
    assert result.label == reference.label


def test_plot_writes_a_png_beside_the_recording(
    multi_label_dir: Path, recording: Path, tmp_path: Path
) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    copy = tmp_path / "copy.wav"
    copy.write_bytes(recording.read_bytes())
    assert detector.plot(copy) == tmp_path / "copy.png"
    assert (tmp_path / "copy.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_writes_the_format_its_file_name_asks_for(
    multi_label_dir: Path, recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    prediction = detector.predict_file(recording)
    svg = detector.plot(recording, tmp_path / "out.svg", prediction=prediction)
    assert b"<svg" in svg.read_bytes()[:500]
    assert detector.plot(recording, tmp_path / "out.PDF", prediction=prediction).read_bytes()[:5] == b"%PDF-"
    calls: list[str] = []
    monkeypatch.setattr(Detector, "predict_file", lambda self, path, **kw: calls.append(path))
    for name, says in (("out.xyz", "'.xyz' is not an image format"), ("out", "has no suffix")):
        with pytest.raises(ValueError, match=f"out.*{says}.*one of .*\\.png.*\\.svg"):
            detector.plot(recording, tmp_path / name)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        detector.plot(recording, tmp_path)
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out.PDF", "out.svg"]


def test_cli_predict_per_recording_writes_each_files_verdict_as_the_detector_decides_it(
    multi_label_dir: Path, recording: Path, tmp_path: Path, capsys
) -> None:
    louder = tmp_path / "louder.wav"
    sf.write(louder, np.random.default_rng(7).normal(0, 0.3, 16000 * 9).astype(np.float32), 16000)
    files = [str(recording), str(louder)]
    base = ["predict", str(multi_label_dir), *files, "--device", "cpu", "--per_recording"]
    for options, detector_options in (
        ([], {}),
        (["--aggregation", "topk_mean", "--top_k", "2"], {"aggregation": "topk_mean", "top_k": 2}),
        (["--aggregation", "topk_mean"], {"aggregation": "topk_mean", "top_k": 3}),
    ):
        output = tmp_path / "verdicts.csv"
        assert main([*base, *options, "--output", str(output)]) == 0
        assert f"wrote 2 recording verdicts for 2 file(s) to {output}" in capsys.readouterr().out
        detector = Detector.from_pretrained(multi_label_dir, device="cpu", **detector_options)
        expected = [detector.predict_file(file) for file in files]
        lines = output.read_text().splitlines()
        assert lines[0] == "file,label,crackle,wheeze,windows,aggregation,top_k,warning"
        for line, prediction in zip(lines[1:], expected, strict=True):
            file, label, crackle, wheeze, windows, aggregation, top_k = line.split(",")[:7]  # then warning
            assert (file, label, int(windows), aggregation) == (
                prediction.file, prediction.label, len(prediction.rows), prediction.aggregation
            )  # fmt: skip
            assert float(crackle) == pytest.approx(prediction.crackle, abs=1e-6)
            assert float(wheeze) == pytest.approx(prediction.wheeze, abs=1e-6)
            assert top_k == ("" if prediction.top_k is None else str(prediction.top_k))
    assert [p.crackle for p in expected] != [max(r["crackle"] for r in p.rows) for p in expected]  # top-3
    for options, message in (
        (["--aggregation", "max"], "add --per_recording"),
        (["--per_recording", "--top_k", "2"], "--top_k applies to --aggregation topk_mean only"),
        (["--per_recording", "--aggregation", "topk_mean", "--top_k", "0"], "got 0"),
    ):
        target = tmp_path / "refused.json"
        args = ["predict", str(multi_label_dir), str(recording), "--output", str(target), *options]
        assert main(args) == 2
        assert message in capsys.readouterr().err and not target.exists()


def test_cli_predict_is_the_detector(
    multi_label_dir: Path, recording: Path, tmp_path: Path, monkeypatch
) -> None:
    calls: list[str] = []
    original = Detector.predict_file
    monkeypatch.setattr(
        Detector, "predict_file", lambda self, path, **kw: calls.append(path) or original(self, path, **kw)
    )
    output = tmp_path / "out.json"
    assert (
        main(["predict", str(multi_label_dir), str(recording), "--output", str(output), "--device", "cpu"])
        == 0
    )
    assert calls == [str(recording)]
    assert json.loads(output.read_text()) == json.loads(
        json.dumps(
            [
                {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
                for row in Detector.from_pretrained(multi_label_dir, device="cpu")
                .predict_file(recording)
                .rows
            ]
        )
    )


def test_an_integer_pcm_array_predicts_as_its_file(multi_label_dir: Path, tmp_path: Path) -> None:
    # what scipy.io.wavfile.read returns: int16 samples, which cast to float are 90 dB too loud
    from scipy.io import wavfile

    path = tmp_path / "pcm16.wav"
    noise = np.random.default_rng(8).normal(0, 0.1, 5 * 8000)
    sf.write(path, noise, 8000, subtype="PCM_16")
    rate, pcm = wavfile.read(path)
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    from_file = detector.predict_file(path)
    from_array = detector.predict(pcm, rate)
    assert pcm.dtype == np.int16 and from_array.rows == [
        {k: v for k, v in row.items() if k != "file"} for row in from_file.rows
    ]
    with pytest.warns(AudioLevelWarning, match=r"^the waveform peaks at .* dB above full scale"):
        detector.predict(pcm.astype(np.float32), rate)
    with pytest.warns(
        SampleRateWarning, match=r"^the waveform: recorded at 1000 Hz, which holds sound up to 500"
    ):
        detector.predict(np.full(4000, 0.1, np.float32), 1000)
    with pytest.warns(AudioLevelWarning, match=r"^site/a\.wav peaks at"):
        named = detector.predict(pcm.astype(np.float32), rate, name="site/a.wav")
    assert named.file == "site/a.wav"
    assert detector.detect_events(pcm / 32768, rate, name="site/a.wav").file == "site/a.wav"


def test_a_recording_shorter_than_one_analysis_frame_is_refused(
    multi_label_dir: Path, tmp_path: Path, capsys
) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    frame = analysis_frame_samples(detector.model)
    assert frame > 1
    detector.predict(np.full(frame, 0.1, np.float32), RATE)  # one frame: scored
    with pytest.raises(PredictionError, match=r"^the recording lasts .* shorter than one analysis frame"):
        detector.predict(np.full(frame - 1, 0.1, np.float32), RATE)
    short = tmp_path / "click.wav"
    sf.write(short, np.full(10, 0.1), 8000)
    assert main(["predict", str(multi_label_dir), str(short), "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"respira predict: error: {short}: the recording lasts 1.25 ms")
    assert "\n" not in error


def test_the_rate_and_the_cycles_are_checked_in_one_line(multi_label_dir: Path) -> None:
    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    waveform = np.random.default_rng(4).normal(0, 0.1, 3 * RATE).astype(np.float32)
    assert detector.predict(waveform, float(RATE)).rows == detector.predict(waveform, RATE).rows
    for rate in (True, 16000.5, "16000"):
        with pytest.raises(PredictionError, match=r"^sampling_rate must be a whole number >= 1, got"):
            detector.predict(waveform, rate)
    frame_ms = analysis_frame_samples(detector.model) / RATE * 1000
    for cycles, words in [
        ("0 1", r"^cycles must be \(start, end\) pairs of seconds, got the string '0 1'$"),
        ([(0.0, 1.0), (2.0,)], r"^cycle 2 must be a \(start, end\) pair of seconds, got \(2\.0,\)$"),
        ([(0.0, 1.0), (1.0, "x")], r"^cycle 2 must be a \(start, end\) pair"),
        ([(1.0, 1.001)], rf"^cycle 1 \(1\.0-1\.001 s\) of the recording lasts 1 ms .* \({frame_ms:g} ms\)"),
        ([(2.99, 4.0)], r"^cycle 1 \(2\.99-4\.0 s\) of the recording lasts 10 ms"),  # clipped at its end
    ]:
        with pytest.raises(PredictionError, match=words):
            detector.predict(waveform, RATE, cycles=cycles)


def test_embed_gives_each_window_predict_cuts_its_embedding_and_logits(
    multi_label_dir: Path, recording: Path
) -> None:
    """Detector.embed (fit-site's, suggest's and bench's entry): one row per window predict cuts, in the
    recordings' order, whose logits are predict's probabilities; the model's head maps the embeddings to
    them. An ONNX export and an empty list are refused in one line."""
    from respira.metrics.thresholds import sigmoid

    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    prediction = detector.predict_file(recording)
    embedded = detector.embed([recording, str(recording)], batch_size=3)
    windows = len(prediction.rows)
    assert embedded.recording.tolist() == [0] * windows + [1] * windows
    assert embedded.embeddings.shape == (2 * windows, detector.config.hidden_size)
    assert embedded.embeddings.dtype == np.float32 and embedded.durations.tolist() == [11.0, 11.0]
    expected = [[row["crackle"], row["wheeze"]] for row in prediction.rows] * 2
    np.testing.assert_allclose(sigmoid(embedded.logits), expected, atol=1e-5)
    with pytest.raises(PredictionError, match="no recordings"):
        detector.embed([])
    with pytest.raises(PredictionError, match=r"broken\.wav"):
        detector.embed([recording.with_name("broken.wav")])


def test_embed_cycles_gives_each_cycle_predict_cuts_and_warns_of_no_level(
    multi_label_dir: Path, recording: Path, tmp_path: Path
) -> None:
    """Detector.embed_cycles (bench's entry for annotated cycles): one row per cycle, cut as predict cuts
    cycles; a silent recording embeds without the level warning bench would print for each recording."""
    import warnings

    from respira.metrics.thresholds import sigmoid

    detector = Detector.from_pretrained(multi_label_dir, device="cpu")
    cycles = [(0.0, 1.5), (2.0, 4.0), (10.0, 12.0)]  # the last one clipped at the recording's end
    waveform = read_audio(recording, detector.sampling_rate)
    expected = detector.predict(waveform, detector.sampling_rate, cycles=cycles).rows
    embedded = detector.embed_cycles(recording, cycles)
    assert embedded.recording.tolist() == [0, 0, 0] and embedded.durations.tolist() == [11.0]
    np.testing.assert_allclose(
        sigmoid(embedded.logits), [[r["crackle"], r["wheeze"]] for r in expected], atol=1e-5
    )
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * 8000), 8000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioLevelWarning)
        assert detector.embed_cycles(silent, [(0.0, 1.0)]).logits.shape == (1, 2)
    with pytest.raises(PredictionError, match="no cycles"):
        detector.embed_cycles(recording, [])
