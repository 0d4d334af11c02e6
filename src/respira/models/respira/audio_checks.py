"""Input a model scores but cannot judge: far above full scale, silent, clipped, shorter than one window or
recorded below 4 kHz. Each check warns (an :class:`InputWarning` naming the input); :func:`check_input`
returns the warnings as one line, carried with the verdict. The thresholds clear all 885 real recordings
in ``../shared`` (quietest RMS 6.4e-4, most clipped 8.1 %, shortest 5.0 s).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

FULL_SCALE_LIMIT: float = 2.0  # 6 dB over full scale: scaled audio, inter-sample overs included, stays below
SILENT_RMS: float = 1e-4
CLIPPED_LEVEL: float = 0.99  # below 1: a clipped recording resampled (its flat tops ripple) still counts
CLIPPED_FRACTION: float = 0.10
LUNG_SOUND_BAND_TOP: float = 2000.0
"""Hz: the top of the crackle and wheeze band (about 100 to 2000 Hz; ERS task force CORSA, Sovijärvi et
al. 2000)."""
MIN_SAMPLING_RATE: float = 2 * LUNG_SOUND_BAND_TOP

_UNTRUSTED = "its verdict is not to be trusted"


class InputWarning(UserWarning):
    """A recording respira scores but cannot judge: its verdict is marked (module docstring)."""


class AudioLevelWarning(InputWarning):
    """Audio at a level the model cannot judge: far above full scale (±1), silent, or clipped."""


class SampleRateWarning(InputWarning):
    """Audio recorded at a rate too low to hold the lung-sound band."""


class ShortRecordingWarning(InputWarning):
    """A recording shorter than one window: its verdict comes from one window padded by the model."""


def level_problems(samples: np.ndarray, pcm_bits: int | None = None) -> list[str]:
    """What is wrong with the level of float ``samples`` (``[]``: nothing); ``pcm_bits``: the bit depth of
    the integer PCM they came from, judged for clipping only."""
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
        cut = "" if pcm_bits is None else f": {pcm_bits}-bit PCM cut off at its full scale"
        return [
            f"is clipped ({100 * share:.1f} % of its samples at full scale, more than "
            f"{100 * CLIPPED_FRACTION:g} %){cut}; {_UNTRUSTED}"
        ]
    return []


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
    """What is wrong with a recording shorter than one verdict window, or ``None``."""
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
    """Warn (:class:`AudioLevelWarning`) for each of :func:`level_problems`; return the messages."""
    messages = [f"{name} {problem}" for problem in level_problems(samples, pcm_bits)]
    for message in messages:
        warnings.warn(message, AudioLevelWarning, stacklevel=2)
    return messages


def check_rate(rate: float, name: str | Path = "the waveform") -> None:
    """Warn (:class:`SampleRateWarning`) when ``rate`` is under :data:`MIN_SAMPLING_RATE`."""
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
    """Every check of one recording (mono float ``samples`` at ``rate`` Hz), each warning but the rate's
    (:func:`check_rate` warns on reading); returns the messages joined by ``"; "``, or ``None``."""
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
