"""Audio machinery the corpus builders (ICBHI, KAUH) share: option checks, one decode per recording,
durations from the headers, and errors that name the file in the corpus' own error class.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio import STORAGE_SUBTYPES, AudioReadError, audio_duration, lowpass, read_audio
from .errors import CorpusFormatError

__all__ = ["AudioOptions", "audio_durations", "check_audio_options", "recording_samples"]


class AudioOptions(Protocol):
    """The audio fields of a builder config (``ICBHIConfig``, ``KAUHConfig``)."""

    sampling_rate: int
    lowpass_cutoff: float | None
    lowpass_order: int
    audio_subtype: str


def check_audio_options(config: AudioOptions) -> None:
    """Raise ``ValueError`` for a rate, low-pass or storage format the builders cannot honour."""
    if config.sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {config.sampling_rate}")
    if config.audio_subtype not in STORAGE_SUBTYPES:
        raise ValueError(f"audio_subtype must be one of {STORAGE_SUBTYPES}, got {config.audio_subtype!r}")
    if config.lowpass_cutoff is not None and not 0 < config.lowpass_cutoff < config.sampling_rate / 2:
        raise ValueError(
            f"lowpass_cutoff {config.lowpass_cutoff} Hz must lie below the Nyquist frequency "
            f"{config.sampling_rate / 2} Hz of sampling_rate {config.sampling_rate}"
        )


def recording_samples(
    path: str | Path, config: AudioOptions, *, error: type[CorpusFormatError] = CorpusFormatError
) -> np.ndarray:
    """A recording decoded, down-mixed and resampled once to the config's rate, optionally low-passed.

    An unreadable file raises ``error`` (the corpus' format error class) naming it.
    """
    try:
        samples = read_audio(path, config.sampling_rate)
    except AudioReadError as failure:
        raise error(failure.path, failure.reason) from None
    if config.lowpass_cutoff is not None:
        samples = lowpass(samples, config.sampling_rate, config.lowpass_cutoff, config.lowpass_order)
    return samples


def audio_durations(
    files: Mapping[str, Path], *, error: type[CorpusFormatError] = CorpusFormatError
) -> dict[str, float]:
    """Duration (seconds, from the header) of each recording, failing early with ``error`` on an unreadable
    (truncated, empty, not audio) file."""
    durations = {}
    for stem, path in files.items():
        try:
            durations[stem] = audio_duration(path)
        except AudioReadError as failure:
            raise error(failure.path, failure.reason) from None
    return durations
