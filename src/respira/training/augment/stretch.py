"""Time stretch of one waveform with Signalsmith Stretch (the ``python-stretch`` package).

``python-stretch`` compensates the stretcher's latency, so the output is aligned with the input and exactly
``round(len / rate)`` samples long (docs/history/speed.md, "Library swaps").
"""

from __future__ import annotations

import numpy as np
import python_stretch

__all__ = ["BLOCK_SAMPLES", "INTERVAL_SAMPLES", "stretch"]

BLOCK_SAMPLES = 1920
"""Analysis block (120 ms at 16 kHz): Signalsmith's own preset for 16 kHz audio."""
INTERVAL_SAMPLES = 480
"""Hop between blocks (30 ms at 16 kHz), likewise."""


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
