"""Decode any audio to mono float32 at a rate: files streamed by libsndfile and soxr (:func:`read_audio`;
a codec libsndfile lacks decoded whole by torchcodec), any value (:func:`decode_audio`), headers."""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

from .audio_checks import SampleRateWarning, check_rate  # noqa: F401 (SampleRateWarning: re-exported)
from .audio_dsp import resample
from .audio_wav import pcm_to_float, truncated_data

DEFAULT_SAMPLING_RATE: int = 16000
"""Hz: the default rate of respira models (``RespiraConfig``), feature extractors and datasets."""

_READ_BLOCK_FRAMES = 1 << 20  # ~1 M frames per read: bounded memory whatever the file's length


class AudioReadError(ValueError):
    """Audio cannot be read; the message starts with the file's path (``reason`` is the rest)."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.reason = message
        super().__init__(f"{path}: {message}")  # as given: Path would turn https://x into https:/x


class AudioDecodingError(AudioReadError):
    """Nothing here decodes the file: not audio, or a codec libsndfile lacks where torchcodec is missing."""


# ------------------------------------------------------------------------------------------ opening
def _open(source: str | os.PathLike | bytes, name: str | Path | None) -> tuple[BinaryIO, Path]:
    """A binary handle on ``source`` (checked for WAV truncation) and the name its errors use."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = Path(name if name is not None else "<audio bytes>")
        handle: BinaryIO = io.BytesIO(data)
        size = len(data)
    else:
        if isinstance(source, str) and _URL.match(source):
            raise AudioReadError(name or source, "is a URL, not a local file: download it first")
        if not str(source).strip():
            raise AudioReadError(repr(str(source)), "is an empty file name")
        path = Path(source)
        label = Path(name) if name is not None else path
        if not path.exists():
            raise AudioReadError(label, "no such file")
        if not path.is_file():
            raise AudioReadError(label, "is not a file")
        try:
            handle = path.open("rb")
            size = path.stat().st_size
        except OSError as error:
            raise AudioReadError(label, f"cannot be read ({error.strerror or error})") from None
    try:
        shortfall = truncated_data(handle, size)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    if shortfall is not None:
        handle.close()
        declared, present = shortfall
        raise AudioReadError(
            label,
            f"truncated WAV file: its header declares {declared} bytes of audio but only {present} are "
            "present (re-download or remove this recording)",
        )
    return handle, label


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # https://, s3://: not opened as a local path
_HANDLE = re.compile(r"(?:Error opening )?<_io\.\w+[^>]*>:?\s*")  # libsndfile naming its handle: dropped


def _decoding_error(label: Path, error: BaseException) -> AudioReadError:
    message = _HANDLE.sub("", " ".join(str(error).split())).strip() or type(error).__name__
    return AudioDecodingError(label, f"cannot be decoded as audio ({message})")


@dataclass(frozen=True)
class AudioHeader:
    """A file's header (all but ``duration`` ``None`` for a codec only torchcodec reads)."""

    duration: float
    sampling_rate: int | None
    channels: int | None
    pcm_bits: int | None = None


_INTEGER_PCM = re.compile(r"^(?:PCM|ALAC)_[SU]?(\d+)$")  # libsndfile's PCM_16, PCM_U8, ALAC_16...


def audio_header(source: str | os.PathLike | bytes, *, name: str | Path | None = None) -> AudioHeader:
    """The header of a file (a path, or its bytes) without decoding it; :class:`AudioReadError` naming it."""
    handle, label = _open(source, name)
    try:
        with handle, sf.SoundFile(handle) as audio:
            frames, rate, channels = int(audio.frames), int(audio.samplerate), int(audio.channels)
            found = _INTEGER_PCM.match(audio.subtype)
            bits = int(found.group(1)) if found else None
    except (RuntimeError, OSError, TypeError, ValueError) as error:  # libsndfile errors are RuntimeErrors
        return AudioHeader(_other_codec_duration(source, label, error), None, None)
    if frames == 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    return AudioHeader(frames / rate, rate, channels, bits)


# ----------------------------------------------------------------------------------------- decoding
def _decoded_blocks(
    source: str | os.PathLike | bytes, sampling_rate: int, name: str | Path | None
) -> tuple[int, Iterator[np.ndarray]]:
    """``(estimated samples, mono float32 blocks at sampling_rate)`` of a file."""
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    handle, label = _open(source, name)
    try:
        opened = sf.SoundFile(handle)
    except (RuntimeError, OSError, TypeError, ValueError) as error:  # a format libsndfile does not read
        handle.close()
        samples = _read_other_codec(source, label, sampling_rate, error)
        return samples.size, iter((samples,))
    try:
        rate, frames = int(opened.samplerate), int(opened.frames)
        if frames == 0:
            raise AudioReadError(label, "holds no audio samples (empty recording)")
        check_rate(rate, label)
    except BaseException:
        opened.close()
        handle.close()
        raise
    estimate = frames if rate == sampling_rate else math.ceil(frames * sampling_rate / rate) + 64

    def blocks() -> Iterator[np.ndarray]:
        stream = None
        if rate != sampling_rate:
            stream = soxr.ResampleStream(rate, sampling_rate, 1, dtype="float32", quality="HQ")
        produced, head = 0, None
        try:
            with handle, opened as audio:
                for block in audio.blocks(blocksize=_READ_BLOCK_FRAMES, dtype="float32", always_2d=True):
                    mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                    if not np.isfinite(mono).all():
                        raise AudioReadError(label, "holds NaN or infinite samples")
                    if head is None:
                        head = mono[:16].copy()
                    chunk = stream.resample_chunk(np.ascontiguousarray(mono)) if stream is not None else mono
                    produced += chunk.size
                    yield chunk
                if stream is not None:
                    last = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                    produced += last.size
                    yield last
        except AudioReadError:
            raise
        except (RuntimeError, OSError, TypeError, ValueError) as error:  # libsndfile's are RuntimeErrors
            raise _decoding_error(label, error) from None
        if produced == 0:
            if head is None or head.size == 0:
                raise AudioReadError(label, "holds no audio samples (empty recording)")
            # a few input samples resample to none: keep one (their mean) so the recording still counts
            yield np.full(1, head.mean(), dtype=np.float32)

    return estimate, blocks()


def stream_audio(
    source: str | os.PathLike | bytes, sampling_rate: int = DEFAULT_SAMPLING_RATE
) -> Iterator[np.ndarray]:
    """:func:`read_audio`'s signal as consecutive mono float32 blocks (one for a codec libsndfile lacks)."""
    return _decoded_blocks(source, sampling_rate, None)[1]


def read_audio(
    source: str | os.PathLike | bytes,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    *,
    name: str | Path | None = None,
) -> np.ndarray:
    """Decode a file (a path, or its bytes) to mono float32 at ``sampling_rate``; :class:`AudioReadError`
    naming a file that cannot be read, :class:`AudioDecodingError` for one nothing here decodes."""
    estimate, blocks = _decoded_blocks(source, sampling_rate, name)
    buffer = np.empty(max(estimate, 1), dtype=np.float32)
    filled = 0
    for chunk in blocks:
        needed = filled + chunk.size
        if filled == 0 and chunk.size >= estimate:  # the whole signal in one block: kept, not copied
            buffer = chunk
        else:
            if needed > buffer.size:  # the estimate was short
                grown = np.empty(max(needed, int(buffer.size * 1.25) + 1), dtype=np.float32)
                grown[:filled] = buffer[:filled]
                buffer = grown
            buffer[filled:needed] = chunk
        filled = needed
    return buffer[:filled]  # a view: copying an hour of audio would double the peak memory


def check_decodes(source: str | os.PathLike | bytes, *, name: str | Path | None = None) -> None:
    """Decode the whole of a file at its own rate, keeping nothing; :class:`AudioReadError` naming it when
    it does not decode to its end (a FLAC whose header reads but whose frames are damaged or cut short)."""
    rate = audio_header(source, name=name).sampling_rate or DEFAULT_SAMPLING_RATE
    for _ in _decoded_blocks(source, rate, name)[1]:
        pass


def _read_other_codec(
    source: str | os.PathLike | bytes, label: Path, sampling_rate: int, refusal: BaseException
) -> np.ndarray:
    """A file libsndfile cannot open (``refusal``), decoded whole by torchcodec."""
    decoder = _other_codec_decoder(source, label, refusal)
    try:
        samples = decode_audio(decoder, sampling_rate, name=label)  # as a datasets.Audio value decodes
    except Exception:  # torchcodec's errors for what ffmpeg cannot decode either
        raise _decoding_error(label, refusal) from None
    if samples.size == 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    if not np.isfinite(samples).all():
        raise AudioReadError(label, "holds NaN or infinite samples")
    return samples


def _other_codec_decoder(source: str | os.PathLike | bytes, label: Path, refusal: BaseException) -> Any:
    """A torchcodec ``AudioDecoder`` on a file libsndfile cannot open (``refusal``)."""
    try:
        from torchcodec.decoders import AudioDecoder
    except Exception:  # not installed, or without its ffmpeg libraries: libsndfile's formats only
        raise _decoding_error(label, refusal) from None
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    try:
        return AudioDecoder(data)
    except Exception:  # torchcodec's errors for what ffmpeg cannot open either
        raise _decoding_error(label, refusal) from None


def _other_codec_duration(source: str | os.PathLike | bytes, label: Path, refusal: BaseException) -> float:
    """The header duration of a file libsndfile cannot open, from torchcodec (decoded whole when missing)."""
    metadata = _other_codec_decoder(source, label, refusal).metadata
    seconds = metadata.duration_seconds_from_header or metadata.duration_seconds
    if seconds is None:
        return _read_other_codec(source, label, DEFAULT_SAMPLING_RATE, refusal).size / DEFAULT_SAMPLING_RATE
    if seconds <= 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    return float(seconds)


def _mono(samples: Any) -> np.ndarray:
    """Float32 mono samples of ``[samples]`` or ``[channels, samples]`` (integer PCM scaled)."""
    if hasattr(samples, "detach"):  # a torch tensor
        samples = samples.detach().cpu().numpy()
    array = pcm_to_float(samples)
    if array.ndim == 2:
        array = array.mean(axis=0)
    elif array.ndim != 1:
        raise ValueError(f"expected audio of shape [samples] or [channels, samples], got {array.shape}")
    return array


def decode_audio(
    audio: Any,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    *,
    orig_rate: int | None = None,
    name: str | Path = "the audio",
) -> np.ndarray:
    """Mono float32 samples at ``sampling_rate`` of a path, bytes, a ``datasets.Audio`` value or an array
    ``[samples]`` / ``[channels, samples]`` at ``orig_rate`` (default: ``sampling_rate``)."""
    if isinstance(audio, (str, os.PathLike, bytes, bytearray, memoryview)):
        return read_audio(audio, sampling_rate)
    if isinstance(audio, Mapping):
        if audio.get("array") is not None:
            samples, name = _mono(audio["array"]), audio.get("path") or name
            own = next((r for r in (audio.get("sampling_rate"), orig_rate) if r is not None), None)
        elif audio.get("bytes") is not None:
            return read_audio(audio["bytes"], sampling_rate, name=audio.get("path"))
        elif audio.get("path") is not None:
            return read_audio(audio["path"], sampling_rate)
        else:
            raise ValueError(f"an audio dict needs 'array', 'bytes' or 'path'; got keys {sorted(audio)}")
    elif hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4)
        decoded = audio.get_all_samples()
        samples, own = _mono(decoded.data), int(decoded.sample_rate)
    else:
        samples, own = _mono(audio), orig_rate
    # the audio's own rate where it is known; else it is taken to be at the rate asked for
    resampled = resample(samples, sampling_rate if own is None else own, sampling_rate)
    if own is not None:
        check_rate(own, name)
    return np.ascontiguousarray(resampled, dtype=np.float32)


def as_waveform(waveform: Any, name: str = "the waveform") -> np.ndarray:
    """``waveform`` as contiguous float32, checked mono, non-empty and finite; integer PCM scaled."""
    if hasattr(waveform, "detach"):  # a torch tensor
        waveform = waveform.detach().cpu().numpy()
    array = np.asarray(waveform)
    if array.ndim != 1:
        raise ValueError(
            f"{name} has shape {array.shape}; expected mono 1-D audio [samples] (down-mix it first)"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    try:
        array = np.ascontiguousarray(pcm_to_float(array))
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite samples")
    return array
