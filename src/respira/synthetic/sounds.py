"""The sounds of the synthetic corpus: breathing, crackles and wheezes as signals."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy import signal

BREATH_BAND_HZ = (100.0, 1000.0)
MAX_TONE_FRACTION = 0.45
"""Tonal components stay below this fraction of the sample rate (e.g. 1.8 kHz at 4 kHz)."""
WHEEZE_GLIDE = 0.15
"""Largest relative pitch glide of a wheeze over its duration."""


@functools.lru_cache(maxsize=32)
def _bandpass(sample_rate: int, low_hz: float, high_hz: float) -> tuple[np.ndarray, float]:
    """Second-order-sections Butterworth band-pass (float32) and the std of its white-noise output."""
    high_hz = min(high_hz, MAX_TONE_FRACTION * sample_rate)
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")
    impulse = np.zeros(sample_rate, dtype=np.float64)
    impulse[0] = 1.0
    gain = float(np.sqrt(np.sum(signal.sosfilt(sos, impulse) ** 2)))
    return sos.astype(np.float32), gain


def breathing_noise(white: np.ndarray, sample_rate: int) -> np.ndarray:
    """White Gaussian noise in :data:`BREATH_BAND_HZ` (capped at 0.45 of the rate), unit variance."""
    sos, gain = _bandpass(sample_rate, *BREATH_BAND_HZ)
    return signal.sosfilt(sos, white).astype(np.float32) / np.float32(gain)


def breath_envelope(
    n_samples: int,
    boundaries: np.ndarray,
    sample_rate: int,
    *,
    inhale_fraction: np.ndarray,
    inhale_gain: np.ndarray,
    exhale_gain: np.ndarray,
) -> np.ndarray:
    """Amplitude envelope: a half-sine hump for inspiration then one for expiration in each cycle."""
    floor = 0.05
    envelope = np.full(n_samples, floor, dtype=np.float32)
    edges = np.minimum(np.round(boundaries * sample_rate).astype(np.int64), n_samples)
    for k in range(len(edges) - 1):
        start, end = int(edges[k]), int(edges[k + 1])
        u = np.arange(end - start, dtype=np.float32) / np.float32(max(end - start, 1))
        r = np.float32(inhale_fraction[k])
        inhale = u < r
        phase = np.where(inhale, u / r, (u - r) / (1 - r))
        gain = np.where(inhale, np.float32(inhale_gain[k]), np.float32(exhale_gain[k]))
        envelope[start:end] = floor + gain * np.sin(np.float32(np.pi) * phase)
    return envelope


def crackle_transients(
    sample_rate: int, frequencies_hz: np.ndarray, durations_s: np.ndarray, amplitudes: np.ndarray
) -> np.ndarray:
    """Damped sinusoids with an abrupt onset, one row per crackle (zero-padded to the longest)."""
    length = int(np.ceil(float(np.max(durations_s)) * sample_rate)) if len(durations_s) else 0
    t = np.arange(length, dtype=np.float32)[None, :] / np.float32(sample_rate)
    durations = durations_s.astype(np.float32)[:, None]
    decay = np.exp(-5.0 * t / durations)
    waves = (
        amplitudes.astype(np.float32)[:, None]
        * decay
        * np.sin(np.float32(2 * np.pi) * frequencies_hz.astype(np.float32)[:, None] * t)
    )
    return np.where(t < durations, waves, np.float32(0)).astype(np.float32)


def wheeze_tone(
    n_samples: int,
    sample_rate: int,
    start_hz: float,
    end_hz: float,
    *,
    harmonic_gains: Sequence[float] = (1.0, 0.5, 0.25),
) -> np.ndarray:
    """A tone gliding from ``start_hz`` to ``end_hz`` with harmonics below 0.45 of the rate, peak 1, faded."""
    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    duration = n_samples / sample_rate
    phase = 2 * np.pi * (start_hz * t + (end_hz - start_hz) * t**2 / (2 * duration))
    limit = MAX_TONE_FRACTION * sample_rate
    tone = np.zeros(n_samples, dtype=np.float64)
    for harmonic, gain in enumerate(harmonic_gains, start=1):
        if harmonic * max(start_hz, end_hz) < limit:
            tone += gain * np.sin(harmonic * phase)
    alpha = min(1.0, 2 * 0.03 / duration) if duration > 0 else 1.0
    return (tone * signal.windows.tukey(n_samples, alpha)).astype(np.float32)


def add_crackles(
    audio: np.ndarray,
    rng: np.random.Generator,
    sample_rate: int,
    *,
    start_s: float,
    end_s: float,
    inhale_fraction: float,
    loudness: float,
) -> None:
    """Add 3-10 crackles to one cycle, about three quarters of them during inspiration."""
    count = int(rng.integers(3, 11))
    duration = end_s - start_s
    inspiratory = rng.random(count) < 0.75
    position = np.where(
        inspiratory,
        rng.uniform(0.05, 0.95, count) * inhale_fraction,
        inhale_fraction + rng.uniform(0.05, 0.9, count) * (1 - inhale_fraction),
    )
    if rng.random() < 0.5:  # fine crackles: short and high-pitched
        frequencies, durations = rng.uniform(350, 800, count), rng.uniform(0.005, 0.012, count)
    else:  # coarse crackles: longer and lower
        frequencies, durations = rng.uniform(150, 350, count), rng.uniform(0.012, 0.025, count)
    amplitudes = loudness * rng.uniform(4.0, 10.0, count) * rng.choice([-1.0, 1.0], count)
    waves = crackle_transients(sample_rate, frequencies, durations, amplitudes)
    onsets = np.round((start_s + position * duration) * sample_rate).astype(np.int64)
    for onset, wave in zip(onsets, waves, strict=True):
        stop = min(int(onset) + len(wave), len(audio))
        audio[onset:stop] += wave[: stop - onset]


def add_wheeze(
    audio: np.ndarray,
    rng: np.random.Generator,
    sample_rate: int,
    *,
    start_s: float,
    end_s: float,
    loudness: float,
) -> None:
    """Add one wheeze lasting 35-80 % of the cycle (at least 250 ms), usually in its second half."""
    duration = end_s - start_s
    length_s = max(0.25, rng.uniform(0.35, 0.8) * duration)
    begin = start_s + rng.uniform(0.0, 1.0) ** 0.5 * (duration - length_s)
    # keep the (gliding) fundamental inside the breath band and below 0.45 of the sample rate
    highest = min(800.0, MAX_TONE_FRACTION * sample_rate / (1 + WHEEZE_GLIDE))
    f_start = float(np.exp(rng.uniform(np.log(120.0), np.log(highest))))
    f_end = f_start * rng.uniform(1 - WHEEZE_GLIDE, 1 + WHEEZE_GLIDE)
    gains = (1.0, rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3))
    onset = round(begin * sample_rate)
    n_samples = min(round(length_s * sample_rate), len(audio) - onset)
    tone = wheeze_tone(n_samples, sample_rate, f_start, f_end, harmonic_gains=gains)
    audio[onset : onset + n_samples] += np.float32(loudness * rng.uniform(0.6, 1.5)) * tone
