"""Same-label concatenation: append another cycle of the same class, crossfaded and truncated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .waveform import as_waveform

__all__ = ["CyclePool", "SameLabelConcat"]

CyclePool = Callable[[int, np.random.Generator], np.ndarray | None]


def _crossfade_concat(first: np.ndarray, second: np.ndarray, overlap: int) -> np.ndarray:
    """``first`` then ``second``, overlapping by ``overlap`` samples with an equal-power crossfade."""
    overlap = min(overlap, first.size // 2, second.size // 2)
    if overlap == 0:
        return np.concatenate([first, second]).astype(np.float32)
    ramp = (np.arange(overlap) + 0.5) / overlap * (np.pi / 2.0)
    joint = first[first.size - overlap :] * np.cos(ramp) + second[:overlap] * np.sin(ramp)
    return np.concatenate([first[: first.size - overlap], joint, second[overlap:]]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SameLabelConcat:
    """With ``probability``, append a cycle of the same class (of ``classes``; ``None``: any) drawn from
    ``pool``, crossfaded, truncated to ``max_seconds``."""

    pool: CyclePool
    probability: float = 0.5
    classes: tuple[int, ...] | None = (2,)
    max_seconds: float = 8.0
    sampling_rate: int = 16_000
    crossfade_ms: float = 10.0

    def __call__(self, waveform: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        if rng.random() >= self.probability:
            return signal
        limit = round(self.max_seconds * self.sampling_rate)
        if (self.classes is not None and int(label) not in self.classes) or signal.size >= limit:
            return signal
        other = self.pool(int(label), rng)
        if other is None or len(other) == 0:
            return signal
        crossfade = round(self.crossfade_ms * self.sampling_rate / 1000.0)
        return _crossfade_concat(signal, as_waveform(other), crossfade)[:limit]
