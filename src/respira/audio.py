"""Audio in respira, in one place: decode anything to mono float32, resample, low-pass, pad.

- :data:`DEFAULT_SAMPLING_RATE`: the rate respira models, feature extractors and datasets use unless
  told otherwise (a model's ``config.sampling_rate`` / its feature extractor's ``sampling_rate`` is
  the rate every consumer of that model uses).
- :func:`read_audio`: a file (path or bytes) read block by block, down-mixed (channels averaged) and
  resampled with soxr (high quality) as it streams, so even hour-long recordings need little more
  memory than the result; a codec libsndfile does not read (AAC) is decoded whole by torchcodec.
  Errors are :class:`AudioReadError` naming the file (:class:`AudioDecodingError` when nothing here
  decodes it). ``respira predict``, the app, the data builders and the ``audio-classification``
  pipeline all read files with it.
- :func:`decode_audio`: any audio value — a path, bytes, a ``datasets.Audio`` value (a torchcodec
  ``AudioDecoder``, or a dict with ``array``/``bytes``/``path``), a numpy array or a torch tensor —
  to mono float32 at a given rate.
- :func:`input_preprocessing` / :func:`prepare_recording`: the input transform a model was trained with
  (its config's rate and low-pass), as dataset-builder options / applied to a recording.
- :func:`resample` (soxr HQ), :func:`lowpass` (zero-phase Butterworth), :func:`as_waveform` (checks a
  mono waveform; integer PCM scaled to [-1, 1)), :func:`pad_batch` (zero-padded batch + attention mask)
  and :func:`audio_duration` (from the header). The WAV format and PCM samples themselves (deterministic
  encoding for a ``datasets.Audio`` column, the truncation check, integer PCM as float, the full-scale
  check :func:`respira.wav.check_level`) are :mod:`respira.wav`'s.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

from .wav import pcm_to_float, truncated_data

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_LOWPASS_ORDER",
    "DEFAULT_SAMPLING_RATE",
    "AudioDecodingError",
    "AudioReadError",
    "as_waveform",
    "audio_duration",
    "decode_audio",
    "decodes_other_codecs",
    "input_preprocessing",
    "lowpass",
    "pad_batch",
    "prepare_recording",
    "read_audio",
    "resample",
]

DEFAULT_SAMPLING_RATE: int = 16000
"""Hz: the default rate of respira models (``RespiraConfig``), feature extractors and datasets."""

DEFAULT_LOWPASS_ORDER: int = 4
"""Order of the Butterworth prototype of :func:`lowpass` unless told otherwise."""

BYTES_NAME = "<audio bytes>"
"""How errors name audio given as bytes without a file name."""

_READ_BLOCK_FRAMES = 1 << 20  # ~1 M frames per read: bounded memory whatever the file's length


class AudioReadError(ValueError):
    """Audio cannot be read; the message starts with the file's path (``reason`` is the rest)."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.reason = message
        super().__init__(f"{path}: {message}")  # as given: Path would turn https://x into https:/x


class AudioDecodingError(AudioReadError):
    """Nothing here decodes the file: not audio, or a codec libsndfile does not read (AAC, say) where
    torchcodec is not installed.

    The other read errors (missing, truncated, empty, NaN samples) are about the file itself; this
    one is also what another decoder with more codecs (transformers' ffmpeg reader) may still read.
    """


# ------------------------------------------------------------------------------------------ opening
def _open(source: str | os.PathLike | bytes, name: str | Path | None) -> tuple[BinaryIO, Path]:
    """A binary handle on ``source`` (checked for WAV truncation) and the name its errors use."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = Path(name) if name is not None else Path(BYTES_NAME)
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


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
"""A URL's start (``https://``, ``s3://``): a name read_audio does not open as a local path."""
_HANDLE = re.compile(r"(?:Error opening )?<_io\.\w+[^>]*>:?\s*")
"""How libsndfile's messages name the handle it was given (``Error opening <_io.BufferedReader
name='...'>: ``): the message names the user's file itself, so that part goes."""


def _decoding_error(label: Path, error: BaseException) -> AudioReadError:
    message = _HANDLE.sub("", " ".join(str(error).split())).strip() or type(error).__name__
    return AudioDecodingError(label, f"cannot be decoded as audio ({message})")


def audio_duration(source: str | os.PathLike | bytes, *, name: str | Path | None = None) -> float:
    """Duration in seconds from the header; :class:`AudioReadError` if truncated, empty or not audio.

    A codec libsndfile lacks gets its duration from torchcodec's header metadata, as :func:`read_audio`
    decodes it (:class:`AudioDecodingError` without torchcodec)."""
    handle, label = _open(source, name)
    try:
        with handle, sf.SoundFile(handle) as audio:
            frames, rate = int(audio.frames), int(audio.samplerate)
    except (RuntimeError, OSError, TypeError, ValueError) as error:  # libsndfile errors are RuntimeErrors
        return _other_codec_duration(source, label, error)
    if frames == 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    return frames / rate


# ----------------------------------------------------------------------------------------- decoding
def _append(buffer: np.ndarray, filled: int, chunk: np.ndarray) -> tuple[np.ndarray, int]:
    """Copy ``chunk`` into ``buffer`` at ``filled``, growing the buffer when the estimate was short."""
    needed = filled + chunk.shape[0]
    if needed > buffer.shape[0]:
        grown = np.empty(max(needed, int(buffer.shape[0] * 1.25) + 1), dtype=np.float32)
        grown[:filled] = buffer[:filled]
        buffer = grown
    buffer[filled:needed] = chunk
    return buffer, needed


def read_audio(
    source: str | os.PathLike | bytes,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    *,
    name: str | Path | None = None,
) -> np.ndarray:
    """Decode a file (a path, or its bytes) to mono float32 at ``sampling_rate``.

    Channels are averaged and the signal resampled with soxr (high quality). What libsndfile reads
    (WAV, FLAC, Ogg, MP3...) is read block by block, so the only large array is the result (identical to
    resampling the whole signal at once); another codec (AAC in an ``.m4a``, say) is decoded whole by
    torchcodec (ffmpeg), where it is installed. Raises :class:`AudioReadError` naming the file
    (``name``, else the path, else ``<audio bytes>``) when it is missing, a truncated WAV, empty, or
    holds NaN/infinite samples, and :class:`AudioDecodingError` when nothing here decodes it.
    """
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    handle, label = _open(source, name)
    try:
        opened = sf.SoundFile(handle)
    except (RuntimeError, OSError, TypeError, ValueError) as error:  # a format libsndfile does not read
        handle.close()
        return _read_other_codec(source, label, sampling_rate, error)
    try:
        with handle, opened as audio:
            rate, frames = int(audio.samplerate), int(audio.frames)
            if frames == 0:
                raise AudioReadError(label, "holds no audio samples (empty recording)")
            stream = None
            estimate = frames
            if rate != sampling_rate:
                stream = soxr.ResampleStream(rate, sampling_rate, 1, dtype="float32", quality="HQ")
                estimate = math.ceil(frames * sampling_rate / rate) + 64
            buffer = np.empty(max(estimate, 1), dtype=np.float32)
            filled = 0
            head: np.ndarray | None = None
            for block in audio.blocks(blocksize=_READ_BLOCK_FRAMES, dtype="float32", always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(mono).all():
                    raise AudioReadError(label, "holds NaN or infinite samples")
                if head is None:
                    head = mono[:16].copy()
                chunk = stream.resample_chunk(np.ascontiguousarray(mono)) if stream is not None else mono
                buffer, filled = _append(buffer, filled, chunk)
            if stream is not None:
                last = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                buffer, filled = _append(buffer, filled, last)
    except AudioReadError:
        raise
    except (RuntimeError, OSError, TypeError, ValueError) as error:  # libsndfile errors are RuntimeErrors
        raise _decoding_error(label, error) from None
    if filled == 0:
        if head is None or head.size == 0:
            raise AudioReadError(label, "holds no audio samples (empty recording)")
        # a few input samples resample to none: keep one (their mean) so the recording still counts
        return np.full(1, head.mean(), dtype=np.float32)
    return buffer[:filled]  # a view: copying an hour of audio would double the peak memory


def _read_other_codec(
    source: str | os.PathLike | bytes, label: Path, sampling_rate: int, refusal: BaseException
) -> np.ndarray:
    """A file libsndfile cannot open, decoded whole by torchcodec (ffmpeg); ``refusal`` is libsndfile's
    error, what the :class:`AudioDecodingError` says when torchcodec is missing or cannot decode it."""
    decoder = _other_codec_decoder(source, label, refusal)
    try:
        samples = decode_audio(decoder, sampling_rate)  # as a datasets.Audio value decodes
    except Exception:  # torchcodec's errors for what ffmpeg cannot decode either
        raise _decoding_error(label, refusal) from None
    if samples.size == 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    if not np.isfinite(samples).all():
        raise AudioReadError(label, "holds NaN or infinite samples")
    return samples


def _other_codec_decoder(source: str | os.PathLike | bytes, label: Path, refusal: BaseException) -> Any:
    """A torchcodec ``AudioDecoder`` (ffmpeg) on a file libsndfile cannot open; ``refusal`` is libsndfile's
    error, what the :class:`AudioDecodingError` says when torchcodec is missing or cannot open it."""
    try:
        from torchcodec.decoders import AudioDecoder
    except Exception:  # not installed, or without its ffmpeg libraries: libsndfile's formats only
        raise _decoding_error(label, refusal) from None
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    try:
        return AudioDecoder(data)
    except Exception:  # torchcodec's errors for what ffmpeg cannot open either
        raise _decoding_error(label, refusal) from None


def decodes_other_codecs() -> bool:
    """Whether codecs libsndfile lacks (AAC in an ``.m4a``) can be read here: torchcodec and its ffmpeg
    libraries load (a respira install has them; a Space without torch does not)."""
    try:
        from torchcodec.decoders import AudioDecoder  # noqa: F401
    except Exception:
        return False
    return True


def _other_codec_duration(source: str | os.PathLike | bytes, label: Path, refusal: BaseException) -> float:
    """The header duration of a file libsndfile cannot open, from torchcodec (ffmpeg); decoded whole when
    the header has none. ``refusal``: what the :class:`AudioDecodingError` says when nothing reads it."""
    metadata = _other_codec_decoder(source, label, refusal).metadata
    seconds = metadata.duration_seconds_from_header or metadata.duration_seconds
    if seconds is None:
        return _read_other_codec(source, label, DEFAULT_SAMPLING_RATE, refusal).size / DEFAULT_SAMPLING_RATE
    if seconds <= 0:
        raise AudioReadError(label, "holds no audio samples (empty recording)")
    return float(seconds)


def _mono(samples: Any) -> np.ndarray:
    """Float32 mono samples of an array ``[samples]`` or ``[channels, samples]`` (channels averaged;
    integer PCM scaled to [-1, 1) by :func:`respira.wav.pcm_to_float`)."""
    if hasattr(samples, "detach"):  # a torch tensor
        samples = samples.detach().cpu().numpy()
    array = pcm_to_float(samples)
    if array.ndim == 2:
        array = array.mean(axis=0)
    elif array.ndim != 1:
        raise ValueError(f"expected audio of shape [samples] or [channels, samples], got {array.shape}")
    return array


def decode_audio(
    audio: Any, sampling_rate: int = DEFAULT_SAMPLING_RATE, *, orig_rate: int | None = None
) -> np.ndarray:
    """Mono float32 samples at ``sampling_rate`` of any audio value.

    ``audio`` is a file path or its bytes (:func:`read_audio`), a ``datasets.Audio`` value (a torchcodec
    ``AudioDecoder``; or a dict with ``array`` + ``sampling_rate``, or ``bytes`` and/or ``path``), or a
    numpy array / torch tensor of shape ``[samples]`` or ``[channels, samples]`` at ``orig_rate``
    (default: already at ``sampling_rate``). Channels are averaged; other rates are resampled with soxr.
    """
    if isinstance(audio, (str, os.PathLike, bytes, bytearray, memoryview)):
        return read_audio(audio, sampling_rate)
    if isinstance(audio, Mapping):
        if audio.get("array") is not None:
            samples = _mono(audio["array"])
            rate = next(r for r in (audio.get("sampling_rate"), orig_rate, sampling_rate) if r is not None)
        elif audio.get("bytes") is not None:
            return read_audio(audio["bytes"], sampling_rate, name=audio.get("path"))
        elif audio.get("path") is not None:
            return read_audio(audio["path"], sampling_rate)
        else:
            raise ValueError(f"an audio dict needs 'array', 'bytes' or 'path'; got keys {sorted(audio)}")
    elif hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4)
        decoded = audio.get_all_samples()
        samples, rate = _mono(decoded.data), int(decoded.sample_rate)
    else:
        samples, rate = _mono(audio), sampling_rate if orig_rate is None else orig_rate
    return np.ascontiguousarray(resample(samples, rate, sampling_rate), dtype=np.float32)


def as_waveform(waveform: Any, name: str = "the waveform") -> np.ndarray:
    """``waveform`` (numpy or torch) as contiguous float32 after checking it is mono, non-empty and finite;
    integer PCM (``scipy.io.wavfile.read``'s int16, say) is scaled to [-1, 1) as a file of it reads."""
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


# -------------------------------------------------------------------------------------- processing
def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr at high quality (identity when the rates match); one-line ``ValueError`` for a
    rate that is not a positive number of Hz."""
    for rate in (orig_rate, target_rate):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not 0 < rate < math.inf:
            raise ValueError(f"a sampling rate must be a positive number of Hz, got {rate!r}")
    if orig_rate == target_rate:
        return samples
    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def lowpass(
    samples: np.ndarray, sample_rate: int, cutoff: float, order: int = DEFAULT_LOWPASS_ORDER
) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``sosfiltfilt``) at ``cutoff`` Hz: the one input filter of respira.

    The dataset builders apply it to each whole recording (``lowpass_cutoff``); a model trained on such
    data records the cutoff in its config and feature extractor, and ``predict`` / ``evaluate`` /
    ``pipeline`` apply this same function. Without respira:
    ``scipy.signal.sosfiltfilt(scipy.signal.butter(order, cutoff, fs=sample_rate, output="sos"), samples)``.
    """
    if not 0 < cutoff < sample_rate / 2:
        raise ValueError(
            f"low-pass cutoff {cutoff} Hz must lie between 0 and the Nyquist frequency {sample_rate / 2} Hz"
        )
    from scipy import signal as scipy_signal  # imported here: scipy.signal is slow to import

    sos = scipy_signal.butter(order, cutoff, btype="lowpass", fs=sample_rate, output="sos")
    if samples.shape[0] <= 3 * (2 * len(sos) + 1):
        return samples  # too short for filtfilt padding; nothing meaningful to filter
    return scipy_signal.sosfiltfilt(sos, samples).astype(np.float32)


def input_preprocessing(config: Any) -> dict[str, Any]:
    """The input transform a model was trained with (``config``: a ``RespiraConfig`` or anything with
    ``sampling_rate``, ``lowpass_cutoff``, ``lowpass_order``), as options of the dataset builders:
    ``load_icbhi(data_dir, **input_preprocessing(config))`` (``load_kauh`` alike) builds cycles exactly
    as the model's training cycles were built. Holds ``sampling_rate`` and, for a model trained on
    low-passed recordings, ``lowpass_cutoff`` and ``lowpass_order``. (The fixed-length policy and the
    featurizer are inside the model itself.)"""
    options: dict[str, Any] = {"sampling_rate": int(config.sampling_rate)}
    cutoff = getattr(config, "lowpass_cutoff", None)
    if cutoff:
        options["lowpass_cutoff"] = float(cutoff)
        options["lowpass_order"] = int(getattr(config, "lowpass_order", None) or DEFAULT_LOWPASS_ORDER)
    return options


def prepare_recording(config: Any, waveform: np.ndarray) -> np.ndarray:
    """A whole recording (mono, at ``config.sampling_rate``) as the model's training recordings were
    before their cycles were cut: :func:`lowpass`-ed when the model has a ``lowpass_cutoff``, else as is.
    ``respira predict`` / ``evaluate --dataset kauh`` (:mod:`respira.inference`) apply it to every
    recording; the feature extractor applies the same filter to its inputs."""
    options = input_preprocessing(config)
    if "lowpass_cutoff" not in options:
        return waveform
    return lowpass(waveform, options["sampling_rate"], options["lowpass_cutoff"], options["lowpass_order"])


def pad_batch(
    waveforms: Sequence[np.ndarray], padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad mono waveforms into ``input_values`` ``[batch, longest]`` (float32) and an ``attention_mask``
    (int64, 1 on real samples, 0 on padding)."""
    import torch  # imported here: the data builder's processes decode audio without torch

    if len(waveforms) == 0:
        raise ValueError("cannot pad an empty batch (no waveforms)")
    longest = max(w.shape[0] for w in waveforms)
    batch = np.full((len(waveforms), longest), padding_value, dtype=np.float32)
    mask = np.zeros((len(waveforms), longest), dtype=np.int64)
    for row, waveform in enumerate(waveforms):
        batch[row, : waveform.shape[0]] = waveform  # numpy copies read-only arrays without a warning
        mask[row, : waveform.shape[0]] = 1
    return torch.from_numpy(batch), torch.from_numpy(mask)
