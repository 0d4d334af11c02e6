"""The input preprocessing a model was trained with travels with it: config, feature extractor,
``pipeline`` and ``respira predict`` all apply the same low-pass
(:func:`respira.models.respira.audio_decoding.lowpass`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import pipeline

from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.inference.windowing import predict_windows
from respira.models.respira import RespiraAudioClassificationPipeline
from respira.models.respira.audio_decoding import input_preprocessing, lowpass, prepare_recording
from respira.models.respira.feature_extraction_respira import feature_extractor_for
from respira.models.respira.labels import MULTI_LABEL

RATE = 16000
CUTOFF = 1000.0
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}


@pytest.fixture(scope="module")
def low_passed_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[RespiraForAudioClassification, Path]:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config=dict(TINY_ENCODER), target_seconds=1.0, problem_type=MULTI_LABEL, lowpass_cutoff=CUTOFF
    )
    model = RespiraForAudioClassification(config).eval()
    folder = tmp_path_factory.mktemp("low_passed")
    model.save_pretrained(folder)
    feature_extractor_for(config).save_pretrained(folder)
    return model, folder


def _waveform(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def _sigmoids(model: RespiraForAudioClassification, waveform: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(waveform))[None]).logits.sigmoid()[0].numpy()


def test_the_config_and_feature_extractor_carry_the_filter(low_passed_model) -> None:
    model, folder = low_passed_model
    assert RespiraConfig.from_pretrained(folder).lowpass_cutoff == CUTOFF
    extractor = RespiraFeatureExtractor.from_pretrained(folder)
    assert (extractor.lowpass_cutoff, extractor.lowpass_order) == (CUTOFF, 4)
    assert input_preprocessing(model.config) == {
        "sampling_rate": RATE,
        "lowpass_cutoff": CUTOFF,
        "lowpass_order": 4,
    }
    waveform = _waveform()
    filtered = lowpass(waveform, RATE, CUTOFF)
    np.testing.assert_array_equal(extractor(waveform)["input_values"][0], filtered)
    np.testing.assert_array_equal(prepare_recording(model.config, waveform), filtered)
    plain = RespiraFeatureExtractor()
    np.testing.assert_array_equal(plain(waveform)["input_values"][0], waveform)
    assert input_preprocessing(RespiraConfig()) == {"sampling_rate": RATE}
    with pytest.raises(StrictDataclassClassValidationError, match="Nyquist"):
        RespiraConfig(lowpass_cutoff=RATE)


def test_a_model_s_filter_order_is_the_one_applied() -> None:
    config = RespiraConfig(encoder_config=dict(TINY_ENCODER), lowpass_cutoff=CUTOFF, lowpass_order=6)
    assert input_preprocessing(config)["lowpass_order"] == 6
    waveform = _waveform()
    # the recipe written out (scipy's zero-phase Butterworth of order 6), not through
    # respira.models.respira.audio_decoding
    expected = scipy.signal.sosfiltfilt(scipy.signal.butter(6, CUTOFF, fs=RATE, output="sos"), waveform)
    np.testing.assert_allclose(prepare_recording(config, waveform), expected, atol=1e-6)
    extractor = feature_extractor_for(config)
    np.testing.assert_allclose(extractor(waveform)["input_values"][0], expected, atol=1e-6)


def test_pipeline_and_predict_apply_the_models_low_pass(low_passed_model) -> None:
    model, folder = low_passed_model
    waveform = _waveform()
    expected = _sigmoids(model, lowpass(waveform, RATE, CUTOFF))
    unfiltered = _sigmoids(model, waveform)
    assert np.abs(expected - unfiltered).max() > 1e-4  # the filter changes what the model sees
    respira_class = RespiraAudioClassificationPipeline
    classifier = pipeline("audio-classification", str(folder), device="cpu", pipeline_class=respira_class)
    first_second = waveform[:RATE]  # the model's fixed length: one pass (longer inputs are windowed)
    outputs = classifier(first_second, top_k=2, function_to_apply="sigmoid")
    scores = {row["label"]: row["score"] for row in outputs}
    filtered = _sigmoids(model, lowpass(first_second, RATE, CUTOFF))
    assert [scores["crackle"], scores["wheeze"]] == pytest.approx(filtered.tolist(), abs=1e-6)
    # the whole 1.5 s: windows of the low-passed recording, as respira predict cuts and filters them
    outputs = classifier(waveform, top_k=2, function_to_apply="sigmoid")
    scores = {row["label"]: row["score"] for row in outputs}
    windows = predict_windows(model, waveform, window=1.0, hop=0.5)
    assert len(windows) == 2
    peaks = [max(row[label] for row in windows) for label in ("crackle", "wheeze")]
    assert [scores["crackle"], scores["wheeze"]] == pytest.approx(peaks, abs=1e-6)
    # a whole recording in one window, and as one annotated cycle
    (row,) = predict_windows(model, waveform, window=2.0, hop=1.0)
    assert [row["crackle"], row["wheeze"]] == pytest.approx(expected.tolist(), abs=1e-6)
    (cycle,) = predict_windows(model, waveform, cycles=[(0.0, len(waveform) / RATE)])
    assert cycle["crackle"] == pytest.approx(row["crackle"], abs=1e-9)
