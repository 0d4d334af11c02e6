"""Same-label concatenation: append another cycle of the same class, crossfaded and truncated."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...labels import CLASS_NAMES
from .waveform import as_waveform, check_probability, check_rng

__all__ = ["CyclePool", "SameLabelConcat"]

CyclePool = Mapping[int, Sequence[np.ndarray]] | Callable[[int, np.random.Generator], np.ndarray | None]


def _class_index(value: int | str) -> int:
    """An ICBHI class index from an index or a name (normal 0, crackle 1, wheeze 2, both 3)."""
    if isinstance(value, str):
        if value not in CLASS_NAMES:
            raise ValueError(f"unknown class {value!r}; valid: {', '.join(CLASS_NAMES)}")
        return CLASS_NAMES.index(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not 0 <= value < len(CLASS_NAMES)
    ):
        raise ValueError(
            f"class must be a name in {CLASS_NAMES} or an index 0-{len(CLASS_NAMES) - 1}, got {value!r}"
        )
    return int(value)


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
    """With ``probability``, append another cycle of the same class, crossfaded, truncated to max length."""

    pool: CyclePool
    probability: float = 0.5
    classes: tuple[int, ...] | None = (2,)
    max_seconds: float | None = 8.0
    sampling_rate: int = 16_000
    crossfade_ms: float = 10.0

    def __post_init__(self) -> None:
        if not (callable(self.pool) or isinstance(self.pool, Mapping)):
            raise ValueError("pool must be a mapping {label: cycles} or a callable (label, rng) -> cycle")
        object.__setattr__(self, "probability", check_probability(self.probability))
        if self.classes is not None:
            names = (self.classes,) if isinstance(self.classes, (str, int)) else self.classes
            object.__setattr__(self, "classes", tuple(sorted({_class_index(c) for c in names})))
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0
        ):
            raise ValueError(f"max_seconds must be positive or None, got {self.max_seconds!r}")
        if (
            isinstance(self.sampling_rate, bool)
            or not isinstance(self.sampling_rate, int)
            or self.sampling_rate <= 0
        ):
            raise ValueError(f"sampling_rate must be a positive integer, got {self.sampling_rate!r}")
        if not isinstance(self.crossfade_ms, (int, float)) or self.crossfade_ms < 0:
            raise ValueError(f"crossfade_ms must be a non-negative number, got {self.crossfade_ms!r}")

    @property
    def max_length(self) -> int | None:
        """The maximum output length in samples (``None``: unlimited)."""
        return None if self.max_seconds is None else round(self.max_seconds * self.sampling_rate)

    @property
    def crossfade_samples(self) -> int:
        return round(self.crossfade_ms * self.sampling_rate / 1000.0)

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray | None:
        """A cycle of class ``label`` from the pool, or ``None``."""
        if callable(self.pool):
            cycle = self.pool(label, rng)
        else:
            cycles = self.pool.get(label, ())
            cycle = cycles[int(rng.integers(len(cycles)))] if len(cycles) else None
        return None if cycle is None else as_waveform(cycle)

    def __call__(self, waveform: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        if check_rng(rng).random() >= self.probability:
            return signal
        label = int(label)
        limit = self.max_length
        if (self.classes is not None and label not in self.classes) or (
            limit is not None and signal.size >= limit
        ):
            return signal
        other = self.draw(label, rng)
        if other is None or other.size == 0:
            return signal
        joined = _crossfade_concat(signal, other, self.crossfade_samples)
        return joined if limit is None else joined[:limit]
