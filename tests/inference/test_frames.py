"""respira.inference.frames: frame posteriors on a fixed grid from the encoder's time steps, and
events."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

from respira.cli import main
from respira.inference.detector import Detector, PredictionError
from respira.inference.event_rules import (
    DETECTION_COLUMNS,
    FRAMES_RULE,
    VERDICT_RULE,
    EventDetection,
    FramePosteriors,
    gate_by_verdict,
)
from respira.inference.frames import (
    MirroredRecording,
    RecordingInMemory,
    StreamedRecording,
    iter_chunk_spans,
    predict_frames,
)
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.audio_decoding import read_audio, resample
from respira.models.respira.decision import (
    EVENT_COLUMNS,
    Event,
    EventSettings,
    LabelEventSettings,
    decide,
    posteriors_to_events,
)
from respira.models.respira.labels import MULTI_LABEL

from ..conftest import save_tiny_model

RATE = 16000
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}


def tiny_model(**config: object) -> RespiraForAudioClassification:
    torch.manual_seed(0)
    options = {"target_seconds": 1.0, "problem_type": MULTI_LABEL, **config}
    return RespiraForAudioClassification(RespiraConfig(encoder_config=dict(TINY_ENCODER), **options)).eval()


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.mark.parametrize(
    ("total", "chunk", "margin", "expected"),
    [
        (30, 40, 5, [(0, 30)]),  # shorter than a chunk: itself
        (40, 40, 5, [(0, 40)]),
        (100, 40, 5, [(0, 40), (30, 70), (60, 100)]),  # every 30, the last one ends at the end
        (75, 40, 5, [(0, 40), (30, 70), (35, 75)]),
    ],
)
def test_chunks_step_by_the_chunk_minus_both_margins_and_end_at_the_end(total, chunk, margin, expected):
    recording = RecordingInMemory(None, np.zeros(total), prepared=True)
    spans = list(iter_chunk_spans(recording, chunk, margin))
    assert [(start, stop) for start, stop, _ in spans] == expected
    assert [last for *_, last in spans] == [False] * (len(spans) - 1) + [True]


def test_chunks_refuse_margins_that_leave_nothing():
    with pytest.raises(ValueError, match="cannot keep"):
        next(iter_chunk_spans(RecordingInMemory(None, np.zeros(100), prepared=True), 10, 5))


@pytest.mark.parametrize("total", [5, 40, 41, 69, 70, 71, 100, 333])
def test_spans_read_as_needed_step_by_the_chunk_and_end_at_the_end(total):
    recording = RecordingInMemory(SimpleNamespace(sampling_rate=RATE, lowpass_cutoff=None), np.zeros(total))
    spans = list(iter_chunk_spans(recording, 40, 5))
    starts = [start for start, _, _ in spans]
    assert starts[:-1] == [30 * i for i in range(len(spans) - 1)] and spans[-1][1] == total
    assert all(stop - start == min(40, total) for start, stop, _ in spans)
    assert [last for *_, last in spans] == [False] * (len(spans) - 1) + [True]


LOWPASSED = SimpleNamespace(sampling_rate=RATE, lowpass_cutoff=2000.0, lowpass_order=4)


def blocks_of(signal: np.ndarray, sizes: list[int]):
    """``signal`` in blocks of the given sizes, cycled."""
    start, index = 0, 0
    while start < signal.shape[0]:
        yield signal[start : start + sizes[index % len(sizes)]]
        start += sizes[index % len(sizes)]
        index += 1


def test_a_streamed_recording_is_the_whole_recording_low_passed_span_by_span():
    """Spans of the streamed signal, each filtered with a second of context, equal the same spans of the
    whole-recording filter to float32 resolution, at the edges as in the middle; and the stream keeps only
    what the next spans need (never more than a chunk, the filter's context on both sides and a block)."""
    signal = noise(30.0, seed=6)
    whole = RecordingInMemory(LOWPASSED, signal)
    streamed = StreamedRecording(LOWPASSED, blocks_of(signal, [7_001, 20_000, 333]))
    held = 0
    for start, stop, _ in iter_chunk_spans(streamed, 2 * RATE, RATE // 4):
        np.testing.assert_allclose(streamed.segment(start, stop), whole.segment(start, stop), atol=1e-6)
        held = max(held, streamed.buffer.shape[0])
    assert streamed.total() == signal.shape[0]
    assert held <= 2 * RATE + 2 * RATE + 20_000  # chunk + 2 × 1 s of context + the largest block
    with pytest.raises(ValueError, match="dropped"):
        streamed.segment(0, 10)


def test_files_are_detected_block_by_block_as_their_decoded_waveform_is(tmp_path: Path):
    path = tmp_path / "long.wav"
    sf.write(path, noise(7.7, seed=8), RATE)
    model = tiny_model(lowpass_cutoff=3000.0)
    streamed = predict_frames(model, path, batch_size=2)
    whole = predict_frames(model, read_audio(path, RATE), batch_size=3)
    assert streamed.posteriors.shape == whole.posteriors.shape == (385, 2)
    np.testing.assert_allclose(streamed.posteriors, whole.posteriors, atol=1e-5)
    assert streamed.duration == whole.duration
    detection = Detector(model).detect_events(path, thresholds=(0.0, 1.0), rule=FRAMES_RULE)
    assert detection.file == str(path) and [e.label for e in detection.events] == ["crackle"]


class RampModel:
    """A stand-in with the ONNX export's ``predict_frames``: each step's crackle probability is the
    sample at the step's centre, so a waveform that ramps over the recording reads back as the time."""

    def __init__(self, target_seconds: float, step_seconds: float) -> None:
        self.config = RespiraConfig(
            encoder_config=dict(TINY_ENCODER), target_seconds=target_seconds, problem_type=MULTI_LABEL
        )
        self.step = step_seconds
        self.chunk_lengths: list[int] = []

    def predict_frames(self, waveforms, batch_size):
        out = []
        for waveform in waveforms:
            self.chunk_lengths.append(waveform.shape[0])
            times = np.arange(self.step / 2, self.config.target_seconds, self.step)
            samples = waveform[np.minimum((times * RATE).astype(int), waveform.shape[0] - 1)]
            out.append((times, np.stack([samples, 1 - samples], axis=1)))
        return out


def test_chunks_are_stitched_in_time_whatever_their_overlap():
    """A 10.3 s ramp from 0 to 1 read through 2 s chunks with 0.5 s margins (and 0.5 s of its mirror image
    at each end): every frame's crackle posterior is the ramp at the frame's centre (linear interpolation
    of a linear signal is exact), so no chunk is misplaced in time; at the edges the steps either side of
    the recording's first and last samples read the same mirrored value."""
    seconds = 10.3
    ramp = np.linspace(0, 1, int(seconds * RATE), endpoint=False, dtype=np.float32)
    model = RampModel(target_seconds=2.0, step_seconds=0.25)
    frames = predict_frames(model, ramp, frame_hop_seconds=0.05, batch_size=2)
    assert frames.posteriors.shape == (206, 2) and frames.hop_seconds == 0.05
    assert frames.duration == pytest.approx(seconds)
    # 11.3 s with the mirrored margins, every 1 s (2 s minus two 0.5 s margins), the last at the end
    assert model.chunk_lengths == [2 * RATE] * 11
    inner = (frames.times > 0.125) & (frames.times < seconds - 0.125)
    np.testing.assert_allclose(frames.posteriors[inner, 0], frames.times[inner] / seconds, atol=2e-4)
    np.testing.assert_allclose(frames.posteriors[:, 0] + frames.posteriors[:, 1], 1.0, atol=1e-6)
    assert frames.posteriors[0, 0] == pytest.approx(0.125 / seconds, abs=2e-4)  # steps at ±0.125 s


def test_a_frame_is_read_from_the_chunk_where_it_lies_farthest_from_an_edge():
    """Each chunk reports its own index: with the recording's 0.5 s mirrored margins the chunks cover
    -0.5-1.5 s, 0.5-2.5 s, 1.5-3.5 s and 2.5-4.5 s, and each frame comes from the chunk in which it is most
    central: 0-1 s from chunk 0, 1-2 s from chunk 1, 2-3 s from chunk 2, 3-4 s from chunk 3."""

    class IndexModel(RampModel):
        def predict_frames(self, waveforms, batch_size):
            out = []
            for waveform in waveforms:
                index = len(self.chunk_lengths)
                self.chunk_lengths.append(waveform.shape[0])
                times = np.arange(0.05, 2.0, 0.1)
                out.append((times, np.tile([index / 10, 0.0], (times.size, 1))))
            return out

    model = IndexModel(target_seconds=2.0, step_seconds=0.1)
    frames = predict_frames(model, noise(4.0), frame_hop_seconds=0.1, batch_size=8)
    source = np.round(frames.posteriors[:, 0] * 10).astype(int)
    assert source.tolist() == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 10


def test_one_chunk_recordings_read_the_models_own_frames():
    """A recording of one chunk with its mirrored margins (0.5 s and 0.25 s of mirror image at each end):
    the grid is the model's step posteriors of that chunk interpolated at frame centres, 0.25 s earlier."""
    model = tiny_model()
    audio = noise(0.5, seed=3)
    frames = predict_frames(model, audio, frame_hop_seconds=0.02)
    chunk = np.pad(audio, RATE // 4, mode="reflect")
    with torch.no_grad():
        out = model(torch.from_numpy(chunk)[None], output_frames=True)
    times = out.frame_times.numpy() - 0.25
    steps = out.frame_logits[0].sigmoid().numpy()
    expected = np.stack([np.interp(frames.times, times, steps[:, k]) for k in range(2)], axis=1)
    np.testing.assert_allclose(frames.posteriors, expected, atol=1e-6)
    assert frames.posteriors.shape == (25, 2)


@pytest.mark.parametrize("total", [3, 10, 40, 41, 100])
def test_a_mirrored_recording_is_the_recording_padded_with_its_reflection(total):
    """Whatever spans are asked for, in memory or streamed: ``numpy.pad``'s ``reflect`` of the recording."""
    signal = np.arange(total, dtype=np.float32)
    margin = 5 if total > 5 else 0
    expected = np.pad(signal, margin, mode="reflect")
    config = SimpleNamespace(sampling_rate=RATE, lowpass_cutoff=None)
    for inner in (RecordingInMemory(config, signal), StreamedRecording(config, blocks_of(signal, [7, 3]))):
        mirrored = MirroredRecording(inner, margin)
        spans = list(iter_chunk_spans(mirrored, 20, 4))
        assert mirrored.total() == expected.shape[0]
        for start, stop, _ in spans:
            np.testing.assert_array_equal(mirrored.segment(start, stop), expected[start:stop])


@pytest.mark.real_data
def test_frame_event_onsets_are_uniform_over_time_on_normal_recordings(shared_kauh: Path):
    """The recording's start is no edge of the model's input: on KAUH's normal recordings, cut 3 s in (so
    that they start mid-breath, not at the stethoscope's placement), as many frame events start in the
    first 0.5 s as in any 0.5 s. Before the mirrored margins the encoder's padding at the start made 19
    onsets there (18 at exactly 0.0 s) against 3.9 expected; with them, 4 against 3.0."""
    detector = Detector.from_pretrained()
    files = sorted(shared_kauh.glob("*_N,N*.wav"))
    assert len(files) >= 20
    early, expected, count = 0, 0.0, 0
    for file in files:
        audio = read_audio(file, 4000)
        cut = resample(audio[3 * 4000 :], 4000, detector.sampling_rate)
        detection = detector.detect_events(cut, detector.sampling_rate, rule=FRAMES_RULE)  # no verdict
        onsets = [event.onset for event in detection.events]
        count += len(onsets)
        early += sum(onset < 0.5 for onset in onsets)
        expected += len(onsets) * 0.5 / detection.frames.duration
    assert count >= 40  # enough events to say where they start
    assert early <= 2 * expected


def test_single_label_models_give_crackle_as_crackle_plus_both():
    model = tiny_model(problem_type="single_label_classification")
    audio = noise(0.5, seed=4)
    frames = predict_frames(model, audio, frame_hop_seconds=0.1)
    with torch.no_grad():  # one chunk: the recording with its 0.25 s mirrored margins
        out = model(torch.from_numpy(np.pad(audio, RATE // 4, mode="reflect"))[None], output_frames=True)
    flags = decide(out.frame_logits[0].softmax(-1).numpy(), model.config).flags
    expected = np.interp(frames.times, out.frame_times.numpy() - 0.25, flags[:, 0])
    np.testing.assert_allclose(frames.posteriors[:, 0], expected, atol=1e-6)


def test_detect_events_decides_at_the_models_thresholds_with_its_event_settings():
    settings = EventSettings(
        crackle=LabelEventSettings(0.0, 0.0, 0.0), wheeze=LabelEventSettings(0.0, 0.3, 0.0)
    )
    model = tiny_model(decision_thresholds=[0.45, 0.55], event_settings=settings.to_dict())
    audio = noise(3.0, seed=1)
    detector = Detector(model)
    detection = detector.detect_events(audio, RATE, rule=FRAMES_RULE)
    frames = predict_frames(detector.inference_model, audio)
    assert detection.rule == FRAMES_RULE and detection.left_out == ()
    assert detection.thresholds == (0.45, 0.55) and detection.settings == settings
    assert detection.events == posteriors_to_events(frames.posteriors, 0.02, (0.45, 0.55), settings)
    low = detector.detect_events(audio, RATE, thresholds=(0.0, 0.0), rule=FRAMES_RULE)  # one event per label
    with pytest.raises(PredictionError, match="rule must be 'verdict' or 'frames', got 'none'"):
        detector.detect_events(audio, RATE, rule="none")
    assert [(e.onset, e.offset, e.label) for e in low.events] == [(0.0, 3.0, "crackle"), (0.0, 3.0, "wheeze")]


def test_event_settings_in_the_config_are_checked_and_survive_save_and_load(tmp_path: Path):
    with pytest.raises(StrictDataclassClassValidationError, match="exactly the labels"):
        RespiraConfig(encoder_config=dict(TINY_ENCODER), event_settings={"crackle": {}})
    settings = EventSettings(wheeze=LabelEventSettings(0.2, 0.25, 0.05)).to_dict()
    tiny_model(event_settings=settings).save_pretrained(tmp_path)
    assert RespiraConfig.from_pretrained(tmp_path).event_settings == settings


def test_options_out_of_range_are_one_line_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"frame_hop_seconds must be in \(0, 0.1\]"):
        predict_frames(model, noise(1.0), frame_hop_seconds=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        predict_frames(model, noise(1.0), batch_size=0)


def test_results_are_rows_and_json():
    detection = EventDetection(
        [Event(0.5, 0.9, "wheeze", 0.8)],
        SimpleNamespace(duration=2.0, hop_seconds=0.02),
        (0.5, 0.5),
        EventSettings(),
        "a.wav",
    )
    assert detection.to_rows() == [
        {"file": "a.wav", "onset": 0.5, "offset": 0.9, "type": "wheeze", "confidence": 0.8, "rule": "frames"}
    ]
    assert tuple(detection.to_rows()[0]) == DETECTION_COLUMNS == (*EVENT_COLUMNS, "rule")
    written = json.loads(json.dumps(detection.to_dict()))
    assert written["events"][0]["type"] == "wheeze" and written["rule"] == "frames"
    assert written["left_out"] == {"crackle": 0, "wheeze": 0}


# ------------------------------------------------------------------------------------ Detector and CLI
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(
        tmp_path_factory.mktemp("events_model"), problem_type=MULTI_LABEL, decision_thresholds=[0.0, 1.0]
    )


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events_audio") / "eight_k.wav"
    sf.write(path, (0.1 * np.random.default_rng(2).standard_normal(3 * 8000)).astype(np.float32), 8000)
    return path


def test_detector_detects_events_in_files_and_waveforms_alike(model_dir: Path, recording: Path):
    """Thresholds 0 and 1: crackle present in every frame, wheeze in none."""
    detector = Detector.from_pretrained(model_dir, device="cpu")
    from_file = detector.detect_events(recording)
    assert from_file.file == str(recording)
    assert [(e.onset, e.offset, e.label) for e in from_file.events] == [(0.0, 3.0, "crackle")]
    audio, rate = sf.read(recording, dtype="float32")
    from_waveform = detector.detect_events(audio, rate)
    np.testing.assert_allclose(from_waveform.frames.posteriors, from_file.frames.posteriors, atol=1e-5)
    assert from_waveform.file is None


def test_detector_errors_name_the_file(model_dir: Path, tmp_path: Path):
    detector = Detector.from_pretrained(model_dir, device="cpu")
    missing = tmp_path / "missing.wav"
    with pytest.raises(PredictionError, match=r"missing\.wav") as error:
        detector.detect_events(missing)
    assert "\n" not in str(error.value)
    with pytest.raises(PredictionError, match="sampling_rate applies to a waveform"):
        detector.detect_events(missing, 8000)


def test_predict_events_writes_one_row_per_event(model_dir: Path, recording: Path, tmp_path: Path, capsys):
    output = tmp_path / "events.csv"
    assert main(["predict", str(model_dir), str(recording), "--events", "--output", str(output)]) == 0
    lines = output.read_text().splitlines()
    assert lines[0] == ",".join(DETECTION_COLUMNS)
    assert lines[1].startswith(f"{recording},0.0,3.0,crackle,") and lines[1].endswith(",verdict")
    assert len(lines) == 2
    assert "wrote 1 events for 1 file(s)" in capsys.readouterr().out
    as_json = tmp_path / "events.json"
    assert main(["predict", str(model_dir), str(recording), "--events", "--output", str(as_json)]) == 0
    assert [row["type"] for row in json.loads(as_json.read_text())] == ["crackle"]


def test_predict_events_without_events_still_writes_the_header(tmp_path: Path, recording: Path):
    folder = save_tiny_model(tmp_path / "never", problem_type=MULTI_LABEL, decision_thresholds=[1.0, 1.0])
    output = tmp_path / "none.csv"
    assert main(["predict", str(folder), str(recording), "--events", "--output", str(output)]) == 0
    assert output.read_text().splitlines() == [",".join(DETECTION_COLUMNS)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--per_recording"], "--events detects events over whole recordings: drop --per_recording"),
        (["--frame_hop", "0.2"], r"--frame_hop must be in \(0, 0.1\] seconds, got 0.2"),
    ],
)
def test_predict_events_refuses_options_that_do_not_apply(
    model_dir, recording, tmp_path, capsys, extra, message
):
    output = tmp_path / "refused.csv"
    assert main(["predict", str(model_dir), str(recording), "--events", "--output", str(output), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert pytest.importorskip("re").search(message, error)
    assert not output.exists()


def test_frame_hop_without_events_is_refused(model_dir: Path, recording: Path, capsys):
    assert main(["predict", str(model_dir), str(recording), "--frame_hop", "0.05"]) == 2
    assert "--frame_hop applies to --events" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the verdict rule
GATE_CONFIG = {"problem_type": MULTI_LABEL, "decision_thresholds": [0.5, 0.5]}
WINDOWS = [
    {"start": 0.0, "end": 4.0, "crackle": 0.7, "wheeze": 0.2, "label": "crackle"},
    {"start": 2.0, "end": 6.0, "crackle": 0.3, "wheeze": 0.2, "label": "normal"},
    {"start": 4.0, "end": 8.0, "crackle": 0.3, "wheeze": 0.2, "label": "normal"},
]
FRAME_EVENTS = [
    Event(1.0, 1.2, "crackle", 0.9),  # inside the crackle window
    Event(1.0, 2.0, "wheeze", 0.8),  # the recording is wheeze-absent
    Event(3.9, 4.5, "crackle", 0.8),  # overlaps the crackle window
    Event(5.0, 5.5, "crackle", 0.7),  # only in normal windows
]


def _frame_detection(events: list[Event] = FRAME_EVENTS) -> EventDetection:
    frames = FramePosteriors(np.zeros((400, 2)), 0.02, 8.0)
    return EventDetection(list(events), frames, (0.5, 0.5), EventSettings(), "a.wav")


def test_the_verdict_rule_keeps_an_event_only_where_a_window_decided_its_label_holds_it():
    gated = gate_by_verdict(_frame_detection(), WINDOWS, GATE_CONFIG)
    assert gated.events == [FRAME_EVENTS[0], FRAME_EVENTS[2]]
    assert gated.left_out == (FRAME_EVENTS[1], FRAME_EVENTS[3])
    assert gated.rule == VERDICT_RULE and gated.recording_present == (True, False)
    assert [row["rule"] for row in gated.to_rows()] == ["verdict", "verdict"]
    assert gated.to_dict()["left_out"] == {"crackle": 1, "wheeze": 1}
    assert gated.describe() == (
        "events: 2 crackle, 0 wheeze, shown where the recording's verdict holds them (verdict rule: the "
        "recording decided present and a window decided present around the event); left out 1 crackle "
        "frame event (outside every window decided crackle-present) and 1 wheeze frame event (the "
        "recording is decided wheeze-absent)"
    )
    # gated again by other windows: every frame event is judged afresh
    all_crackle = [{**row, "crackle": 0.6, "label": "crackle"} for row in WINDOWS]
    crackles = [event for event in FRAME_EVENTS if event.label == "crackle"]
    assert gate_by_verdict(gated, all_crackle, GATE_CONFIG).events == crackles
    # the frames rule says what it is: every frame event, whatever the verdict
    assert "whatever the recording's verdict (frames rule)" in _frame_detection().describe()


def test_the_verdict_rule_follows_the_recordings_verdict_not_only_its_windows():
    # the mean of the 3 largest crackle probabilities (0.43) is under 0.5: the recording is crackle-absent
    # although one window is labelled crackle, so no crackle event is held
    gated = gate_by_verdict(_frame_detection(), WINDOWS, GATE_CONFIG, aggregation="topk_mean", top_k=3)
    assert gated.events == [] and gated.recording_present == (False, False)
    assert "left out 3 crackle frame events (the recording is decided crackle-absent)" in gated.describe()
    cycles = [{**row, "annotated_label": "normal"} for row in WINDOWS]
    assert (
        "outside every cycle decided crackle-present"
        in gate_by_verdict(_frame_detection(), cycles, GATE_CONFIG).describe()
    )
    with pytest.raises(ValueError, match="no windows"):
        gate_by_verdict(_frame_detection(), [], GATE_CONFIG)


def fire_crackle_frames(monkeypatch: pytest.MonkeyPatch, seconds: tuple[float, float] = (1.0, 1.2)) -> None:
    """Frame posteriors of every model as computed, but crackle 0.99 over ``seconds``: frames that fire
    where the windows (whose probabilities stay those of the model) need not."""
    from respira.inference import frames as frame_module

    computed = frame_module.predict_frames

    def firing(*args: object, **kwargs: object) -> FramePosteriors:
        frames = computed(*args, **kwargs)
        posteriors = frames.posteriors.copy()
        first, stop = (round(value / frames.hop_seconds) for value in seconds)
        posteriors[first:stop, 0] = 0.99
        return FramePosteriors(posteriors, frames.hop_seconds, frames.duration)

    monkeypatch.setattr(frame_module, "predict_frames", firing)


def test_a_recording_judged_normal_carries_no_event_unless_the_output_says_why(
    tmp_path: Path, recording: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    folder = save_tiny_model(tmp_path / "strict", problem_type=MULTI_LABEL, decision_thresholds=[0.9, 0.9])
    fire_crackle_frames(monkeypatch)
    verdicts = tmp_path / "verdicts.json"
    assert main(["predict", str(folder), str(recording), "--per_recording", "--output", str(verdicts)]) == 0
    assert json.loads(verdicts.read_text())[0]["label"] == "normal"
    capsys.readouterr()
    output = tmp_path / "events.csv"
    assert main(["predict", str(folder), str(recording), "--events", "--output", str(output)]) == 0
    assert output.read_text().splitlines() == [",".join(DETECTION_COLUMNS)]  # no event
    said = capsys.readouterr().err
    assert f"{recording}: events: 0 crackle, 0 wheeze, shown where the recording's verdict holds them" in said
    assert "left out 1 crackle frame event (the recording is decided crackle-absent)" in said
    # the Detector: the same rule, the frame event it left out kept with its reason
    detector = Detector.from_pretrained(folder, device="cpu")
    found = detector.detect_events(recording)
    assert found.events == [] and [e.label for e in found.left_out] == ["crackle"]
    prediction = detector.predict_file(recording)
    reused = detector.detect_events(recording, prediction=prediction)
    assert reused.left_out == found.left_out and len(reused.left_out) == 1
