"""Decoding shared by the corpus builders: one decode per recording, durations from the headers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..audio.decoding import AudioReadError, audio_duration, read_audio
from ..audio.dsp import lowpass
from ..audio.wav import encode_wav
from .errors import CorpusFormatError

if TYPE_CHECKING:
    from .audio_config import AudioBuilderConfig

__all__ = ["WholeRecordings", "audio_durations", "recording_samples"]


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


class WholeRecordings:
    """Builder mixin: one example per recording, from the ``{"path", "metadata"}`` tasks of its splits."""

    FORMAT_ERROR: ClassVar[type[CorpusFormatError]]
    config: AudioBuilderConfig

    def _generate_examples(self, recordings: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        config = self.config
        for task in recordings:
            samples = recording_samples(task["path"], config, error=self.FORMAT_ERROR)
            audio = encode_wav(samples, config.sampling_rate, config.audio_subtype)
            metadata = task["metadata"]
            yield (
                metadata["recording"],
                {"audio": {"bytes": audio, "path": Path(task["path"]).name}, **metadata},
            )
