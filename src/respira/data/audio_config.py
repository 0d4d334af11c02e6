"""The audio options every corpus builder config subclasses (:class:`AudioBuilderConfig`).

``datasets`` names a build's cache folder from the options given, not from where a field is declared
(``tests/data/test_audio_config.py`` pins the config ids).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from ..audio.decoding import DEFAULT_SAMPLING_RATE
from ..audio.wav import STORAGE_SUBTYPES

__all__ = ["AudioBuilderConfig"]


@dataclass
class AudioBuilderConfig(datasets.BuilderConfig):
    """How a builder decodes its recordings; every field is part of the cache key.

    Args:
        sampling_rate: rate every recording is resampled to (Hz).
        lowpass_cutoff: optional Butterworth low-pass applied after resampling (Hz).
        lowpass_order: order of that filter.
        audio_subtype: how samples are stored (``FLOAT`` keeps the resampled signal exactly).
        input_fingerprint: set by the builder from the input files; not for users.
    """

    sampling_rate: int = DEFAULT_SAMPLING_RATE
    lowpass_cutoff: float | None = None
    lowpass_order: int = 4
    audio_subtype: str = "FLOAT"
    input_fingerprint: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for an option value the builder cannot honour."""
        rate = self.sampling_rate
        if isinstance(rate, float) and rate.is_integer():
            self.sampling_rate = rate = int(rate)
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"sampling_rate must be a positive whole number of Hz, got {rate!r}")
        if self.audio_subtype not in STORAGE_SUBTYPES:
            raise ValueError(f"audio_subtype must be one of {STORAGE_SUBTYPES}, got {self.audio_subtype!r}")
        if self.lowpass_cutoff is not None and not 0 < self.lowpass_cutoff < self.sampling_rate / 2:
            raise ValueError(
                f"lowpass_cutoff {self.lowpass_cutoff} Hz must lie below the Nyquist frequency "
                f"{self.sampling_rate / 2} Hz of sampling_rate {self.sampling_rate}"
            )
        if (
            isinstance(self.lowpass_order, bool)
            or not isinstance(self.lowpass_order, int)
            or self.lowpass_order < 1
        ):
            raise ValueError(
                f"lowpass_order must be a whole number of at least 1, got {self.lowpass_order!r}"
            )
