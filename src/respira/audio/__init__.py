"""Audio in respira: one decoder for every input (:mod:`.decoding`), the checks an input must pass before a
model judges it (:mod:`.checks`), the WAV reader and writer (:mod:`.wav`) and the signal processing that
every model input shares (:mod:`.dsp`: resampling, band limits, padding).

``from respira.audio import read_audio`` reads a file as every respira command reads it.
"""

from __future__ import annotations

from .decoding import (
    DEFAULT_SAMPLING_RATE,
    LUNG_SOUND_BAND_TOP,
    AudioDecodingError,
    AudioHeader,
    AudioReadError,
    SampleRateWarning,
    as_waveform,
    audio_duration,
    audio_header,
    check_rate,
    decode_audio,
    decodes_other_codecs,
    native_sampling_rate,
    read_audio,
)

__all__ = [
    "DEFAULT_SAMPLING_RATE",
    "LUNG_SOUND_BAND_TOP",
    "AudioDecodingError",
    "AudioHeader",
    "AudioReadError",
    "SampleRateWarning",
    "as_waveform",
    "audio_duration",
    "audio_header",
    "check_rate",
    "decode_audio",
    "decodes_other_codecs",
    "native_sampling_rate",
    "read_audio",
]
