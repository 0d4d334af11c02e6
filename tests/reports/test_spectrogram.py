"""The display spectrogram against librosa (the field's reference; a dev dependency only)."""

from __future__ import annotations

import numpy as np
import pytest

from respira.reports.spectrogram import hz_to_mel, mel_spectrogram_db, mel_to_hz

librosa = pytest.importorskip("librosa")

RATE = 16000


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a rising tone: energy in every band, no silence (so the 80 dB floor never binds)."""
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return noise + 0.5 * np.sin(2 * np.pi * (200 * t + 300 * t**2))


def test_mel_scale_is_librosa_slaney_scale() -> None:
    hz = np.array([0.0, 50.0, 500.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0, 16000.0])
    np.testing.assert_allclose(hz_to_mel(hz), librosa.hz_to_mel(hz, htk=False), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)


def test_spectrogram_is_librosa_log_mel_in_db_re_max() -> None:
    y = _signal(3.0)
    ours = mel_spectrogram_db(y, RATE, max_columns=10**6)
    power = librosa.feature.melspectrogram(
        y=y,
        sr=RATE,
        n_fft=1024,
        hop_length=256,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=128,
        fmin=0.0,
        fmax=RATE / 2,
        htk=False,
        norm="slaney",
    )
    reference = librosa.power_to_db(power, ref=np.max, top_db=80.0)
    assert ours.db.shape == reference.shape == (128, 1 + y.size // 256)
    np.testing.assert_allclose(ours.db, reference, atol=1e-3)

    # cells: time edges half-way between frame centres; every band's centre inside its cell
    frame_times = librosa.frames_to_time(np.arange(reference.shape[1]), sr=RATE, hop_length=256)
    np.testing.assert_allclose(ours.time_edges[1:-1], (frame_times[:-1] + frame_times[1:]) / 2)
    assert ours.time_edges[0] == 0.0 and ours.time_edges[-1] == pytest.approx(3.0)
    centres = librosa.mel_frequencies(n_mels=130, fmin=0.0, fmax=RATE / 2, htk=False)[1:-1]
    edges = ours.frequency_edges
    assert edges[0] == 0.0 and edges[-1] == RATE / 2
    assert np.all(edges[:-1] < centres) and np.all(centres < edges[1:])


def test_long_recordings_are_averaged_into_columns() -> None:
    y = _signal(4.0, seed=1)
    full = mel_spectrogram_db(y, RATE, max_columns=10**6)
    frames = full.db.shape[1]
    small = mel_spectrogram_db(y, RATE, max_columns=7)
    assert small.db.shape == (128, 7)
    column = np.arange(frames) * 7 // frames
    power = 10 ** (full.db / 10)  # relative to the maximum frame; the average is then re-referenced
    averaged = np.stack([power[:, column == c].mean(axis=1) for c in range(7)], axis=1)
    expected = 10 * np.log10(averaged)
    np.testing.assert_allclose(small.db, expected - expected.max(), atol=1e-6)
    frame_times = np.arange(frames) * 256 / RATE
    centres = np.array([frame_times[column == c].mean() for c in range(7)])
    np.testing.assert_allclose(small.time_edges, [0.0, *(centres[:-1] + centres[1:]) / 2, 4.0])


def test_the_floor_is_80_db_below_the_maximum_and_empty_audio_is_refused() -> None:
    y = np.concatenate([np.zeros(RATE), _signal(1.0)])
    db = mel_spectrogram_db(y, RATE).db
    assert db.max() == 0.0 and db.min() == -80.0
    with pytest.raises(ValueError, match="empty recording"):
        mel_spectrogram_db(np.zeros(0), RATE)


def test_a_long_float32_recording_is_drawn_without_copying_it() -> None:
    """Two hours of audio must not be converted or padded whole (issue 20: 2.8 GiB for --plot)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(30 * 60 * RATE)).astype(np.float32)  # 30 min, 115 MB
    tracemalloc.start()
    try:
        long = mel_spectrogram_db(y, RATE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert long.db.shape == (128, 2400)
    assert peak < y.nbytes  # the old float64 copy and its padded copy were 4x the waveform
    # and the same picture as from the float64 waveform of the first seconds, chunk edges included
    head = y[: 20 * RATE]
    np.testing.assert_allclose(
        mel_spectrogram_db(head, RATE, max_columns=10**6).db,
        mel_spectrogram_db(head.astype(np.float64), RATE, max_columns=10**6).db,
        atol=1e-9,
    )
