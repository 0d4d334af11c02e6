"""``pipeline("audio-classification")`` decides as ``respira predict`` does, and so does ``model.onnx``.

A tiny multi-label CNN gets thresholds between its own probabilities on real ICBHI cycles, away
from 0.5 and chosen so that they change decisions; its export (with code and ONNX) must then give
``respira predict``'s labels through the pipeline with respira, through the shipped code in a process
that cannot import respira (nor torchaudio), and as the ONNX graph's ``present`` / ``label``. Arrays at
10 kHz are resampled with soxr, and inputs longer than the model's ``target_seconds`` are scored by
windows aggregated as recording-level evaluation aggregates them.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import pipeline

from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.data.text_files import read_annotations
from respira.hub import export_model
from respira.hub.onnx import INPUT_NAME, LABEL_NAME, ONNX_FILE, OUTPUT_NAMES, PRESENT_NAME, load_onnx_model
from respira.inference.windowing import analysis_frame_samples, predict_windows
from respira.models.respira import RespiraAudioClassificationPipeline
from respira.models.respira.audio_decoding import (
    AudioDecodingError,
    AudioReadError,
    ShortRecordingWarning,
    read_audio,
    resample,
)
from respira.models.respira.decision import class_scores, decide, decide_recording, flag_class_scores
from respira.models.respira.labels import CLASS_NAMES, MULTI_LABEL, classes_to_flags
from respira.models.respira.windows import aggregate_windows

from ..conftest import encode_aac
from ..hub.test_remote_code import run_without_respira
from .encoder_tester import CASES

RATE = 16000
TARGET_SECONDS = 8.0
LONG_SECONDS = 26.0
TOLERANCE = 1e-5
RECORDINGS = ("104_1b1_Al_sc_Litt3200", "101_1b1_Al_sc_Meditron", "223_1b1_Al_sc_Meditron")
"""One recording per sampling rate of the sample (4 kHz, 44.1 kHz, 10 kHz; checked below)."""


@dataclass
class Decided:
    """The exported model and what ``respira predict`` says of the real cycles."""

    model: RespiraForAudioClassification
    folder: Path
    cycles: list[np.ndarray]
    rows: list[dict]
    at_one_half: list[str]
    long_10k: np.ndarray


def _between(values: np.ndarray, quantile: float) -> float:
    """A threshold halfway between two neighbouring values (never on one): decisions are unambiguous."""
    ordered = np.unique(values)
    index = int(quantile * (len(ordered) - 1))
    return float((ordered[index] + ordered[index + 1]) / 2)


def _cut(waveform: np.ndarray, start: float, end: float) -> np.ndarray:
    first = round(start * RATE)  # as respira.inference.windowing.plan_windows cuts a cycle
    return waveform[first : min(max(round(end * RATE), first + 1), waveform.shape[0])]


@pytest.fixture(scope="module")
def decided(shared_icbhi: Path, tmp_path_factory: pytest.TempPathFactory) -> Decided:
    root = tmp_path_factory.mktemp("decided")
    folder = shared_icbhi / "ICBHI_final_database"
    wavs = [folder / f"{name}.wav" for name in RECORDINGS]
    assert sorted(sf.info(wav).samplerate for wav in wavs) == [4000, 10000, 44100]
    model = CASES["cnn"].model(target_seconds=TARGET_SECONDS, problem_type=MULTI_LABEL)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(200.0)  # spread the tiny model's probabilities out of 0.5 ± 0.01
    rows = _cycle_rows(model, wavs)
    keep = [i for i, row in enumerate(rows) if row["end"] - row["start"] <= TARGET_SECONDS]
    at_one_half = [rows[i]["label"] for i in keep]
    crackle = np.array([rows[i]["crackle"] for i in keep])
    wheeze = np.array([rows[i]["wheeze"] for i in keep])
    thresholds = [_between(crackle, 0.3), _between(wheeze, 0.7)]
    assert all(abs(t - 0.5) > 0.01 for t in thresholds), thresholds
    model.config.decision_thresholds = thresholds
    rows = _cycle_rows(model, wavs)
    rows = [rows[i] for i in keep]
    labels = [row["label"] for row in rows]
    assert labels != at_one_half and len(set(labels)) >= 3, (labels, at_one_half)
    audio = {str(wav): read_audio(wav, RATE) for wav in wavs}
    cycles = [_cut(audio[row["file"]], row["start"], row["end"]) for row in rows]
    model.save_pretrained(root / "run")
    RespiraFeatureExtractor().save_pretrained(root / "run")
    export = export_model(root / "run", root / "export", with_code=True, onnx=True)
    long_10k, rate = sf.read(wavs[2], dtype="float32")
    assert rate == 10000 and long_10k.shape[0] > LONG_SECONDS * rate
    return Decided(model, export, cycles, rows, at_one_half, long_10k[: int(LONG_SECONDS * rate)])


def _cycle_rows(model: RespiraForAudioClassification, wavs: list[Path]) -> list[dict]:
    """The rows of each recording's annotated cycles, as ``respira predict --annotations`` predicts them."""
    rows = []
    for wav in wavs:
        cycles = [(cycle.start, cycle.end) for cycle in read_annotations(wav.with_suffix(".txt"))]
        predicted = predict_windows(model, read_audio(wav, RATE), cycles=cycles, name=str(wav))
        rows += [{"file": str(wav), **row} for row in predicted]
    return rows


def _scores(output: list[dict]) -> dict[str, float]:
    return {item["label"]: item["score"] for item in output}


def _expected_scores(model: RespiraForAudioClassification, flags: np.ndarray) -> tuple[dict, str]:
    scores, decision = class_scores(np.atleast_2d(flags), model.config)
    return dict(zip(CLASS_NAMES, scores[0].tolist(), strict=True)), decision.labels[0]


def _windowed(model: RespiraForAudioClassification, waveform_16k: np.ndarray) -> tuple[dict, str]:
    """What the pipeline must answer for a long input: ``respira predict``'s 4 s / 2 s windows, each
    label's maximum over them (recording-level evaluation's aggregation), decided."""
    windows = predict_windows(model, waveform_16k)
    assert len(windows) > 1
    flags = aggregate_windows([[row["crackle"], row["wheeze"]] for row in windows], "max")
    return _expected_scores(model, flags)


# ------------------------------------------------------------------------------------------ with respira
def _respira_pipeline(folder: Path) -> RespiraAudioClassificationPipeline:
    """respira's pipeline on ``folder``, as transformers' ``pipeline_class`` argument forces it."""
    return pipeline(
        "audio-classification", model=str(folder), pipeline_class=RespiraAudioClassificationPipeline
    )


def test_the_pipeline_config_json_names_asks_for_trust_remote_code(decided: Decided) -> None:
    """``import respira`` leaves ``pipeline()`` transformers' own: the export's ``custom_pipelines`` is
    remote code, refused (transformers' message) without ``trust_remote_code`` or a ``pipeline_class``."""
    with pytest.raises(ValueError, match=r"set the option `trust_remote_code=True` to remove this error"):
        pipeline("audio-classification", model=str(decided.folder))


def test_the_pipeline_decides_as_respira_predict(decided: Decided) -> None:
    classify = _respira_pipeline(decided.folder)
    assert type(classify) is RespiraAudioClassificationPipeline
    for cycle, row in zip(decided.cycles, decided.rows, strict=True):
        output = classify(cycle, top_k=None)
        assert output[0]["label"] == row["label"]
        assert sorted(item["label"] for item in output) == sorted(CLASS_NAMES)
        expected, label = _expected_scores(decided.model, np.array([row["crackle"], row["wheeze"]]))
        assert label == row["label"]
        assert _scores(output) == pytest.approx(expected, abs=TOLERANCE)
        assert sum(_scores(output).values()) == pytest.approx(1.0)
        assert classify(cycle, top_k=1) == output[:1]
    # function_to_apply keeps its transformers meaning: the model's own outputs, undecided
    raw = classify(decided.cycles[0], function_to_apply="sigmoid")
    row = decided.rows[0]
    assert _scores(raw) == pytest.approx({"crackle": row["crackle"], "wheeze": row["wheeze"]}, abs=TOLERANCE)


def test_the_onnx_graph_decides_as_respira_predict(decided: Decided) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(decided.folder / ONNX_FILE), providers=["CPUExecutionProvider"]
    )
    assert [output.name for output in session.get_outputs()] == list(OUTPUT_NAMES)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["decision_thresholds"]) == decided.model.config.decision_thresholds
    assert json.loads(metadata["class_names"]) == list(CLASS_NAMES)
    for cycle, row in zip(decided.cycles, decided.rows, strict=True):
        probabilities, present, label, *_frames = session.run(None, {INPUT_NAME: cycle[None]})
        assert present.dtype == bool and label.dtype == np.int64
        assert CLASS_NAMES[int(label[0])] == row["label"]
        assert (
            present[0].tolist()
            == classes_to_flags([CLASS_NAMES.index(row["label"])])[0].astype(bool).tolist()
        )
        np.testing.assert_allclose(probabilities[0], [row["crackle"], row["wheeze"]], atol=1e-4)
    # respira predict --onnx still reads the probabilities and decides the same
    onnx_model = load_onnx_model(decided.folder)
    batch = np.stack([cycle[:RATE] for cycle in decided.cycles if cycle.shape[0] >= RATE])
    torch_decision = decide(onnx_model.predict_probabilities(list(batch)), decided.model.config)
    _, present, label = session.run([OUTPUT_NAMES[0], PRESENT_NAME, LABEL_NAME], {INPUT_NAME: batch})
    np.testing.assert_array_equal(label, torch_decision.classes)
    np.testing.assert_array_equal(present, torch_decision.present)


def test_a_long_10_khz_input_is_resampled_and_windowed(decided: Decided) -> None:
    classify = _respira_pipeline(decided.folder)
    output = classify({"raw": decided.long_10k, "sampling_rate": 10000}, top_k=None)
    assert "torchaudio" not in sys.modules
    expected, label = _windowed(decided.model, resample(decided.long_10k, 10000, RATE))
    assert output[0]["label"] == label
    assert _scores(output) == pytest.approx(expected, abs=TOLERANCE)
    # not what the model alone gives (it would crop the input to its first target_seconds)
    start = resample(decided.long_10k, 10000, RATE)[: decided.model.config.target_samples]
    assert _scores(classify(start, top_k=None)) != pytest.approx(expected, abs=1e-3)


def test_batches_of_short_and_long_inputs_give_each_its_own_answer(decided: Decided) -> None:
    classify = _respira_pipeline(decided.folder)
    inputs = [decided.cycles[0], resample(decided.long_10k, 10000, RATE), decided.cycles[1]]
    batched = classify(inputs, batch_size=2, top_k=None)  # padded together: the masks give each length
    for one, output in zip(inputs, batched, strict=True):
        alone = classify(one, top_k=None)
        assert [item["label"] for item in output] == [item["label"] for item in alone]
        assert _scores(output) == pytest.approx(_scores(alone), abs=TOLERANCE)


def test_window_options_are_checked_in_one_line(decided: Decided) -> None:
    classify = _respira_pipeline(decided.folder)
    wave = resample(decided.long_10k, 10000, RATE)
    for options, message in (
        ({"window": 9.0}, "longer than the model's target_seconds"),
        ({"window": 2.0, "hop": 3.0}, "hop 3 s is longer than the window"),
        ({"hop": -1}, "hop must be a positive number of seconds"),
        ({"hop": 0.002}, "more than the limit of 10000"),
    ):
        with pytest.raises(ValueError, match=message) as error:
            classify(wave, **options)
        assert "\n" not in str(error.value)
    two_second_windows = classify(wave, window=2.0, hop=1.0, top_k=None)
    windows = predict_windows(decided.model, wave, window=2.0, hop=1.0)
    flags = aggregate_windows([[row["crackle"], row["wheeze"]] for row in windows], "max")
    assert _scores(two_second_windows) == pytest.approx(
        _expected_scores(decided.model, flags)[0], abs=TOLERANCE
    )


def test_a_file_is_read_as_respira_predict_reads_it(decided: Decided, tmp_path: Path) -> None:
    classify = _respira_pipeline(decided.folder)
    path = tmp_path / "cycle_10k.wav"
    sf.write(path, decided.long_10k[: 3 * 10_000], 10_000, subtype="PCM_16")
    as_predict_reads_it = _scores(classify(read_audio(path, RATE), top_k=None))  # soundfile + soxr
    for given in (str(path), path.read_bytes()):
        assert _scores(classify(given, top_k=None)) == pytest.approx(as_predict_reads_it, abs=1e-7)
    with pytest.raises(AudioReadError, match="no such file"):
        classify(str(tmp_path / "missing.wav"))
    # a codec libsndfile does not read (AAC): read_audio decodes it with torchcodec, as predict does; where
    # torchcodec is missing (a plain transformers install), transformers' ffmpeg reader still reads it
    aac = tmp_path / "cycle.m4a"
    encode_aac(path, aac)
    as_predict_reads_aac = _scores(classify(read_audio(aac, RATE), top_k=None))
    assert _scores(classify(str(aac), top_k=None)) == pytest.approx(as_predict_reads_aac, abs=1e-7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "torchcodec.decoders", None)
        with pytest.raises(AudioDecodingError):
            read_audio(aac, RATE)
        assert sorted(item["label"] for item in classify(str(aac), top_k=None)) == sorted(CLASS_NAMES)


def test_a_single_label_model_keeps_its_softmax(tmp_path: Path) -> None:
    model = CASES["cnn"].model(target_seconds=1.0)
    model.save_pretrained(tmp_path)
    RespiraFeatureExtractor().save_pretrained(tmp_path)
    classify = _respira_pipeline(tmp_path)
    wave = (0.1 * np.random.default_rng(0).standard_normal(int(0.7 * RATE))).astype(np.float32)
    with torch.no_grad():
        softmax = model(input_values=torch.from_numpy(wave)[None]).logits.softmax(-1)[0].numpy()
    order = [model.config.id2label[i] for i in np.argsort(-softmax)]
    output = classify(wave, top_k=None)
    assert [item["label"] for item in output] == order
    assert [item["score"] for item in output] == pytest.approx(sorted(softmax, reverse=True), abs=TOLERANCE)
    # longer than target_seconds: 1 s windows every 0.5 s, decided as respira predict decides a recording
    # of a single-label model (each flag's maximum over the windows, at 0.5), not by the mean softmax
    long = (0.1 * np.random.default_rng(1).standard_normal(int(2.2 * RATE))).astype(np.float32)
    windows = predict_windows(model, long, window=1.0, hop=0.5)
    assert len(windows) > 1
    flags, decision = decide_recording([[row["crackle"], row["wheeze"]] for row in windows], model.config)
    output = classify(long, top_k=None)
    assert output[0]["label"] == decision.labels[0]
    expected = flag_class_scores(flags[None])[0]
    assert _scores(output) == pytest.approx(dict(zip(CLASS_NAMES, expected, strict=True)), abs=TOLERANCE)
    mean = np.mean([[row[f"p_{name}"] for name in CLASS_NAMES] for row in windows], axis=0)
    assert not np.allclose(expected, mean, atol=TOLERANCE)  # the old rule would not pass the line above


def test_inputs_are_refused_or_scaled_as_respira_predict_treats_them(tmp_path: Path) -> None:
    model = CASES["cnn"].model(target_seconds=1.0)
    model.save_pretrained(tmp_path)
    RespiraFeatureExtractor().save_pretrained(tmp_path)
    classify = _respira_pipeline(tmp_path)
    frame = analysis_frame_samples(model)
    wave = (0.1 * np.random.default_rng(2).standard_normal(RATE // 2)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^the input lasts .* shorter than one analysis frame"):
        classify(wave[: frame - 1])
    assert len(classify(wave[:frame], top_k=None)) == len(CLASS_NAMES)
    pcm = np.round(wave * 32767).astype(np.int16)  # scipy.io.wavfile's samples
    for given in (pcm, {"raw": pcm, "sampling_rate": RATE}):
        assert _scores(classify(given, top_k=None)) == pytest.approx(
            _scores(classify(pcm / 32768.0, top_k=None)), abs=1e-7
        )
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio at all\n" * 20)
    with pytest.raises(AudioDecodingError, match=rf"^{not_audio}: cannot be decoded as audio"):
        classify(str(not_audio))  # transformers' ffmpeg reader fails too; its message names no file


def test_the_recording_rule_comes_from_the_config(tmp_path: Path) -> None:
    model = CASES["cnn"].model(target_seconds=1.0, problem_type=MULTI_LABEL)
    model.config.recording_aggregation = "mean"
    with torch.no_grad():  # windows far apart: the mean and the maximum tell the two rules apart
        model.classifier[-1].weight.mul_(1000.0)
    model.save_pretrained(tmp_path)
    RespiraFeatureExtractor().save_pretrained(tmp_path)
    classify = _respira_pipeline(tmp_path)
    long = (0.1 * np.random.default_rng(3).standard_normal(int(3.3 * RATE))).astype(np.float32)
    rows = predict_windows(model, long, window=1.0, hop=0.5)
    windows = np.array([[row["crackle"], row["wheeze"]] for row in rows])
    assert len(windows) > 2
    mean, maximum = windows.mean(axis=0), windows.max(axis=0)
    assert np.abs(maximum - mean).max() > 10 * TOLERANCE  # the old rule (the maximum) would fail below
    output = classify(long, top_k=None)
    scores, label = _expected_scores(model, mean)
    assert _scores(output) == pytest.approx(scores, abs=TOLERANCE)
    assert output[0]["label"] == label
    flags = _scores(classify(long, top_k=None, function_to_apply="sigmoid"))
    assert [flags["crackle"], flags["wheeze"]] == pytest.approx(mean.tolist(), abs=TOLERANCE)
    with pytest.raises(StrictDataclassClassValidationError, match="aggregation must be one of"):
        RespiraConfig(recording_aggregation="median")
    with pytest.raises(StrictDataclassClassValidationError, match="top_k must be a whole number >= 1, got 0"):
        RespiraConfig(recording_aggregation="topk_mean", recording_top_k=0)


def test_an_input_shorter_than_one_window_warns(tmp_path: Path) -> None:
    model = CASES["cnn"].model(target_seconds=1.0)
    model.save_pretrained(tmp_path)
    RespiraFeatureExtractor().save_pretrained(tmp_path)
    classify = _respira_pipeline(tmp_path)
    wave = (0.1 * np.random.default_rng(4).standard_normal(RATE)).astype(np.float32)
    with pytest.warns(ShortRecordingWarning, match=r"^the input is 0\.5 s long, shorter than one 1-s window"):
        classify(wave[: RATE // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortRecordingWarning)
        classify(wave)  # one whole window: no warning


# --------------------------------------------------------------------------------------- without respira
REMOTE = r"""
import json, sys
import numpy as np
from transformers import pipeline

for name in ("respira", "torchaudio"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable in the test subprocess")
jobs = json.loads(sys.argv[1])
data = np.load(jobs["arrays"])
classify = pipeline("audio-classification", model=jobs["folder"], trust_remote_code=True)
result = {
    "pipeline": type(classify).__module__ + "." + type(classify).__name__,
    "cycles": [classify(data[f"cycle{i}"], top_k=None) for i in range(jobs["count"])],
    "long_10k": classify({"raw": data["long_10k"], "sampling_rate": 10000}, top_k=None),
    "long_file": classify(jobs["long_file"], top_k=None),
    "top_1": classify(data["cycle0"], top_k=1),
}
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("respira", "torchaudio"))
print("\nRESULT " + json.dumps({"result": result, "leaked": leaked}))
"""


@pytest.mark.slow
def test_the_shipped_pipeline_decides_the_same_without_respira(decided: Decided, tmp_path: Path) -> None:
    arrays = {f"cycle{i}": cycle for i, cycle in enumerate(decided.cycles)}
    np.savez(tmp_path / "arrays.npz", long_10k=decided.long_10k, **arrays)
    long_16k = np.resize(decided.cycles[0], int(LONG_SECONDS * RATE))  # a 26 s file, at the model's rate
    sf.write(tmp_path / "long.wav", long_16k, RATE, subtype="FLOAT")
    jobs = {
        "folder": str(decided.folder),
        "arrays": str(tmp_path / "arrays.npz"),
        "count": len(decided.cycles),
        "long_file": str(tmp_path / "long.wav"),
    }
    output = run_without_respira(REMOTE, jobs, tmp_path)
    assert output["leaked"] == []
    result = output["result"]
    assert result["pipeline"].startswith("transformers_modules.")
    assert result["pipeline"].endswith("pipeline_respira.RespiraAudioClassificationPipeline")
    for got, row in zip(result["cycles"], decided.rows, strict=True):
        assert got[0]["label"] == row["label"]
        expected, _ = _expected_scores(decided.model, np.array([row["crackle"], row["wheeze"]]))
        assert _scores(got) == pytest.approx(expected, abs=TOLERANCE)
    assert [row["label"] for row in decided.rows] != decided.at_one_half  # the thresholds mattered
    assert result["top_1"] == result["cycles"][0][:1]
    expected, label = _windowed(decided.model, resample(decided.long_10k, 10000, RATE))
    assert result["long_10k"][0]["label"] == label
    assert _scores(result["long_10k"]) == pytest.approx(expected, abs=TOLERANCE)
    expected, label = _windowed(decided.model, long_16k)
    assert result["long_file"][0]["label"] == label
    assert _scores(result["long_file"]) == pytest.approx(expected, abs=TOLERANCE)
