"""An audiomentations transform (or ``Compose``) as a respira waveform augmentation, seeded per example.

:class:`AudiomentationsTransform` draws one seed from the collator's ``rng`` per call and seeds Python's
:mod:`random` and NumPy's global generator with it for the call, restoring their states afterwards.
respira does not depend on audiomentations: any object with its calling convention works.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .argument_checks import as_waveform, check_rng

__all__ = ["AudiomentationsTransform", "is_audiomentations_transform"]


def is_audiomentations_transform(value: Any) -> bool:
    """Whether ``value`` looks like an audiomentations transform or composition (duck-typed)."""
    return callable(value) and all(
        callable(getattr(value, name, None)) for name in ("randomize_parameters", "freeze_parameters")
    )


class AudiomentationsTransform:
    """``(waveform, rng) → waveform`` around an audiomentations ``transform`` at ``sampling_rate`` Hz."""

    def __init__(self, transform: Any, sampling_rate: int) -> None:
        if not is_audiomentations_transform(transform):
            raise TypeError(
                "expected an audiomentations transform or Compose (called as transform(samples=..., "
                f"sample_rate=...)), got {transform!r}"
            )
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
        self.transform, self.sampling_rate = transform, sampling_rate

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        seed = int(check_rng(rng).integers(2**32))
        python_state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            result = self.transform(samples=signal.copy(), sample_rate=self.sampling_rate)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
        return as_waveform(result)

    def __repr__(self) -> str:
        return f"AudiomentationsTransform({self.transform!r}, sampling_rate={self.sampling_rate})"
