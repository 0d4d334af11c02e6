"""Augmentations for respiratory cycles: waveform transforms and same-label concatenation.

Each waveform transform is a frozen dataclass called as ``augmentation(waveform, rng)`` on a 1-D float32
array and a :class:`numpy.random.Generator`; it returns a new array and always draws its ``probability``
coin first, so the generator advances the same way whether it applies or not. :class:`FrequencyResponse`
is FilterAugment's linear filter (Nam et al., ICASSP 2022); Patch-Mix's mixing lives with its loss
(:mod:`respira.losses.patch_mix`). :func:`build_augmentation` turns a recipe mapping (or an audiomentations
transform) into a :class:`Compose`.
"""

from __future__ import annotations

from .concat import SameLabelConcat
from .stretch import pitch_shift, stretch
from .waveform import (
    AUGMENTATIONS,
    AudiomentationsTransform,
    Compose,
    FrequencyResponse,
    Gain,
    PitchShift,
    TimeShift,
    TimeStretch,
    WhiteNoise,
    build_augmentation,
)

__all__ = [
    "AUGMENTATIONS",
    "AudiomentationsTransform",
    "Compose",
    "FrequencyResponse",
    "Gain",
    "PitchShift",
    "SameLabelConcat",
    "TimeShift",
    "TimeStretch",
    "WhiteNoise",
    "build_augmentation",
    "pitch_shift",
    "stretch",
]
