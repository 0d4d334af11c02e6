"""Augmentations for respiratory cycles: waveform transforms (:mod:`.waveform`) and same-label
concatenation (:mod:`.concat`); Patch-Mix's mixing lives with its loss (:mod:`respira.losses.patch_mix`)."""

from __future__ import annotations

from .concat import SameLabelConcat
from .stretch import stretch
from .waveform import AUGMENTATIONS, Compose, Gain, TimeShift, TimeStretch, WhiteNoise, build_augmentation

__all__ = [
    "AUGMENTATIONS",
    "Compose",
    "Gain",
    "SameLabelConcat",
    "TimeShift",
    "TimeStretch",
    "WhiteNoise",
    "build_augmentation",
    "stretch",
]
