"""The app's analysis of one recording: checks of the upload, the verdict rule, the ONNX runner's parity
with ``respira predict`` and with respira's event detection, the events drawn and listed, the spectrogram's
frequency range and the page handler (no browser; see test_browser.py for the page itself)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from respira import Detector
from respira.app import analysis
from respira.app.analysis import InputError, analyse, recording_verdict
from respira.app.card_facts import NOT_A_MEDICAL_DEVICE, card_facts
from respira.app.detectors import open_detector
from respira.app.onnx_runner import OnnxDetector, window_spans
from respira.audio import read_audio
from respira.inference.engine import analysis_frame_samples, window_starts
from respira.inference.event_detection import detect_events, predict_frames
from respira.inference.event_rules import DETECTION_COLUMNS, gate_by_verdict

from ..conftest import encode_aac

pytest.importorskip("onnxruntime", reason="the app's ONNX runner needs onnxruntime (pip install '.[onnx]')")

RATE = 16000


def _noise(path: Path, seconds: float, rate: int = RATE, channels: int = 1, scale: float = 0.1) -> Path:
    samples = np.random.default_rng(5).normal(0, scale, (round(seconds * rate), channels)).astype(np.float32)
    sf.write(path, samples, rate)
    return path


def test_verdict_aggregates_windows_by_max_and_decides_at_the_model_thresholds() -> None:
    config = {"problem_type": "multi_label_classification", "decision_thresholds": [0.3, 0.7]}
    rows = [{"crackle": 0.1, "wheeze": 0.69}, {"crackle": 0.3, "wheeze": 0.2}]
    verdict = recording_verdict(rows, config)
    assert verdict.present == (True, False)  # 0.3 reaches its threshold, 0.69 does not reach 0.7
    assert verdict.probabilities == (0.3, 0.69)
    assert verdict.thresholds == (0.3, 0.7)
    assert "maximum of its window probabilities" in verdict.rule
    rows[0]["wheeze"] = 0.7
    assert recording_verdict(rows, config).present == (True, True)
    text = "\n".join(recording_verdict(rows, config).lines())
    assert "Crackles: **present**" in text and "threshold 0.70" in text


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda p: p.write_bytes(b"RIFF\x00\x00this is not audio at all" * 20), "bad.wav"),
        (lambda p: sf.write(p, np.zeros((0, 1), np.float32), RATE), "empty"),
        (lambda p: sf.write(p, np.full(1000 * 601, 0.1, np.float32), 1000), "up to 600 s"),
    ],
    ids=["undecodable", "empty", "too-long"],
)
def test_bad_recordings_are_one_line_naming_the_users_file(write, expected: str, tmp_path: Path) -> None:
    upload = tmp_path / "gradio-tmp-8f3a" / "bad.wav"
    upload.parent.mkdir()
    write(upload)
    with pytest.raises(InputError) as raised:
        analysis.load_recording(upload, RATE, "bad.wav")
    message = str(raised.value)
    assert expected in message and "bad.wav" in message
    assert "\n" not in message and "gradio-tmp-8f3a" not in message  # never the upload's temporary path


def test_wrong_annotation_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("this is\nnot an annotation\n")
    with pytest.raises(InputError, match=r"notes\.txt"):
        analysis.load_cycles(garbage, "notes.txt", "rec.wav", 20 * RATE, RATE)
    other = tmp_path / "other.txt"
    other.write_text("0.5 3.0 0 1\n25.0 28.0 1 0\n")  # the second cycle is past a 20-s recording
    with pytest.raises(InputError) as caught:
        analysis.load_cycles(other, "other.txt", "rec.wav", 20 * RATE, RATE)
    assert str(caught.value) == (  # as respira predict --annotations says it (one check)
        "other.txt:2: cycle 25.0-28.0 s starts after the end of rec.wav (20.000 s): is it the annotation of "
        "another recording?"
    )


@pytest.mark.parametrize("window, hop", [("x", 1), (0, 1), (2, 3), (2, float("nan")), (700, 1)])
def test_window_options_are_checked(window, hop) -> None:
    with pytest.raises(InputError):
        analysis.check_window(window, hop)


@pytest.mark.parametrize("total", [1, 399, 400, 401, 1999, 16000, 16001, 33333])
@pytest.mark.parametrize(("window", "hop"), [(400, 400), (400, 160), (16000, 8000), (16000, 1)])
def test_onnx_runner_cuts_windows_as_inference_does(total: int, window: int, hop: int) -> None:
    starts = window_starts(total, window, hop)
    expected = [(int(s), int(min(s + window, total))) for s in starts]
    assert window_spans(total, window, hop) == expected


def test_onnx_runner_rows_equal_respira_predict_onnx(model_dir: Path, tmp_path: Path) -> None:
    from respira.hub.onnx import load_onnx_model

    waveform = np.random.default_rng(1).normal(0, 0.1, int(7.3 * RATE)).astype(np.float32)
    reference = Detector(load_onnx_model(model_dir))
    runner = OnnxDetector(model_dir)
    for options in (
        {"window": 2.0, "hop": 0.5},
        {"window": 1.0, "hop": 1.0, "cycles": [(0.2, 1.9), (3, 7.3), (5, 1e308)]},  # 1e308: to the end
    ):
        expected = reference.predict(waveform, RATE, **options).rows
        got = runner.predict(waveform, RATE, **options).rows
        assert [(r["start"], r["end"], r["label"]) for r in got] == [
            (r["start"], r["end"], r["label"]) for r in expected
        ]
        for key in ("crackle", "wheeze"):
            np.testing.assert_allclose([r[key] for r in got], [r[key] for r in expected], atol=1e-6)


def test_the_onnx_runner_refuses_what_is_shorter_than_one_frame_as_predict_does(model_dir: Path) -> None:
    from respira.hub.onnx import load_onnx_model

    runner = OnnxDetector(model_dir)
    reference = Detector(load_onnx_model(model_dir))
    frame = runner.frame_samples
    assert frame == analysis_frame_samples(reference.model) > 1  # read from model.onnx's metadata
    click = np.full(frame - 1, 0.1, np.float32)
    for options in ({}, {"cycles": [(0.0, 1.0)]}):
        with pytest.raises(ValueError) as expected:
            reference.predict(click, RATE, window=1.0, hop=1.0, **options)
        with pytest.raises(ValueError) as got:
            runner.predict(click, RATE, window=1.0, hop=1.0, **options)
        assert str(got.value) == str(expected.value) and "shorter than one analysis frame" in str(got.value)
    assert runner.predict(np.full(frame, 0.1, np.float32), RATE, window=1.0, hop=1.0).rows


def test_analyse_a_multichannel_recording_with_annotations(model_dir: Path, tmp_path: Path) -> None:
    detector, _ = open_detector(str(model_dir))
    recording = _noise(tmp_path / "stereo.flac", 6.0, rate=8000, channels=2)
    notes = tmp_path / "stereo.txt"
    notes.write_text("0.0 2.5 1 0\n2.5 5.9 0 1\n")
    result = analyse(detector, recording, annotations=notes, window=1.0, hop=0.5)
    assert [row["annotated_label"] for row in result.rows] == ["crackle", "wheeze"]
    assert result.duration == pytest.approx(6.0)
    labels = {ax.get_label() for ax in result.figure.axes}
    assert {"spectrogram", "probabilities", "labels"} <= labels
    assert "stereo.flac" in result.figure.texts[0].get_text()  # the title names the user's file


def test_card_facts_state_training_data_test_score_and_not_a_medical_device(model_dir: Path) -> None:
    facts = card_facts(model_dir)
    trained = [fact for fact in facts if fact.startswith("Trained on:")]
    assert trained == [
        "Trained on: ICBHI 2017 Respiratory Sound Database (4142 cycles of 79 patients: train 3310, "
        "validation 832), by its training record (respira_run.json)"
    ]  # the run record's training splits, never a test or an external evaluation
    assert any(fact.startswith("Scored on ICBHI 2017") and "61.2" in fact for fact in facts)
    assert facts[-1] == NOT_A_MEDICAL_DEVICE


def test_page_handler_reports_bad_input_in_one_line_and_keeps_working(
    model_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page

    detector, _ = open_detector(str(model_dir))
    results = page._Results(keep=2)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    good = _noise(tmp_path / "good.wav", 3.0)

    def progress(*_args, **_kwargs) -> None:
        return None

    message, verdict, figure, table, events, files = page._run(
        detector, results, str(bad), None, None, 1.0, 0.5, progress
    )
    assert message.startswith("**Error:**") and "broken.wav" in message and "\n" not in message
    assert (verdict, figure, files) == ("", None, None)
    # the tables keep their real columns (empty), not the widget's default headers
    assert table == {"headers": ["start", "end", "crackle", "wheeze", "label"], "data": []}
    assert events == {"headers": ["onset", "offset", "type", "confidence", "rule"], "data": []}
    notes = tmp_path / "notes.txt"
    notes.write_text("not an annotation\n")
    *_, table, _, _ = page._run(detector, results, str(good), None, str(notes), 1.0, 0.5, progress)
    assert table["headers"][-1] == "annotated_label" and table["data"] == []
    for _ in range(3):  # the page keeps serving; only the last `keep` results stay on disk
        message, verdict, figure, table, events, files = page._run(
            detector, results, str(good), None, None, 1.0, 0.5, progress
        )
    assert message.startswith("**Analysed** good.wav: 3.0 s, 5 windows; events: ")
    assert len(table["data"]) == 5 and table["headers"][:2] == ["start", "end"]
    assert [Path(f).name for f in files] == ["good.csv", "good.json", "good_events.csv", "good.png"]
    assert len(json.loads(Path(files[1]).read_text())) == 5
    assert len(events["data"]) == len(list(csv.DictReader(Path(files[2]).read_text().splitlines()))) >= 1
    assert len(list(results.root.iterdir())) == 2


def test_the_app_runs_a_respira_detector(model_dir: Path) -> None:
    detector, _ = open_detector(str(model_dir))
    assert isinstance(detector, Detector)  # one code path with the Python API and `respira predict`
    assert detector.name == model_dir.name
    onnx, _ = open_detector(str(model_dir), onnx=True)
    assert isinstance(onnx, Detector) and type(onnx.model).__name__ == "OnnxClassifier"


def test_figures_are_freed_after_each_analysis(model_dir: Path, tmp_path: Path) -> None:
    """No figure outlives its analysis: its reference cycles would hold its arrays until a rare full
    collection (the app's memory grew by a quarter over 20 uploads)."""
    import gc
    import weakref

    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from matplotlib.figure import Figure

    from respira.app import page

    detector, _ = open_detector(str(model_dir))
    made: list[weakref.ref] = []
    original = Figure.__init__

    def track(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    good = _noise(tmp_path / "good.wav", 3.0)
    Figure.__init__ = track
    gc.disable()  # only what the page itself frees counts
    try:
        page._run(detector, page._Results(keep=1), str(good), None, None, 1.0, 0.5, lambda *a, **k: None)
        assert made and all(ref() is None for ref in made)
    finally:
        gc.enable()
        Figure.__init__ = original


def test_a_phones_m4a_is_offered_and_analysed_where_torchcodec_decodes_it(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page

    detector, _ = open_detector(str(model_dir))
    wav = _noise(tmp_path / "phone.wav", 3.0)
    m4a = encode_aac(wav, tmp_path / "phone.m4a")
    assert page.audio_types() == [*page.AUDIO_TYPES, ".m4a"]
    built = page.build_page(detector)
    blocks = list(built.blocks.values())
    uploads = [block for block in blocks if getattr(block, "elem_id", None) == "respira-upload"]
    assert uploads[0].file_types == [*page.AUDIO_TYPES, ".m4a"]
    assert any("(wav, flac, mp3, ogg or m4a;" in str(getattr(block, "value", "")) for block in blocks)
    # the upload's length is checked from its header, then it is read as `respira predict` reads it
    read = analysis.load_recording(m4a, RATE, "phone.m4a")
    assert read.size == pytest.approx(3.0 * RATE, abs=0.05 * RATE)
    result = analyse(detector, m4a, window=1.0, hop=0.5)
    assert result.duration == pytest.approx(3.0, abs=0.05)  # AAC pads a few milliseconds
    assert [row["start"] for row in result.rows][:5] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert result.rows[-1]["end"] == pytest.approx(result.duration)
    # without torchcodec (a Space runs without torch) the page offers libsndfile's formats only
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    assert page.audio_types() == page.AUDIO_TYPES
    with pytest.raises(InputError, match=r"^phone\.m4a: cannot be decoded as audio"):
        analysis.load_recording(m4a, RATE, "phone.m4a")


def test_an_upload_scored_with_a_caution_shows_it_beside_the_verdict(model_dir: Path, tmp_path: Path) -> None:
    import warnings

    phone = _noise(tmp_path / "phone.wav", 3.0, rate=2000)
    loud = tmp_path / "loud.wav"
    sf.write(
        loud, np.random.default_rng(5).normal(0, 1.5, 3 * RATE).astype(np.float32), RATE, subtype="FLOAT"
    )
    good = _noise(tmp_path / "good.wav", 3.0)
    for detector in (open_detector(str(model_dir))[0], OnnxDetector(model_dir)):  # the Space's runner too
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # shown on the page, not warned as well
            low = analyse(detector, phone, name="my phone.wav", window=1.0, hop=0.5)
            high = analyse(detector, loud, name="my loud.wav", window=1.0, hop=0.5)
            assert analyse(detector, good, window=1.0, hop=0.5).cautions == []
        assert low.rows and low.cautions == [
            "my phone.wav: recorded at 2000 Hz, which holds sound up to 1000 Hz only; crackles and wheezes "
            "reach 2000 Hz (a rate of 4000 Hz or more), so its scores say little"
        ]
        assert high.rows and len(high.cautions) == 1 and high.cautions[0].startswith("my loud.wav peaks at")
    # a silent upload is scored, and the page says its verdict is not to be trusted (as respira predict)
    silent = tmp_path / "quiet.wav"
    sf.write(silent, np.zeros(3 * RATE, np.float32), RATE)
    for detector in (open_detector(str(model_dir))[0], OnnxDetector(model_dir)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            quiet = analyse(detector, silent, name="my quiet.wav", window=1.0, hop=0.5)
        assert quiet.rows and quiet.cautions == [
            "my quiet.wav is silent (RMS 0 of full scale, below 0.0001: -80 dBFS); its verdict is not to be "
            "trusted"
        ]
    # any other warning passes on
    notes = tmp_path / "good.txt"
    notes.write_text("0.0 1.5 1 0\n1.5 3.4 0 0\n")  # the last cycle ends 0.4 s after the 3-s recording
    clipped = analyse(open_detector(str(model_dir))[0], good, annotations=notes, window=1.0, hop=0.5)
    assert len(clipped.rows) == 2 and clipped.cautions == [
        "good.txt: 1 cycle(s) end more than 0.05 s after good.wav ends and are clipped to it; worst: line 2 "
        "ends at 3.4 s, audio at 3.000 s"
    ]
    with pytest.warns(UserWarning, match="another warning"), analysis._recorded_cautions() as cautions:
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert cautions == []
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page

    message, *_ = page._run(
        open_detector(str(model_dir))[0], page._Results(keep=1), str(phone), None, None, 1.0, 0.5,
        lambda *_a, **_k: None,
    )  # fmt: skip
    assert message.startswith("**Analysed** phone.wav: 3.0 s") and (
        "\n\n**Caution:** phone.wav: recorded at 2000 Hz" in message
    )


# ----------------------------------------------------------------------------------------------- events
def _thresholds_with_events(model, waveform: np.ndarray) -> list[float]:
    """Each label's 60th percentile of the frame posteriors (the tiny untrained model's all lie within a
    few thousandths of 0.5): several events of both labels."""
    posteriors = predict_frames(model, waveform).posteriors
    return [float(np.percentile(posteriors[:, column], 60)) for column in range(2)]


def test_the_onnx_runner_gives_the_frames_and_events_of_respira_onnx_classifier(model_dir: Path) -> None:
    from respira.app import onnx_runner
    from respira.hub.onnx import FRAME_NAME, FRAME_TIMES_NAME, load_onnx_model

    assert (onnx_runner.FRAME_NAME, onnx_runner.FRAME_TIMES_NAME) == (FRAME_NAME, FRAME_TIMES_NAME)
    assert analysis.FRAME_OUTPUT == FRAME_NAME
    runner, classifier = OnnxDetector(model_dir), load_onnx_model(model_dir)
    assert runner.has_frame_outputs and runner.analysis_frame_samples == analysis_frame_samples(classifier)
    assert runner.config.sampling_rate == runner.config["sampling_rate"] == RATE  # attributes and keys
    rng = np.random.default_rng(2)
    # chunks of unequal lengths, one shorter than a step (padded steps dropped, the first kept)
    chunks = [rng.normal(0, 0.1, n).astype(np.float32) for n in (RATE, RATE // 3, RATE, 700)]
    for (times, got), (expected_times, expected) in zip(
        runner.predict_frames(chunks, batch_size=1), classifier.predict_frames(chunks), strict=True
    ):
        np.testing.assert_array_equal(times, expected_times)
        np.testing.assert_allclose(got, expected, atol=1e-4)
    assert len(runner.predict_frames(chunks)[3][0]) == 1
    for seconds in (7.3, 0.6):  # many chunks with context margins; one chunk shorter than the input length
        waveform = rng.normal(0, 0.1, int(seconds * RATE)).astype(np.float32)
        thresholds = _thresholds_with_events(classifier, waveform)
        got = runner.detect_events(waveform, RATE, thresholds=thresholds, rule="frames")
        expected = detect_events(classifier, waveform, thresholds=thresholds)
        np.testing.assert_allclose(got.frames.posteriors, expected.frames.posteriors, atol=1e-4)
        assert got.thresholds == expected.thresholds and got.settings == expected.settings
        assert [e[:3] for e in got.events] == [e[:3] for e in expected.events]
        np.testing.assert_allclose(
            [e.confidence for e in got.events], [e.confidence for e in expected.events], atol=1e-4
        )
        # respira's own event detection runs the runner itself (no torch on that path)
        assert detect_events(runner, waveform, thresholds=thresholds).events == got.events
        if seconds > 1:
            assert {e.label for e in got.events} == {"crackle", "wheeze"}  # events to compare
    with pytest.raises(ValueError, match="whole number"):
        runner.predict_frames(chunks, batch_size=0)


def _event_detector(kind: str, model_dir: Path, recording: Path) -> Any:
    """The page's ``torch`` detector or the Space's ``onnx`` runner, with thresholds that find events in
    ``recording``."""
    detector = open_detector(str(model_dir))[0] if kind == "torch" else OnnxDetector(model_dir)
    thresholds = _thresholds_with_events(getattr(detector, "model", detector), read_audio(recording, RATE))
    if kind == "torch":
        detector.model.config.decision_thresholds = thresholds  # this detector's own copy
    else:
        detector.config["decision_thresholds"] = thresholds
    return detector


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_the_page_draws_and_lists_the_events_of_its_detector(
    kind: str, model_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page
    from respira.reports.event_bars import event_bars, min_bar_seconds

    recording = _noise(tmp_path / "noise.wav", 6.0)
    detector = _event_detector(kind, model_dir, recording)
    result = analyse(detector, recording, name="my noise.wav", window=1.0, hop=0.5)
    # the frame events, kept where the page's own windows and verdict hold them
    frame_events = detect_events(getattr(detector, "model", detector), read_audio(recording, RATE))
    expected = gate_by_verdict(frame_events, result.rows, detector.config)
    assert result.events is not None and result.events.file == "my noise.wav"
    assert result.events.events == expected.events and {e.label for e in expected.events} == {"crackle"}
    assert result.events.left_out == expected.left_out and {e.label for e in expected.left_out} == {"wheeze"}
    assert result.verdict.present == expected.recording_present == (True, False)
    # the figure: a row of bars per label under the predicted labels, one bar per event at its place
    (labels,) = [ax for ax in result.figure.axes if ax.get_label() == "labels"]
    ticks = [" ".join(t.get_text().split()) for t in labels.get_yticklabels()]
    assert ticks == ["wheeze events", "crackle events", "predicted"]  # bottom up
    bars = {c.get_label(): c for c in labels.collections}
    events = [e for e in expected.events if e.label == "crackle"]
    paths = bars["crackle events"].get_paths()
    drawn = [(path.vertices[:, 0].min(), np.ptp(path.vertices[:, 0])) for path in paths]
    wanted = event_bars(events, result.duration, min_bar_seconds(labels, result.duration))
    np.testing.assert_allclose(drawn, wanted, atol=1e-9)
    # the wheeze row and the caption say what the verdict left out
    none = f"none held by the verdict ({len(expected.left_out)} frame events left out)"
    assert none in [text.get_text() for text in labels.texts]
    assert _caption(result.figure) == expected.describe()
    # the page: the events table and its CSV are the gated detection's rows
    results = page._Results(keep=1)  # kept: its folder goes with it
    message, _, _, _, table, files = page._run(
        detector, results, str(recording), None, None, 1.0, 0.5, lambda *a, **k: None
    )
    assert message.startswith(f"**Analysed** noise.wav: 6.0 s, 11 windows; {expected.describe()}.")
    rows = expected.to_rows()
    assert table == {
        "headers": ["onset", "offset", "type", "confidence", "rule"],
        "data": [
            [round(r["onset"], 3), round(r["offset"], 3), r["type"], round(r["confidence"], 3), "verdict"]
            for r in rows
        ],
    }
    with Path(files[2]).open() as handle:
        written = list(csv.DictReader(handle))
    assert Path(files[2]).name == "noise_events.csv" and list(written[0]) == [
        "file",
        "onset",
        "offset",
        "type",
        "confidence",
        "rule",
    ]
    assert [(w["file"], w["type"], w["rule"]) for w in written] == [
        ("noise.wav", r["type"], "verdict") for r in rows
    ]
    np.testing.assert_allclose([float(w["onset"]) for w in written], [r["onset"] for r in rows], atol=1e-6)


def _caption(figure: Any) -> str:
    (caption,) = [text.get_text() for text in figure.texts if text.get_label() == "events caption"]
    return caption


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_the_pages_events_agree_with_its_verdict(
    kind: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crackle frames fire where no window reaches the threshold: the recording is judged normal, and the
    page shows no crackle event, says why, and its message, table, CSV and figure agree."""
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page
    from tests.inference.test_event_detection import fire_crackle_frames

    detector = open_detector(str(model_dir))[0] if kind == "torch" else OnnxDetector(model_dir)
    if kind == "torch":  # this detector's own copy: windows stay under 0.9
        detector.model.config.decision_thresholds = [0.9, 0.9]
    else:
        detector.config["decision_thresholds"] = [0.9, 0.9]
    fire_crackle_frames(monkeypatch, (1.0, 1.2))
    recording = _noise(tmp_path / "normal.wav", 6.0)
    window, hop = analysis.default_window()
    result = analyse(detector, recording, window=window, hop=hop)
    assert result.verdict.present == (False, False)
    assert result.events is not None and result.events.events == []
    assert [(e.onset, e.offset, e.label) for e in result.events.left_out] == [(1.0, 1.2, "crackle")]
    why = "left out 1 crackle frame event (the recording is decided crackle-absent)"
    assert why in _caption(result.figure)
    results = page._Results(keep=1)  # kept: its folder goes with it
    message, verdict, _, _, table, files = page._run(
        detector, results, str(recording), None, None, window, hop, lambda *a, **k: None
    )
    assert "Crackles: absent" in verdict and "events: 0 crackle, 0 wheeze" in message and why in message
    assert table["data"] == [] and Path(files[2]).read_text().splitlines() == [",".join(DETECTION_COLUMNS)]


def test_the_onnx_runner_gates_events_as_the_torch_detector_does(model_dir: Path) -> None:
    """Thresholds between the windows' probabilities: two windows decided crackle, none wheeze, while frames
    of both labels fire; the Space's runner and respira.Detector keep and leave out the same events."""
    waveform = np.random.default_rng(7).normal(0, 0.1, 6 * RATE).astype(np.float32)
    torch_detector = open_detector(str(model_dir))[0]
    torch_detector.options.update(window=1.0, hop=0.5)
    runner = OnnxDetector(model_dir)
    windows = torch_detector.predict(waveform, RATE).rows
    crackles = sorted(row["crackle"] for row in windows)
    frames = predict_frames(torch_detector.model, waveform).posteriors
    wheezes = max(row["wheeze"] for row in windows), float(frames[:, 1].max())
    assert wheezes[0] < wheezes[1]  # frames fire where no window does
    thresholds = [(crackles[-2] + crackles[-3]) / 2, sum(wheezes) / 2]
    torch_detector.model.config.decision_thresholds = thresholds
    runner.config["decision_thresholds"] = thresholds
    expected = torch_detector.detect_events(waveform, RATE)
    got = runner.detect_events(waveform, RATE, window=1.0, hop=0.5)
    assert got.rule == expected.rule == "verdict"
    assert got.recording_present == expected.recording_present == (True, False)
    assert [e[:3] for e in got.events] == [e[:3] for e in expected.events]
    assert [e[:3] for e in got.left_out] == [e[:3] for e in expected.left_out]
    assert {e.label for e in expected.events} == {"crackle"}  # something kept, of both labels left out
    assert {e.label for e in expected.left_out} == {"crackle", "wheeze"}
    assert got.describe() == expected.describe()
    # every frame event on request, as before
    assert [e[:3] for e in runner.detect_events(waveform, RATE, rule="frames").events] == [
        e[:3] for e in torch_detector.detect_events(waveform, RATE, rule="frames").events
    ]


def test_the_pages_default_windows_are_those_of_respira_predict(model_dir: Path) -> None:
    from respira.cli import build_parser
    from respira.core.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS

    predict = build_parser().parse_args(["predict", str(model_dir), "a.wav"])
    detector = open_detector(str(model_dir))[0]
    defaults = (DEFAULT_WINDOW_SECONDS, DEFAULT_HOP_SECONDS)
    assert analysis.default_window() == (predict.window, predict.hop) == defaults
    assert (detector.options["window"], detector.options["hop"]) == analysis.default_window()


@pytest.mark.parametrize(("native", "nyquist"), [(8000, 4000.0), (44100, RATE / 2), (RATE, RATE / 2)])
def test_the_spectrogram_ends_at_the_recordings_own_nyquist(
    native: int, nyquist: float, model_dir: Path, tmp_path: Path
) -> None:
    recording = _noise(tmp_path / f"at_{native}.wav", 3.0, rate=native)
    for detector in (open_detector(str(model_dir))[0], OnnxDetector(model_dir)):
        assert analysis.display_rate(recording, RATE) == min(native, RATE)
        result = analyse(detector, recording, window=1.0, hop=0.5)
        (spectrum,) = [ax for ax in result.figure.axes if ax.get_label() == "spectrogram"]
        assert spectrum.get_ylim() == pytest.approx((0.0, nyquist))
        assert spectrum.get_xlim() == pytest.approx((0.0, 3.0))
        # the model still hears the recording at its own rate
        expected = detector.predict(read_audio(recording, RATE), RATE, window=1.0, hop=0.5).rows
        assert [(r["start"], r["crackle"], r["wheeze"]) for r in result.rows] == [
            (r["start"], r["crackle"], r["wheeze"]) for r in expected
        ]
        assert result.duration == pytest.approx(3.0)


def test_a_detector_that_cannot_detect_events_is_analysed_without_them(
    model_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page

    runner = OnnxDetector(model_dir)
    runner.has_frame_outputs = False  # as an export written before the graph had frame outputs
    with pytest.raises(ValueError, match=r"no frame_probabilities output.*export the model again"):
        runner.predict_frames([np.zeros(RATE, np.float32)])
    recording = _noise(tmp_path / "old.wav", 3.0)
    result = analyse(runner, recording, window=1.0, hop=0.5)
    assert result.events is None and result.rows
    assert result.cautions == [
        f"no events are shown: model {runner.name} cannot detect them (an ONNX export written before event "
        "detection: export the model again)"
    ]
    (labels,) = [ax for ax in result.figure.axes if ax.get_label() == "labels"]
    assert [t.get_text() for t in labels.get_yticklabels()] == ["predicted"]
    message, _, _, _, events, files = page._run(
        runner, page._Results(keep=1), str(recording), None, None, 1.0, 0.5, lambda *a, **k: None
    )
    assert message.startswith("**Analysed** old.wav: 3.0 s, 5 windows.\n\n**Caution:** no events are shown")
    assert events["data"] == [] and [Path(f).suffix for f in files] == [".csv", ".json", ".png"]
    # a respira.Detector of such an export (its OnnxClassifier's session), or a detector without the method
    outputs = [SimpleNamespace(name=name) for name in ("probabilities", "present", "label")]
    old = SimpleNamespace(
        detect_events=print, model=SimpleNamespace(session=SimpleNamespace(get_outputs=lambda: outputs))
    )
    assert not analysis.detects_events(old) and not analysis.detects_events(SimpleNamespace())
    assert analysis.detects_events(open_detector(str(model_dir), onnx=True)[0])
    assert analysis.detects_events(open_detector(str(model_dir))[0])


def test_card_facts_say_each_sites_serve_verdict_from_the_card(tmp_path: Path) -> None:
    """The page said the scores and all-normal but not the card's own verdict (issue 49 item 2): the
    shipped detector serves no site it was scored on, and a result the card marks served says so."""
    from respira.app.card_facts import NOT_SHOWN, SERVES
    from respira.pretrained import default_detector_dir

    scored = [fact for fact in card_facts(default_detector_dir()) if fact.startswith("Scored on")]
    assert len(scored) >= 3 and all(fact.endswith(f"({NOT_SHOWN})") for fact in scored)
    card = tmp_path / "README.md"
    card.write_text(
        "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: audio-classification}\n"
        "    dataset: {name: KAUH lung sounds, type: kauh, split: all}\n    metrics:\n"
        "    - {type: icbhi_score, name: Score (%), value: 71.8,\n"
        "       args: {serves: true, interval_95: [60.1, 80.2]}}\n"
        "    - {type: icbhi_score, name: All-normal baseline (%), value: 50.0}\n---\n"
    )
    facts = card_facts(None, card=card)
    assert facts[1] == (
        f"Scored on KAUH lung sounds (all): Score (%) 71.8 [60.1, 80.2] vs all-normal 50.0 ({SERVES})"
    )
