"""respira.models.respira.audio_decoding: one decoder for files, bytes, ``datasets`` Audio values and
arrays, and the rate check."""

from __future__ import annotations

import io
import re
import sys
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from respira.data.corpus_files import AUDIO_SUFFIXES
from respira.models.respira import audio_decoding as audio
from respira.models.respira.audio_decoding import (
    DEFAULT_SAMPLING_RATE,
    FULL_SCALE_LIMIT,
    AudioDecodingError,
    AudioHeader,
    AudioLevelWarning,
    AudioReadError,
    SampleRateWarning,
    as_waveform,
    audio_header,
    check_decodes,
    check_level,
    decode_audio,
    encode_wav,
    pad_batch,
    read_audio,
    resample,
)

from ...conftest import AUDIO_FORMATS, encode_aac, write_audio

RATE = 16000


def _tone(rate: int, seconds: float, frequency: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)


@pytest.fixture
def stereo_wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 22.05 kHz stereo FLOAT WAV (different channels) and its samples ``[frames, 2]``."""
    left, right = _tone(22050, 1.5, 440.0, seed=1), _tone(22050, 1.5, 1300.0, seed=2)
    stereo = np.stack([left, 0.5 * right], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 22050, subtype="FLOAT")
    return path, stereo


def test_default_rate_is_the_models_and_builders_default() -> None:
    from respira import RespiraConfig, RespiraFeatureExtractor
    from respira.data.icbhi import ICBHIConfig

    assert DEFAULT_SAMPLING_RATE == 16000
    assert RespiraConfig().sampling_rate == DEFAULT_SAMPLING_RATE
    assert RespiraFeatureExtractor().sampling_rate == DEFAULT_SAMPLING_RATE
    assert ICBHIConfig(name="cycles").sampling_rate == DEFAULT_SAMPLING_RATE


def test_path_bytes_datasets_value_and_array_decode_to_the_same_samples(
    stereo_wav: tuple[Path, np.ndarray],
) -> None:
    path, stereo = stereo_wav
    expected = soxr.resample(stereo.mean(axis=1), 22050, RATE, quality="HQ")
    from_path = decode_audio(path, RATE)
    assert from_path.dtype == np.float32 and from_path.ndim == 1
    np.testing.assert_array_equal(from_path, expected)
    np.testing.assert_array_equal(decode_audio(str(path), RATE), expected)
    np.testing.assert_array_equal(decode_audio(path.read_bytes(), RATE), expected)
    np.testing.assert_array_equal(decode_audio({"bytes": path.read_bytes(), "path": None}, RATE), expected)
    np.testing.assert_array_equal(decode_audio({"bytes": None, "path": str(path)}, RATE), expected)
    # a numpy array [channels, samples] at its own rate, and the same as a dict and a torch tensor
    channels_first = np.ascontiguousarray(stereo.T)
    np.testing.assert_array_equal(decode_audio(channels_first, RATE, orig_rate=22050), expected)
    np.testing.assert_array_equal(
        decode_audio(torch.from_numpy(channels_first), RATE, orig_rate=22050), expected
    )
    as_dict = {"array": channels_first, "sampling_rate": 22050}
    np.testing.assert_array_equal(decode_audio(as_dict, RATE), expected)
    # a datasets.Audio value (a torchcodec AudioDecoder in datasets >= 4), decoded at the file's rate
    dataset = datasets.Dataset.from_dict({"audio": [str(path)]}).cast_column("audio", datasets.Audio())
    value = dataset[0]["audio"]
    assert hasattr(value, "get_all_samples")
    np.testing.assert_array_equal(decode_audio(value, RATE), expected)
    # an array already at the target rate is passed through (mono, float32)
    np.testing.assert_array_equal(decode_audio(expected.astype(np.float64), RATE), expected)


def test_stereo_is_averaged_not_one_channel(stereo_wav: tuple[Path, np.ndarray]) -> None:
    path, stereo = stereo_wav
    native = read_audio(path, 22050)  # no resampling: the down-mix alone
    np.testing.assert_array_equal(native, stereo.mean(axis=1, dtype=np.float32))
    assert not np.allclose(native, stereo[:, 0]) and not np.allclose(native, stereo[:, 1])


def test_read_audio_streams_in_blocks_exactly_like_one_shot_soxr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Block-wise reading and streaming resampling give the whole-signal soxr result, sample for sample."""
    monkeypatch.setattr(audio, "_READ_BLOCK_FRAMES", 1000)  # many blocks, boundaries mid-signal
    signal = _tone(44100, 0.7)
    path = tmp_path / "long.flac"
    sf.write(path, signal, 44100, subtype="PCM_24")
    decoded, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(read_audio(path, RATE), soxr.resample(decoded, 44100, RATE, quality="HQ"))
    np.testing.assert_array_equal(read_audio(path, 44100), decoded)


def test_feature_extractor_pads_through_pad_batch() -> None:
    from respira import RespiraFeatureExtractor

    rows = [np.full(3, 0.5, np.float32), np.full(5, 0.25, np.float32)]
    extractor = RespiraFeatureExtractor()
    values, mask = pad_batch(rows)
    for features in ({"input_values": rows}, [{"input_values": row} for row in rows]):
        padded = extractor.pad(features, return_tensors="pt")
        torch.testing.assert_close(padded["input_values"], values)
        assert padded["attention_mask"].tolist() == mask.tolist()
    called = extractor(rows, return_tensors="np")
    np.testing.assert_array_equal(called["input_values"], values.numpy())
    to_eight = extractor(rows, padding="max_length", max_length=8, return_tensors="np")
    assert to_eight["input_values"].shape == (2, 8) and to_eight["attention_mask"].sum(1).tolist() == [3, 5]
    with pytest.raises(ValueError, match="truncation=True"):
        extractor(rows, padding="max_length", max_length=4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not audio at all" * 40, "cannot be decoded as audio"),
        (b"", "cannot be decoded as audio"),
        ("truncated", "truncated WAV file"),
        ("empty", "holds no audio samples"),
    ],
)
def test_broken_files_raise_audio_read_error_naming_the_file(
    tmp_path: Path, content: bytes | str, message: str
) -> None:
    path = tmp_path / "broken_recording.wav"
    if content == "truncated":
        sf.write(path, _tone(RATE, 0.5), RATE, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:-2000])
    elif content == "empty":
        sf.write(path, np.zeros(0, np.float32), RATE)
    else:
        path.write_bytes(content)
    for call in (read_audio, audio_header, decode_audio):
        with pytest.raises(AudioReadError, match=message) as error:
            call(path)
        assert error.value.path == path and str(error.value).startswith(f"{path}: ")
        assert "<_io." not in str(error.value) and "BufferedReader" not in str(error.value)
        assert "BytesIO" not in str(error.value)
    with pytest.raises(AudioReadError, match=message) as error:  # bytes named by their dict's path
        decode_audio({"bytes": path.read_bytes(), "path": "cycle_007.wav"})
    assert str(error.value).startswith("cycle_007.wav: ") and "<_io." not in str(error.value)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


@pytest.fixture
def aac_file(tmp_path: Path) -> Path:
    """Two seconds of a 440 Hz tone, stereo at 22.05 kHz, as AAC in an .m4a (a codec libsndfile lacks)."""
    wav, m4a = tmp_path / "tone.wav", tmp_path / "phone_recording.m4a"
    tone = _tone(22_050, 2.0, 440.0)
    sf.write(wav, np.stack([tone, tone], axis=1), 22_050, subtype="PCM_16")
    encode_aac(wav, m4a)
    with pytest.raises(sf.LibsndfileError):
        sf.info(m4a)
    return m4a


def test_a_codec_libsndfile_lacks_is_decoded_by_torchcodec(aac_file: Path) -> None:
    samples = read_audio(aac_file, RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - 2 * RATE) <= 0.05 * RATE  # AAC's priming and padding, trimmed or not
    assert _dominant_frequency(samples, RATE) == pytest.approx(440.0, abs=1.0)
    np.testing.assert_array_equal(read_audio(aac_file.read_bytes(), RATE), samples)
    np.testing.assert_array_equal(decode_audio(str(aac_file), RATE), samples)
    # its duration from the header, read before decoding it
    assert audio_header(aac_file).duration == pytest.approx(2.0, abs=0.05)
    assert audio_header(aac_file.read_bytes()).duration == pytest.approx(audio_header(aac_file).duration)
    header = audio_header(aac_file)
    assert (header.sampling_rate, header.channels) == (None, None)  # libsndfile reads none of it


def test_a_codec_whose_header_has_no_duration_is_timed_by_decoding_it(
    aac_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import torchcodec.decoders

    class WithoutDuration(torchcodec.decoders.AudioDecoder):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)  # what a stream without a duration in its header gives:
            self.metadata = SimpleNamespace(duration_seconds_from_header=None, duration_seconds=None)

    monkeypatch.setattr(torchcodec.decoders, "AudioDecoder", WithoutDuration)
    assert audio_header(aac_file).duration == pytest.approx(read_audio(aac_file, RATE).size / RATE, abs=1e-3)
    assert audio_header(aac_file).duration == pytest.approx(2.0, abs=0.05)


def test_without_torchcodec_such_a_codec_is_one_decoding_error(
    aac_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)  # `from torchcodec.decoders import` fails
    with pytest.raises(
        AudioDecodingError, match=r"phone_recording\.m4a: cannot be decoded as audio"
    ) as error:
        read_audio(aac_file, RATE)
    assert "\n" not in str(error.value)
    with pytest.raises(AudioDecodingError, match=r"phone_recording\.m4a: cannot be decoded as audio"):
        audio_header(aac_file)


def test_the_readers_take_every_tested_format_and_only_those() -> None:
    assert sorted(AUDIO_SUFFIXES) == sorted(AUDIO_FORMATS)


@pytest.mark.parametrize("suffix", AUDIO_FORMATS)
def test_every_suffix_a_reader_takes_decodes(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"tone{suffix}", _tone(8000, 1.0, 440.0), 8000)
    samples = read_audio(path, RATE)
    assert abs(samples.size - RATE) <= 0.2 * RATE  # a lossy codec's priming and padding
    assert _dominant_frequency(samples, RATE) == pytest.approx(440.0, abs=2.0)
    assert audio_header(path).duration == pytest.approx(samples.size / RATE, abs=0.2)
    check_decodes(path)


def test_check_decodes_finds_a_flac_whose_header_reads_but_whose_frames_do_not(tmp_path: Path) -> None:
    path = tmp_path / "cut.flac"
    sf.write(path, _tone(4000, 5.0), 4000, subtype="PCM_16")
    assert check_decodes(path) is None
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert audio_header(path).duration == pytest.approx(5.0)  # the header still reads
    with pytest.raises(AudioDecodingError, match=r"cut\.flac: cannot be decoded as audio") as error:
        check_decodes(path)
    assert error.value.path == path and "\n" not in str(error.value)


def test_missing_file_and_non_finite_samples(tmp_path: Path) -> None:
    with pytest.raises(AudioReadError, match=r"missing\.flac: no such file"):
        read_audio(tmp_path / "missing.flac")
    with pytest.raises(AudioReadError, match="is not a file"):
        read_audio(tmp_path)
    signal = _tone(RATE, 0.2)
    signal[100] = np.nan
    sf.write(tmp_path / "nan.wav", signal, RATE, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=r"nan\.wav: holds NaN or infinite samples"):
        read_audio(tmp_path / "nan.wav")


def _streamed_wav(signal: np.ndarray, rate: int) -> bytes:
    """A WAV as ffmpeg writes it to a pipe: RIFF and data sizes left at 0xFFFFFFFF ("unknown")."""
    import struct

    data = bytearray(encode_wav(signal, rate, "PCM_16"))
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    chunk = data.index(b"data")
    data[chunk + 4 : chunk + 8] = struct.pack("<I", 0xFFFFFFFF)
    return bytes(data)


def test_a_streamed_wav_of_unknown_size_reads_like_libsndfile_reads_it(tmp_path: Path) -> None:
    signal = _tone(RATE, 0.5)
    path = tmp_path / "from_ffmpeg.wav"
    path.write_bytes(_streamed_wav(signal, RATE))
    assert sf.info(path).frames == signal.size  # libsndfile: the data runs to the end of the file
    expected = read_audio(encode_wav(signal, RATE, "PCM_16"), RATE)
    np.testing.assert_array_equal(read_audio(path, RATE), expected)
    np.testing.assert_array_equal(decode_audio(path.read_bytes(), RATE), expected)
    assert audio_header(path).duration == pytest.approx(0.5)


def test_audio_header_reads_the_duration(stereo_wav: tuple[Path, np.ndarray]) -> None:
    path, stereo = stereo_wav
    assert audio_header(path).duration == pytest.approx(stereo.shape[0] / 22050)


def test_audio_header_gives_the_files_own_rate_and_channels(stereo_wav: tuple[Path, np.ndarray]) -> None:
    path, stereo = stereo_wav
    assert audio_header(path) == AudioHeader(stereo.shape[0] / 22050, 22050, 2)
    assert audio_header(path.read_bytes(), name="x.wav") == audio_header(path)
    with pytest.raises(AudioReadError, match=r"x\.wav: holds no audio samples"):
        audio_header(encode_wav(np.zeros(0, np.float32), RATE, "PCM_16"), name="x.wav")


def test_as_waveform_checks_mono_empty_and_finite() -> None:
    np.testing.assert_array_equal(as_waveform(torch.ones(4, dtype=torch.float64)), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="mono"):
        as_waveform(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="empty"):
        as_waveform(np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        as_waveform(np.array([0.0, np.inf]))


def test_integer_pcm_arrays_are_scaled_as_their_files_read() -> None:
    from scipy.io import wavfile

    pcm = np.array([-32768, -16384, 0, 16384, 32767], dtype=np.int16)
    as_float = pcm / 32768.0
    np.testing.assert_array_equal(as_waveform(pcm), as_float.astype(np.float32))
    np.testing.assert_array_equal(as_waveform(torch.from_numpy(pcm)), as_float.astype(np.float32))
    stereo = np.stack([pcm, pcm // 2])  # [channels, samples]
    down_mixed = (pcm / 32768.0 + (pcm // 2) / 32768.0) / 2
    np.testing.assert_allclose(decode_audio(stereo, RATE), down_mixed, atol=1e-7)
    buffer = io.BytesIO()
    wavfile.write(buffer, RATE, pcm)
    np.testing.assert_array_equal(read_audio(buffer.getvalue(), RATE), as_waveform(pcm))
    with pytest.raises(ValueError, match=r"^cycle 3: 64-bit integer samples"):
        as_waveform(np.arange(5), "cycle 3")


def test_check_level_warns_of_float_audio_far_above_full_scale() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        at_the_limit = np.array([0.0, -FULL_SCALE_LIMIT, 0.5] + [0.1] * 20, np.float32)  # 1 in 23 clipped
        check_level(at_the_limit)
    loud = np.array([0.0, 32767.0, -12.0], np.float32)  # int16 values cast to float
    with pytest.warns(AudioLevelWarning, match=r"^cycle\.wav peaks at 3\.28e\+04, 90 dB above full scale"):
        check_level(loud, "cycle.wav")


def test_the_feature_extractor_scales_integer_pcm_and_warns_of_loud_floats() -> None:
    from respira import RespiraFeatureExtractor

    extractor = RespiraFeatureExtractor()
    pcm = np.array([0, 16384, -8192, 32767], np.int16)
    called = extractor([pcm, pcm.astype(np.int32) << 16], return_tensors="np")["input_values"]
    np.testing.assert_array_equal(called, np.stack([pcm / 32768.0] * 2).astype(np.float32))
    with pytest.warns(AudioLevelWarning, match=r"^waveform 1 peaks at 3\.28e\+04"):
        extractor([pcm / 32768.0, pcm.astype(np.float32)], return_tensors="np")


@pytest.mark.parametrize("rate", [0, -8000, "8k", True, float("inf")])
def test_a_rate_that_is_no_positive_number_is_one_line_wherever_it_is_given(rate) -> None:
    from respira import RespiraFeatureExtractor

    samples = np.zeros(800, np.float32)
    words = rf"^a sampling rate must be a positive number of Hz, got {re.escape(repr(rate))}$"
    for call in (
        lambda: resample(samples, rate, RATE),
        lambda: decode_audio(samples, RATE, orig_rate=rate),  # 0 was read as "not given"
        lambda: decode_audio({"array": samples, "sampling_rate": rate}, RATE),
        lambda: RespiraFeatureExtractor()(samples, sampling_rate=rate),
    ):
        with pytest.raises(ValueError, match=words):
            call()
    with pytest.raises(ValueError, match=r"^no waveforms to extract features from \(an empty batch\)$"):
        RespiraFeatureExtractor()([])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("https://example.com/cycle.wav", "https://example.com/cycle.wav: is a URL, not a local file"),
        ("s3://bucket/cycle.wav", "s3://bucket/cycle.wav: is a URL, not a local file"),
        ("", "'': is an empty file name"),
    ],
)
def test_a_name_that_is_no_local_file_is_one_line_as_given(source: str, message: str) -> None:
    for read in (read_audio, audio_header):
        with pytest.raises(AudioReadError) as caught:
            read(source)
        assert str(caught.value).startswith(message)


def test_audio_recorded_too_slowly_for_the_lung_sound_band_warns_naming_it(tmp_path: Path) -> None:
    from respira import RespiraFeatureExtractor

    low, ok = tmp_path / "phone.wav", tmp_path / "stethoscope.wav"
    sf.write(low, _tone(2000, 0.5, 300.0), 2000)
    sf.write(ok, _tone(4000, 0.5, 300.0), 4000)  # ICBHI's and KAUH's lowest rate: no warning
    words = r"recorded at 2000 Hz, which holds sound up to 1000 Hz only; crackles and wheezes reach 2000 Hz"
    samples = _tone(2000, 0.5, 300.0)
    for call, name in (
        (lambda: read_audio(low, RATE), re.escape(str(low))),
        (lambda: read_audio(low.read_bytes(), RATE, name="upload.wav"), "upload.wav"),
        (lambda: decode_audio({"array": samples, "sampling_rate": 2000, "path": "a.wav"}, RATE), "a.wav"),
        (lambda: decode_audio(samples, RATE, orig_rate=2000), "the audio"),
        (lambda: RespiraFeatureExtractor()(samples, sampling_rate=2000), "the waveforms"),
    ):
        with pytest.warns(SampleRateWarning, match=f"^{name}: {words}"):
            call()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleRateWarning)
        read_audio(ok, RATE)
        decode_audio({"array": samples, "sampling_rate": 4000}, RATE)
        decode_audio(samples, 2000)  # no rate of its own: taken to be at the one asked for, unchecked
        RespiraFeatureExtractor(sampling_rate=RATE)(samples)
