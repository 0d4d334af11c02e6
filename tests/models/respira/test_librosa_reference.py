"""respira's signal processing against librosa, the field's reference (a dev-only dependency).

- log-mel (:class:`respira.models.respira.filterbanks.LogMelSpectrogram`) = ``log(librosa mel power + eps)``
  with the same settings (centred reflect-padded STFT, periodic Hann, Slaney mel scale and norm);
- resampling (:func:`respira.models.respira.audio_decoding.resample`,
  :func:`respira.models.respira.audio_decoding.read_audio`) =
  ``librosa.resample(res_type="soxr_hq")``, sample for sample;
- time stretch (:mod:`respira.training.collator`): phase vocoders differ in their details (window, hop,
  phase locking), so they are compared by what they must do: the same output length, the same dominant
  frequency of a tone, the same timing of a tone burst, and the same long-term spectrum shape of a real
  cycle.

Real ICBHI cycles come from ``../shared`` (those tests skip without it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from respira.data.text_files import read_annotations
from respira.models.respira.audio_decoding import read_audio, resample
from respira.models.respira.filterbanks import LogMelSpectrogram
from respira.training.collator import TimeStretch

librosa = pytest.importorskip("librosa", reason="librosa is a dev extra: pip install -e '.[dev]'")

RATE = 16000


def _noisy_tones(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    signal = (
        0.3 * np.sin(2 * np.pi * 250 * t)
        + 0.1 * np.sin(2 * np.pi * 1200 * t)
        + 0.05 * rng.normal(size=t.size)
    )
    return signal.astype(np.float32)


def _tone_burst(seconds: float = 2.0) -> np.ndarray:
    """A 400 Hz wheeze-like tone with its 800 Hz harmonic under a Gaussian envelope centred at 1 s."""
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = np.exp(-0.5 * ((t - 1.0) / 0.15) ** 2)
    return ((0.5 * np.sin(2 * np.pi * 400 * t) + 0.2 * np.sin(2 * np.pi * 800 * t)) * envelope).astype(
        np.float32
    )


def _dominant_frequency(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / RATE)[spectrum.argmax()])


def _energy_centre(signal: np.ndarray) -> float:
    """Seconds at the centre of mass of the signal's energy."""
    energy = signal.astype(np.float64) ** 2
    return float((np.arange(signal.size) * energy).sum() / energy.sum() / RATE)


def _log_spectrum(signal: np.ndarray) -> np.ndarray:
    """Long-term average log power spectrum (Welch, 1024-point segments) over 50-1500 Hz, the band of
    lung sounds that every ICBHI device records (the 4 kHz recordings hold nothing above 2 kHz), with
    its mean removed: the shape, not the level (phase vocoders lose different amounts of energy on
    noise-like breath sounds through phase decorrelation)."""
    frequencies, power = scipy.signal.welch(signal.astype(np.float64), fs=RATE, nperseg=1024)
    spectrum = np.log(power[(frequencies >= 50) & (frequencies <= 1500)] + 1e-12)
    return spectrum - spectrum.mean()


def _librosa_log_mel(signal: np.ndarray, featurizer: LogMelSpectrogram) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=signal,
        sr=featurizer.sampling_rate,
        n_fft=featurizer.n_fft,
        hop_length=featurizer.hop_length,
        win_length=featurizer.n_fft,
        window="hann",  # periodic, as torch.hann_window
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=featurizer.n_mels,
        fmin=featurizer.f_min,
        fmax=featurizer.f_max,
        htk=False,
        norm="slaney",
    )
    return np.log(power + featurizer.eps).T  # [frames, n_mels]


@pytest.fixture(scope="module")
def real_cycles(shared_icbhi: Path) -> list[np.ndarray]:
    """The longest annotated cycle of the first three recordings of the sample, at 16 kHz."""
    cycles = []
    for wav in sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))[:3]:
        recording = read_audio(wav, RATE)
        cycle = max(read_annotations(wav.with_suffix(".txt")), key=lambda c: c.end - c.start)
        cycles.append(recording[round(cycle.start * RATE) : round(cycle.end * RATE)])
    return cycles


# ------------------------------------------------------------------------------------------ log-mel
def _check_log_mel(signal: np.ndarray) -> None:
    featurizer = LogMelSpectrogram()
    with torch.no_grad():
        ours = featurizer(torch.from_numpy(signal)[None])[0].numpy()
    reference = _librosa_log_mel(signal, featurizer)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_log_mel_matches_librosa() -> None:
    _check_log_mel(_noisy_tones())


@pytest.mark.real_data
def test_log_mel_matches_librosa_on_real_cycles(real_cycles: list[np.ndarray]) -> None:
    for cycle in real_cycles:
        _check_log_mel(cycle)


# --------------------------------------------------------------------------------------- resampling
@pytest.mark.parametrize("orig_rate", [4000, 10000, 22050, 44100])
def test_resample_equals_librosa_soxr_hq(orig_rate: int) -> None:
    signal = np.random.default_rng(orig_rate).normal(scale=0.1, size=orig_rate * 2).astype(np.float32)
    reference = librosa.resample(signal, orig_sr=orig_rate, target_sr=RATE, res_type="soxr_hq")
    np.testing.assert_allclose(resample(signal, orig_rate, RATE), reference, atol=1e-7)


@pytest.mark.real_data
def test_streamed_decoding_equals_librosa_resampling_of_real_files(shared_icbhi: Path) -> None:
    wavs = sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))
    by_rate = {}
    for wav in wavs:
        by_rate.setdefault(sf.info(wav).samplerate, wav)
    assert len(by_rate) >= 2
    for rate, wav in sorted(by_rate.items()):
        samples, _ = sf.read(wav, dtype="float32")
        reference = librosa.resample(samples, orig_sr=rate, target_sr=RATE, res_type="soxr_hq")
        np.testing.assert_allclose(read_audio(wav, RATE), reference, atol=1e-6, err_msg=wav.name)


# ---------------------------------------------------------------------------- time stretch
@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_keeps_pitch_and_scales_time_like_librosa(rate: float) -> None:
    tone = _tone_burst()
    ours = TimeStretch(rate=(rate, rate), probability=1.0)(tone, np.random.default_rng(0))
    reference = librosa.effects.time_stretch(tone, rate=rate)
    assert ours.size == reference.size == round(tone.size / rate)
    assert _dominant_frequency(ours) == pytest.approx(400.0, abs=1.0)
    assert _dominant_frequency(reference) == pytest.approx(400.0, abs=1.0)
    assert _energy_centre(ours) == pytest.approx(_energy_centre(tone) / rate, rel=0.01)
    assert _energy_centre(ours) == pytest.approx(_energy_centre(reference), rel=0.02)


@pytest.mark.real_data
def test_stretch_of_real_cycles_has_librosa_s_spectrum(real_cycles: list[np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    for cycle in real_cycles:
        for rate in (0.8, 1.2):
            ours = TimeStretch(rate=(rate, rate), probability=1.0)(cycle, rng)
            reference = librosa.effects.time_stretch(cycle, rate=rate)
            assert np.corrcoef(_log_spectrum(ours), _log_spectrum(reference))[0, 1] > 0.99
