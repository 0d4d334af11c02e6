"""Audio in respira: one decoder for every input (:mod:`.decoding`), input checks (:mod:`.checks`), WAV
(:mod:`.wav`) and the shared signal processing (:mod:`.dsp`).
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
