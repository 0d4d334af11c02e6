"""Decoding shared by the corpus builders: one decode per recording, durations from the headers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio.decoding import AudioReadError, audio_duration, read_audio
from ..audio.dsp import lowpass
from .errors import CorpusFormatError

if TYPE_CHECKING:
    from .audio_config import AudioBuilderConfig

__all__ = ["audio_durations", "recording_samples"]


def recording_samples(
    path: str | Path, config: AudioBuilderConfig, *, error: type[CorpusFormatError] = CorpusFormatError
) -> np.ndarray:
    """A recording decoded, down-mixed, resampled once and optionally low-passed; else ``error``."""
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
    """Duration (seconds, from the header) of each recording; ``error`` for an unreadable file."""
    durations = {}
    for stem, path in files.items():
        try:
            durations[stem] = audio_duration(path)
        except AudioReadError as failure:
            raise error(failure.path, failure.reason) from None
    return durations
