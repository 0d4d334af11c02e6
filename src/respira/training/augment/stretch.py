"""Time stretch of one waveform with Signalsmith Stretch (``python-stretch``, which compensates the
stretcher's latency: the output is aligned with the input)."""

from __future__ import annotations

import numpy as np
import python_stretch

__all__ = ["BLOCK_SAMPLES", "INTERVAL_SAMPLES", "stretch"]

BLOCK_SAMPLES, INTERVAL_SAMPLES = 1920, 480  # 120 ms blocks, 30 ms hop: Signalsmith's 16 kHz preset


def stretch(waveform: np.ndarray, rate: float = 1.0) -> np.ndarray:
    """``waveform`` played ``rate`` times faster (> 1: shorter), its pitch kept: exactly
    ``round(len / rate)`` float32 samples. Deterministic: the same input and rate, the same output."""
    signal = np.ascontiguousarray(waveform, dtype=np.float32)
    target = round(signal.size / rate)
    if signal.size == 0 or target == 0:
        return np.zeros(target, dtype=np.float32)
    stretcher = python_stretch.Signalsmith.Stretch(0)  # a fixed seed: reproducible in every version
    stretcher.configure(1, BLOCK_SAMPLES, INTERVAL_SAMPLES)
    stretcher.setTimeFactor(float(rate))
    stretched = np.asarray(stretcher.process(signal[None])[0], dtype=np.float32)
    # trim, or zero-pad at the end: the library rounds the length its own way, one sample apart
    return stretched[:target] if stretched.size >= target else np.pad(stretched, (0, target - stretched.size))
