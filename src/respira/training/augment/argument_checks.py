"""Argument checks shared by the waveform augmentations (ranges, probabilities, FFT sizes, inputs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_waveform", "check_fft_sizes", "check_probability", "check_range", "check_rng"]


def as_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float32 view (or copy) of ``waveform``; raises ValueError otherwise."""
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {array.shape}")
    return array


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}"
        )
    return rng


def check_probability(value: Any, name: str = "probability") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_range(value: Any, name: str, *, positive: bool = False) -> tuple[float, float]:
    """A ``(low, high)`` range of finite numbers with ``low <= high`` (from a tuple or a YAML list)."""
    message = f"{name} must be a [low, high] pair of numbers with low <= high, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(message)
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) for v in value):
        raise ValueError(message)
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(message)
    if positive and low <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return low, high


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
