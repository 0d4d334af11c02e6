"""Input respira scores but cannot judge (:mod:`respira.models.respira.audio_decoding`): each criterion, the
real recordings it was set against, and the audit's three files (issue 49) through ``predict`` and
the Detector."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from respira.cli import main
from respira.models.respira.audio_decoding import (
    CLIPPED_FRACTION,
    AudioLevelWarning,
    InputWarning,
    ShortRecordingWarning,
    check_input,
    check_level,
)

from ...conftest import SHARED_DIR

RATE = 16000


def breath(seconds: float = 5.0, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(0).standard_normal(int(seconds * RATE))).astype(np.float32)


def test_a_recording_the_model_can_judge_passes_every_check() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_input(breath(), RATE, "ok.wav", recorded_rate=4000, window_seconds=4.0) is None


@pytest.mark.parametrize(
    ("samples", "category", "words"),
    [
        (np.zeros(5 * RATE, np.float32), AudioLevelWarning, r"^x\.wav is silent \(RMS 0 of full scale"),
        (breath(level=1e-5), AudioLevelWarning, r"^x\.wav is silent \(RMS 1e-05 of full scale"),
        (np.clip(breath(level=3.0), -1, 1), AudioLevelWarning, r"^x\.wav is clipped \(7\d\.\d % of its"),
        (breath(level=3000.0), AudioLevelWarning, r"^x\.wav peaks at .* dB above full scale"),
        (breath(seconds=0.2), ShortRecordingWarning, r"^x\.wav is 0\.2 s long, shorter than one 4-s window"),
    ],
    ids=["digital-silence", "below-80-dBFS", "clipped", "far-above-full-scale", "shorter-than-a-window"],
)
def test_each_problem_warns_and_marks_the_verdict(samples: np.ndarray, category: type, words: str) -> None:
    with pytest.warns(category, match=words) as caught:
        line = check_input(samples, RATE, "x.wav", window_seconds=4.0)
    assert len(caught) == 1 and issubclass(category, InputWarning)
    assert line == str(caught[0].message) and line.endswith(("not to be trusted", "respira itself)"))


def test_clipping_counts_from_its_fraction_and_a_low_rate_is_said_not_warned_again() -> None:
    signal = breath()
    signal[: int(CLIPPED_FRACTION * signal.size)] = 1.0  # exactly the limit: not clipped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_level(signal) == []
        line = check_input(signal, RATE, "phone.wav", recorded_rate=2000)  # read_audio warned it
    assert line == (
        "phone.wav: recorded at 2000 Hz, which holds sound up to 1000 Hz only; crackles and wheezes reach "
        "2000 Hz (a rate of 4000 Hz or more), so its scores say little"
    )
    signal[: int(CLIPPED_FRACTION * signal.size) + 2] = -1.0
    with pytest.warns(AudioLevelWarning, match="is clipped"):
        check_level(signal)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name",
    [
        "icbhi/ICBHI_final_database/138_1p4_Pl_mc_AKGC417L.wav",  # the most clipped (8.1 %)
        "sprsound/train_wav/40728258_11.9_1_p1_2122.wav",  # the quietest (RMS 6.4e-4)
        "kauh/BP22_BRON,Crep,P R U,24,M.wav",  # the shortest (5.0 s)
    ],
)
def test_the_real_recordings_the_criteria_were_set_against_pass(name: str) -> None:
    path = SHARED_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared is only present on project machines)")
    samples, rate = sf.read(path, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_input(samples, rate, name, window_seconds=4.0) is None


WORDS = {"silent": "is silent", "clipped": "is clipped (4", "short": "is 0.2 s long"}
"""What each warning says (the clipped share: 41.5 % of the file's samples, 42.0 % at the model's rate)."""


@pytest.mark.real_data
def test_the_detector_marks_the_audits_recordings(audit_recordings: dict[str, Path]) -> None:
    from respira.inference.detector import Detector

    detector = Detector.from_pretrained()
    for name, path in audit_recordings.items():
        with pytest.warns(InputWarning, match=WORDS[name].replace("(", r"\(")):
            prediction = detector.predict_file(path)
        assert prediction.warning is not None and WORDS[name] in prediction.warning
        assert prediction.summary()["warning"] == prediction.warning == prediction.to_dict()["warning"]
        samples, rate = sf.read(path, dtype="float32")
        with pytest.warns(InputWarning):
            from_array = detector.predict(samples, rate, name=path.name)
        assert from_array.warning is not None and WORDS[name] in from_array.warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fine = detector.predict(breath(), RATE)
    assert fine.warning is None and fine.summary()["warning"] is None
    with pytest.warns(AudioLevelWarning, match="^quiet is silent"):  # checked with the verdict it is gated by
        detector.detect_events(np.zeros(5 * RATE, np.float32), RATE, name="quiet")


@pytest.mark.real_data
def test_predict_warns_of_the_audits_recordings_and_marks_their_verdicts(
    audit_recordings: dict[str, Path], tmp_path: Path
) -> None:
    """``respira predict``: a verdict for each (exit status 0), the warning the command shows (a real process
    prints each as ``warning: MESSAGE`` on standard error: ``tests/test_cli.py``) and in each verdict's
    ``warning`` field, and in every window row."""
    files = [str(path) for path in audit_recordings.values()]
    output = tmp_path / "verdicts.json"
    with pytest.warns(InputWarning) as shown:
        assert main(["predict", *files, "--per_recording", "--output", str(output)]) == 0
    rows = {Path(row["file"]).stem: row for row in json.loads(output.read_text())}
    for name, path in audit_recordings.items():
        row = rows[path.stem]
        assert WORDS[name] in row["warning"] and row["label"]  # a verdict, marked
        assert row["warning"] in [str(warning.message) for warning in shown]
    windows = tmp_path / "windows.csv"
    with pytest.warns(InputWarning, match="is silent"):
        assert main(["predict", files[0], "--output", str(windows)]) == 0
    table = pd.read_csv(windows)
    assert len(table) == 4 and table["warning"].str.contains("is silent").all()  # 10 s: 4-s windows every 2 s


@pytest.mark.real_data
def test_the_pipeline_warns_of_silent_and_clipped_audio(audit_recordings: dict[str, Path]) -> None:
    """The feature extractor checks the level of what it is given, so the audio-classification pipeline
    warns too (its answer has no field to carry the warning)."""
    from transformers import pipeline

    from respira.models.respira import RespiraAudioClassificationPipeline
    from respira.pretrained import default_detector_dir

    folder, respira_class = str(default_detector_dir()), RespiraAudioClassificationPipeline
    classifier = pipeline("audio-classification", model=folder, pipeline_class=respira_class)
    for name in ("silent", "clipped"):
        with pytest.warns(AudioLevelWarning, match=WORDS[name].replace("(", r"\(")):
            answer = classifier(str(audit_recordings[name]))
        assert answer[0]["label"] in ("normal", "crackle", "wheeze", "both")


def _noise_wav(path: Path, subtype: str, level: float) -> Path:
    """10 s of noise at 4 kHz: ``level`` times a unit normal, clipped to ±1 for integer PCM."""
    noise = level * np.random.default_rng(0).standard_normal(40000)
    sf.write(path, np.clip(noise, -1, 1) if subtype.startswith("PCM") else noise, 4000, subtype=subtype)
    return path


def test_clipped_integer_pcm_is_told_as_clipped_and_float_above_full_scale_as_mis_scaled(
    tmp_path: Path,
) -> None:
    """Issue 58, item 7: 16-bit noise with 70 % of its samples at full scale peaks above 2 once resampled
    (the resampler's overshoot); a file of integer PCM cannot be above full scale, so it is clipped."""
    from respira.inference.detector import Detector
    from respira.models.respira.audio_decoding import audio_header

    clipped = _noise_wav(tmp_path / "clipped.wav", "PCM_16", level=1 / 0.385)  # |N(0,1)| > 0.385: 70 %
    assert np.mean(np.abs(sf.read(clipped)[0]) >= 1 - 2**-15) == pytest.approx(0.70, abs=0.01)
    loud = _noise_wav(tmp_path / "loud.wav", "FLOAT", level=1.5)
    detector = Detector.from_pretrained()
    with pytest.warns(AudioLevelWarning, match="is clipped") as caught:
        told = detector.predict_file(clipped).warning
    assert len(caught) == 1 and told is not None
    assert "above full scale" not in told and told.endswith(
        "more than 10 %): 16-bit PCM cut off at its full scale; its verdict is not to be trusted"
    )
    pcm, rate = sf.read(clipped, dtype="int16")  # the same samples as an array: the same words
    with pytest.warns(AudioLevelWarning, match="16-bit PCM cut off at its full scale"):
        detector.predict(pcm, rate)
    with pytest.warns(AudioLevelWarning, match=r"loud\.wav peaks at .* dB above full scale: float audio"):
        assert "integer PCM stored as float?" in detector.predict_file(loud).warning
    assert audio_header(clipped).pcm_bits == 16 and audio_header(loud).pcm_bits is None
