"""Augmentations for ICBHI respiratory cycles: waveform transforms, concatenation, Patch-Mix.

The waveform transforms work on 16 kHz mono cycles, before fixed-length padding. Each one is a
small frozen dataclass, called as ``augmentation(waveform, rng)`` on a 1-D ``float32`` array of any
length with a :class:`numpy.random.Generator`; the output is a new ``float32`` array (the input is
never modified in place, and is returned as is when the augmentation is skipped). Given the
generator's state the result is deterministic. Every call draws one uniform number first to decide
whether to apply the augmentation (``probability``), so the generator advances the same way whatever
the outcome of that coin.

What each one simulates:

* :class:`WhiteNoise` – additive Gaussian noise at a random signal-to-noise ratio (dB, relative to
  the cycle's own power): stethoscope self-noise, ambient hiss, a poorer recording chain.
* :class:`Gain` – a random level change (dB): chest-piece pressure, auscultation site, amplifier
  gain and patient habitus all change loudness without changing the sound's character.
* :class:`TimeShift` – a random offset (circular ``"roll"`` or zero-``"pad"`` shift, length kept):
  cycle boundaries in ICBHI are annotated by hand and do not line up with the sound's onset.
* :class:`TimeStretch` – tempo change without pitch change (Signalsmith Stretch, a phase-vocoder-
  family stretcher from ``python-stretch``): faster or slower breathing; a wheeze keeps its frequency
  while it lasts longer or shorter.
* :class:`PitchShift` – pitch change without duration change (Signalsmith Stretch + resampling):
  wheeze fundamentals vary between patients and airway calibres (roughly 100-1000 Hz).
* :class:`FrequencyResponse` – a random smooth response over the mel axis (FilterAugment's linear
  filter, applied to the waveform): another stethoscope, chest piece or filter mode colours the same
  sound differently.
* :class:`Compose` – applies several in order.
* :class:`SameLabelConcat` / :func:`concat_same_label` – append another cycle of the same class,
  crossfaded and truncated: lengthens and enriches the rarer classes (wheeze by default), since an
  adventitious sound followed by another one of the same kind keeps the label.
* :func:`patch_mix_plan` / :func:`apply_patch_mix` – Patch-Mix (Bae et al., 2023): replace a random
  subset of an AST's patch embeddings by another sample's, for the Patch-Mix contrastive loss.

:func:`build_augmentation` turns a config mapping (from a YAML recipe or a JSON string on the
command line) into a :class:`Compose` of the first six; in Python it also takes an audiomentations
transform or ``Compose`` (:class:`AudiomentationsTransform`: seeded per example like the others).

Modules: :mod:`.waveform` (the numpy transforms and :func:`build_augmentation`), :mod:`.stretch`
(time stretch and pitch shift), :mod:`.external` (audiomentations), :mod:`.concat` (same-label
concatenation), :mod:`.patch_mix`, :mod:`.validation` (shared argument checks).
"""

from __future__ import annotations

from .concat import CyclePool, SameLabelConcat, concat_same_label
from .external import AudiomentationsTransform
from .patch_mix import apply_patch_mix, patch_mix_plan
from .stretch import pitch_shift, stretch
from .waveform import (
    AUGMENTATIONS,
    Augmentation,
    Compose,
    FrequencyResponse,
    Gain,
    PitchShift,
    TimeShift,
    TimeStretch,
    WaveformTransform,
    WhiteNoise,
    build_augmentation,
)

__all__ = [
    "AUGMENTATIONS",
    "AudiomentationsTransform",
    "Augmentation",
    "Compose",
    "CyclePool",
    "FrequencyResponse",
    "Gain",
    "PitchShift",
    "SameLabelConcat",
    "TimeShift",
    "TimeStretch",
    "WaveformTransform",
    "WhiteNoise",
    "apply_patch_mix",
    "build_augmentation",
    "concat_same_label",
    "patch_mix_plan",
    "pitch_shift",
    "stretch",
]
