"""Time stretch and pitch shift of one waveform with Signalsmith Stretch (the ``python-stretch`` package).

``python-stretch`` compensates the stretcher's latency, so the output is aligned with the input and exactly
``round(len / rate)`` samples long (docs/history/speed.md, "Library swaps").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import python_stretch
import soxr

__all__ = ["BLOCK_SAMPLES", "INTERVAL_SAMPLES", "check_fft_sizes", "pitch_shift", "stretch"]

BLOCK_SAMPLES = 1920
"""Default analysis block (120 ms at 16 kHz): Signalsmith's own preset for 16 kHz audio."""
INTERVAL_SAMPLES = 480
"""Default hop between blocks (30 ms at 16 kHz), likewise."""


def check_fft_sizes(n_fft: Any, hop_length: Any) -> None:
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 16 or n_fft % 2:
        raise ValueError(f"n_fft must be an even integer >= 16, got {n_fft!r}")
    if (
        isinstance(hop_length, bool)
        or not isinstance(hop_length, int)
        or not 0 < hop_length <= n_fft // 2
        or n_fft % hop_length
    ):
        raise ValueError(f"hop_length must divide n_fft and be at most n_fft // 2, got {hop_length!r}")


def stretch(
    waveform: np.ndarray,
    rate: float = 1.0,
    *,
    block_samples: int = BLOCK_SAMPLES,
    interval_samples: int = INTERVAL_SAMPLES,
) -> np.ndarray:
    """``waveform`` played ``rate`` times faster (> 1: shorter), its pitch kept: exactly
    ``round(len / rate)`` float32 samples. Deterministic: the same input and settings, the same output."""
    check_fft_sizes(block_samples, interval_samples)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number, got {rate!r}")
    signal = np.ascontiguousarray(waveform, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {signal.shape}")
    target = round(signal.size / rate)
    if signal.size == 0 or target == 0:
        return np.zeros(target, dtype=np.float32)
    stretcher = python_stretch.Signalsmith.Stretch(0)  # a fixed seed: reproducible in every version
    stretcher.configure(1, block_samples, interval_samples)
    stretcher.setTimeFactor(float(rate))
    return _fit(np.asarray(stretcher.process(signal[None])[0], dtype=np.float32), target)


def pitch_shift(
    waveform: np.ndarray,
    semitones: float,
    *,
    block_samples: int = BLOCK_SAMPLES,
    interval_samples: int = INTERVAL_SAMPLES,
) -> np.ndarray:
    """``waveform`` ``semitones`` higher, its length kept: stretched to ``2^(semitones/12)`` times its
    length (:func:`stretch`), then resampled (soxr, high quality) back to its length, which scales every
    frequency by exactly that factor (Signalsmith's own transposition is off by up to 0.3 %)."""
    if not math.isfinite(semitones):
        raise ValueError(f"semitones must be a finite number, got {semitones!r}")
    signal = np.asarray(waveform, dtype=np.float32)
    factor = 2.0 ** (semitones / 12.0)
    stretched = stretch(signal, 1.0 / factor, block_samples=block_samples, interval_samples=interval_samples)
    length = signal.size
    if stretched.size in (0, length):  # nothing to resample (an empty or a very short input)
        return stretched if stretched.size == length else np.zeros(length, dtype=np.float32)
    resampled = soxr.resample(stretched, float(stretched.size), float(length))
    return _fit(np.asarray(resampled, dtype=np.float32), length)


def _fit(signal: np.ndarray, length: int) -> np.ndarray:
    """Trim, or zero-pad at the end, to exactly ``length`` samples (the libraries round their lengths
    their own way, one sample apart)."""
    if signal.size >= length:
        return signal[:length]
    return np.pad(signal, (0, length - signal.size))
