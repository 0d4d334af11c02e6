"""The RIFF/WAVE format (respira.models.respira.audio_decoding): deterministic encoding, and the truncation
check read_audio applies."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from respira.models.respira.audio_decoding import (
    STORAGE_SUBTYPES,
    encode_wav,
    pcm_to_float,
    read_audio,
    truncated_data,
)

RATE = 16000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


@pytest.mark.parametrize(("subtype", "tolerance"), [("FLOAT", 0.0), ("PCM_16", 2**-15)])
def test_encode_wav_round_trips_deterministically(subtype: str, tolerance: float) -> None:
    signal = _tone(0.3)
    encoded = encode_wav(signal, RATE, subtype)
    assert encoded == encode_wav(signal, RATE, subtype)  # no time stamp: same signal, same bytes
    assert sf.info(io.BytesIO(encoded)).subtype == subtype
    np.testing.assert_allclose(read_audio(encoded, RATE), signal, atol=tolerance, rtol=0)
    assert subtype in STORAGE_SUBTYPES
    with pytest.raises(ValueError, match="unsupported WAV subtype 'PCM_8'"):
        encode_wav(signal, RATE, "PCM_8")


def _check(data: bytes) -> tuple[int, int] | None:
    return truncated_data(io.BytesIO(data), len(data))


def test_truncated_data_counts_the_missing_bytes_of_a_cut_download() -> None:
    complete = encode_wav(_tone(0.1), RATE, "PCM_16")  # 1600 samples: 3200 bytes of data
    assert _check(complete) is None
    assert _check(complete[:-1000]) == (3200, 2200)
    # a WAV streamed to a pipe leaves the data size "unknown" (0xFFFFFFFF): the data runs to the end
    streamed = bytearray(complete)
    chunk = streamed.index(b"data")
    streamed[chunk + 4 : chunk + 8] = struct.pack("<I", 0xFFFFFFFF)
    assert _check(bytes(streamed[:-1000])) is None
    assert _check(b"fLaC" + bytes(40)) is None  # not RIFF/WAVE: its decoder judges it
    assert _check(complete[:20]) is None  # no data chunk at all: libsndfile refuses it


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32"])
def test_pcm_to_float_reads_integer_arrays_as_libsndfile_reads_their_files(subtype: str) -> None:
    # scipy.io.wavfile returns the integers of a PCM file (24-bit left-justified in int32); libsndfile
    # returns floats: the two must agree for an array and its file to predict the same
    from scipy.io import wavfile

    signal = np.random.default_rng(3).uniform(-1, 1, 400)
    buffer = io.BytesIO()
    sf.write(buffer, signal, 8000, subtype=subtype, format="WAV")
    _, integers = wavfile.read(io.BytesIO(buffer.getvalue()))
    assert integers.dtype.kind in "iu"
    expected, _ = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    converted = pcm_to_float(integers)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, expected)


def test_pcm_to_float_keeps_floats_and_refuses_what_is_no_pcm() -> None:
    floats = np.array([0.5, -2.0], dtype=np.float64)
    np.testing.assert_array_equal(pcm_to_float(floats), floats.astype(np.float32))
    np.testing.assert_array_equal(pcm_to_float(np.array([-32768, 16384], np.int16)), [-1.0, 0.5])
    np.testing.assert_array_equal(pcm_to_float(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    with pytest.raises(ValueError, match="64-bit integer samples are no PCM format"):
        pcm_to_float([0, 100, -100])  # a list of Python ints
    with pytest.raises(ValueError, match="must be numbers"):
        pcm_to_float(np.array([True, False]))
