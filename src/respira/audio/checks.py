"""Input a model scores but cannot judge, in one place: what makes a recording's verdict untrustworthy.

respira scores such input all the same and marks the verdict: each check warns (an :class:`InputWarning`,
one line naming the file or array) and :func:`check_input` returns the warnings as one line, which
``respira predict`` (a ``warning`` field), ``respira screen`` (a ``warning`` column),
:class:`respira.Prediction` (``warning``) and the app (beside the verdict) carry with the verdict.

The criteria, each a constant below, were set against the 885 real recordings in ``../shared`` (76 of
ICBHI, 168 of KAUH, 641 of SPRSound; 4 to 44.1 kHz, 5 to 30 s):

- **far above full scale** (:data:`FULL_SCALE_LIMIT`): float audio peaking over 2.0, integer PCM cast
  or stored as float most likely; audio decoded from integer PCM (``pcm_bits``) cannot be there, so its
  peak over 2.0 (a resampler's overshoot of a clipped recording) is judged as clipping;
- **silent** (:data:`SILENT_RMS`): an RMS below 1e-4 of full scale (-80 dBFS). The quietest real
  recording (SPRSound ``40728258_11.9_1_p1_2122``) has an RMS of 6.4e-4, ICBHI's quietest 1.5e-2 and
  KAUH's 3.6e-2: the floor is 16 dB below anything recorded from a chest;
- **clipped** (:data:`CLIPPED_FRACTION`): more than 10 % of the samples at full scale (a magnitude of
  at least :data:`CLIPPED_LEVEL`). The most clipped real recording, ICBHI ``138_1p4_Pl_mc_AKGC417L``
  (training data of the shipped detector), has 8.1 % of its samples there, KAUH's at most 0.03 %,
  SPRSound's 0.01 %; the share is the same to 1e-4 before and after resampling to 32 kHz, so it is
  measured at the model's rate;
- **shorter than one window** (:func:`length_problem`): a recording shorter than the window its
  verdict is made over (4 s by default) is scored from one window that the model pads with repeats of
  the recording; no real recording is that short (the shortest is 5.0 s, of KAUH);
- **recorded below 4 kHz** (:data:`MIN_SAMPLING_RATE`): a rate that cannot hold the lung-sound band up
  to :data:`LUNG_SOUND_BAND_TOP` (ICBHI's lowest rate, and KAUH's, is 4 kHz).

:func:`check_level` (level: far above full scale, silent, clipped) runs wherever samples reach a model,
the feature extractor (so the ``audio-classification`` pipeline) included; :func:`check_rate` wherever a
recording's own rate is read (:func:`respira.audio.read_audio`, :meth:`respira.Detector.predict`);
:func:`check_input` all of them for one recording (:func:`respira.inference.engine.plan_windows` and
:func:`~respira.inference.engine.predict_cycles`, so ``predict``, ``screen``, the Detector and the app).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "CLIPPED_FRACTION",
    "CLIPPED_LEVEL",
    "FULL_SCALE_LIMIT",
    "LUNG_SOUND_BAND_TOP",
    "MIN_SAMPLING_RATE",
    "SILENT_RMS",
    "AudioLevelWarning",
    "InputWarning",
    "SampleRateWarning",
    "ShortRecordingWarning",
    "check_input",
    "check_level",
    "check_rate",
    "length_problem",
    "level_problems",
    "rate_problem",
]

FULL_SCALE_LIMIT: float = 2.0
"""Peak above which float audio is taken for mis-scaled (:func:`check_level`): 6 dB over the ±1 full
scale, which properly scaled audio, its inter-sample overs included, does not reach."""

SILENT_RMS: float = 1e-4
"""RMS (of full scale) below which a recording is silent: -80 dBFS, 16 dB below the quietest of the
885 real recordings measured (module docstring)."""

CLIPPED_LEVEL: float = 0.99
"""Magnitude (of full scale) from which a sample counts as clipped; a little below 1 so that a clipped
recording resampled (whose flat tops ripple around full scale) still counts."""

CLIPPED_FRACTION: float = 0.10
"""Share of samples at :data:`CLIPPED_LEVEL` or above from which a recording is clipped: above the 8.1 %
of the most clipped real recording measured (module docstring)."""

LUNG_SOUND_BAND_TOP: float = 2000.0
"""Hz: the top of the band crackles and wheezes are described in (about 100 to 2000 Hz; ERS task force
CORSA, Sovijärvi et al. 2000), which a recording holds only at twice this rate or more (ICBHI's lowest
rate, and KAUH's, is 4 kHz)."""

MIN_SAMPLING_RATE: float = 2 * LUNG_SOUND_BAND_TOP
"""Hz: the lowest recording rate that holds the lung-sound band (:data:`LUNG_SOUND_BAND_TOP`)."""

_UNTRUSTED = "its verdict is not to be trusted"


class InputWarning(UserWarning):
    """A recording respira scores but cannot judge: its verdict is marked (module docstring)."""


class AudioLevelWarning(InputWarning):
    """Audio at a level the model cannot judge: far above full scale (±1), silent, or clipped."""


class SampleRateWarning(InputWarning):
    """Audio recorded at a rate too low to hold the lung-sound band: a model hears it without its
    crackles' and wheezes' upper frequencies, so its scores say little."""


class ShortRecordingWarning(InputWarning):
    """A recording shorter than one window: its verdict comes from one window padded by the model."""


def level_problems(samples: np.ndarray, pcm_bits: int | None = None) -> list[str]:
    """What is wrong with the level of float ``samples`` (none: ``[]``), each said after the recording's
    name: far above full scale (:data:`FULL_SCALE_LIMIT`), silent (:data:`SILENT_RMS`), clipped
    (:data:`CLIPPED_FRACTION`). ``pcm_bits``: the bit depth of the integer PCM they were decoded from
    (``None``: float or unknown), which cannot be above full scale: only its clipping is said."""
    if samples.size == 0:
        return []
    # max and -min, not abs: no copy of an hour-long recording just to find its peak
    peak = max(float(samples.max()), -float(samples.min()))
    if peak > FULL_SCALE_LIMIT and pcm_bits is None:
        return [
            f"peaks at {peak:.3g}, {20 * math.log10(peak):.0f} dB above full scale: float audio is "
            "expected in [-1, 1] (integer PCM stored as float? divide it by its full scale, 32768 for "
            "16-bit; integer arrays are scaled by respira itself)"
        ]
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    if rms < SILENT_RMS:
        return [
            f"is silent (RMS {rms:.2g} of full scale, below {SILENT_RMS:g}: "
            f"{20 * math.log10(SILENT_RMS):.0f} dBFS); {_UNTRUSTED}"
        ]
    clipped = int(np.count_nonzero(samples >= CLIPPED_LEVEL)) + int(
        np.count_nonzero(samples <= -CLIPPED_LEVEL)
    )
    share = clipped / samples.size
    if share > CLIPPED_FRACTION:
        return [
            f"is clipped ({100 * share:.1f} % of its samples at full scale, more than "
            f"{100 * CLIPPED_FRACTION:g} %){_pcm(pcm_bits)}; {_UNTRUSTED}"
        ]
    return []


def _pcm(bits: int | None) -> str:
    return "" if bits is None else f": {bits}-bit PCM cut off at its full scale"


def rate_problem(rate: float) -> str | None:
    """What is wrong with a recording made at ``rate`` Hz (said after its name and a colon), or ``None``."""
    if rate >= MIN_SAMPLING_RATE:
        return None
    return (
        f"recorded at {rate:g} Hz, which holds sound up to {rate / 2:g} Hz only; crackles and wheezes "
        f"reach {LUNG_SOUND_BAND_TOP:g} Hz (a rate of {MIN_SAMPLING_RATE:g} Hz or more), so its scores say "
        "little"
    )


def length_problem(num_samples: int, rate: int, window_seconds: float) -> str | None:
    """What is wrong with a recording of ``num_samples`` at ``rate`` Hz whose verdict is made over
    windows of ``window_seconds`` (said after its name), or ``None``."""
    seconds = num_samples / rate
    if seconds >= window_seconds:
        return None
    return (
        f"is {seconds:.2g} s long, shorter than one {window_seconds:g}-s window: it is scored from one "
        f"window the model pads with repeats of it; {_UNTRUSTED}"
    )


def check_level(
    samples: np.ndarray, name: str | Path = "the waveform", pcm_bits: int | None = None
) -> list[str]:
    """Warn (:class:`AudioLevelWarning`) for each of :func:`level_problems` of ``samples`` (decoded from
    ``pcm_bits``-bit integer PCM; ``None``: float or unknown); return the warnings' messages."""
    messages = [f"{name} {problem}" for problem in level_problems(samples, pcm_bits)]
    for message in messages:
        warnings.warn(message, AudioLevelWarning, stacklevel=2)
    return messages


def check_rate(rate: float, name: str | Path = "the waveform") -> None:
    """Warn (:class:`SampleRateWarning`) when audio recorded at ``rate`` Hz cannot hold the lung-sound
    band up to :data:`LUNG_SOUND_BAND_TOP` (a rate under :data:`MIN_SAMPLING_RATE`: a telephone-band or
    mislabelled file)."""
    problem = rate_problem(rate)
    if problem is not None:
        warnings.warn(f"{name}: {problem}", SampleRateWarning, stacklevel=3)


def check_input(
    samples: np.ndarray,
    rate: int,
    name: str | Path | None = None,
    *,
    recorded_rate: float | None = None,
    pcm_bits: int | None = None,
    window_seconds: float | None = None,
) -> str | None:
    """Every check of one recording (mono float ``samples`` at ``rate`` Hz; ``name`` names it, default
    "the waveform"): its level (:func:`check_level`), its length against a verdict's ``window_seconds``
    (:class:`ShortRecordingWarning`; ``None``: not made over windows, e.g. annotated cycles) and the
    rate it was recorded at, ``recorded_rate`` (``None``: ``rate``); ``pcm_bits``: the bit depth of the
    integer PCM it was decoded from (``None``: float or unknown). Each problem warns, except the
    rate, which :func:`check_rate` warns where the recording's own rate is read; return their messages
    as one line (``"; "`` between them), or ``None`` when the recording is fine."""
    label = name if name is not None else "the waveform"
    messages = check_level(samples, label, pcm_bits)
    if window_seconds is not None:
        problem = length_problem(samples.shape[0], rate, window_seconds)
        if problem is not None:
            messages.append(f"{label} {problem}")
            warnings.warn(messages[-1], ShortRecordingWarning, stacklevel=2)
    problem = rate_problem(rate if recorded_rate is None else recorded_rate)
    if problem is not None:
        messages.append(f"{label}: {problem}")
    return "; ".join(messages) or None
