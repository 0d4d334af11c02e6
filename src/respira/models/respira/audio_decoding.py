"""Audio, from any source to a checked mono float32 waveform: decoding, the WAV format, signal processing,
the input checks, and the number checks every layer uses.

Decode any audio to mono float32 at a rate: files streamed by libsndfile and soxr (:func:`read_audio`;
a codec libsndfile lacks decoded whole by torchcodec), any value (:func:`decode_audio`), headers.

The number checks of every layer, the model folder's included: a real number, not a bool (:func:`is_real`,
:func:`is_number`), and a whole number in a range, with its one-line error (:func:`check_whole`).

The RIFF/WAVE format: deterministic WAV bytes, the truncation check, integer PCM as float.

Signal processing on mono float32 audio: resample, low-pass, pad a batch, a model's input transform.

Input a model scores but cannot judge: far above full scale, silent, clipped, shorter than one window or
recorded below 4 kHz. Each check warns (an :class:`InputWarning` naming the input); :func:`check_input`
returns the warnings as one line, carried with the verdict. The thresholds clear all 885 real recordings
in ``../shared`` (quietest RMS 6.4e-4, most clipped 8.1 %, shortest 5.0 s).
"""

from __future__ import annotations

import functools
import io
import math
import numbers
import os
import re
import struct
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

if TYPE_CHECKING:
    import torch


def is_real(value: object, *, whole: bool = False) -> bool:
    """Whether ``value`` is a real number (an integer when ``whole``), numpy's included, not a bool."""
    return isinstance(value, numbers.Integral if whole else numbers.Real) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (:func:`is_real`) other than NaN."""
    return is_real(value) and not math.isnan(value)


def check_whole(value: Any, name: str, low: int = 1, high: int | None = None, *, exact: bool = False) -> int:
    """``value`` as an int (``4.0`` too, unless ``exact``: an integer type only); a one-line ``ValueError``
    naming ``name`` and ``value`` unless it is a whole number, not a bool, in ``[low, high]`` (``high=None``:
    no upper bound)."""
    whole = is_real(value, whole=True) if exact else is_real(value) and float(value).is_integer()
    if not whole or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a whole number {bounds}, got {value!r}")
    return int(value)


STORAGE_SUBTYPES: tuple[str, ...] = ("FLOAT", "PCM_16")
"""WAV sample formats :func:`encode_wav` writes."""

_UNKNOWN_CHUNK_SIZE = 0xFFFFFFFF  # the size a WAV writer leaves when it cannot seek back to fill it in


def truncated_data(handle: BinaryIO, size: int) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of sample data when a RIFF/WAVE stream declares more than it holds;
    ``None`` for a complete stream (a streamed WAV's ``0xFFFFFFFF`` included) or anything not RIFF/WAVE."""
    handle.seek(0)
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= size:
        handle.seek(offset)
        chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
        if chunk_id == b"data":
            present = size - offset - 8
            if chunk_size == _UNKNOWN_CHUNK_SIZE or chunk_size <= present:
                return None
            return chunk_size, present
        offset += 8 + chunk_size + (chunk_size & 1)
    return None


def pcm_to_float(samples: Any) -> np.ndarray:
    """``samples`` as float32, integer PCM divided by its full scale; ``ValueError`` for 64-bit integers
    and non-numbers."""
    array = np.asarray(samples)
    kind, bits = array.dtype.kind, 8 * array.dtype.itemsize
    if kind == "f":
        return np.asarray(array, dtype=np.float32)
    if kind in "iu" and bits <= 32:
        full_scale = float(2 ** (bits - 1))
        offset = full_scale if kind == "u" else 0.0
        return ((array.astype(np.float64) - offset) / full_scale).astype(np.float32)
    if kind in "iu":
        raise ValueError(
            f"{bits}-bit integer samples are no PCM format; pass float audio in [-1, 1], or 16- / 32-bit "
            "integer PCM (np.int16 / np.int32)"
        )
    raise ValueError(f"audio samples must be numbers (float, or integer PCM), got dtype {array.dtype}")


def integer_pcm_bits(samples: Any) -> int | None:
    """The bit depth of integer PCM ``samples``, ``None`` for float ones."""
    dtype = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples).dtype
    return 8 * dtype.itemsize if dtype.kind in "iu" else None


def encode_wav(samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """Encode a mono signal as WAV bytes, always the same bytes for the same signal (no PEAK chunk)."""
    if subtype == "FLOAT":
        data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
        fmt = struct.pack("<HHIIHHH", 3, 1, sample_rate, sample_rate * 4, 4, 32, 0)
        extra = b"fact" + struct.pack("<II", 4, samples.shape[0])
    elif subtype == "PCM_16":
        data = np.clip(np.round(samples * 2**15), -(2**15), 2**15 - 1).astype("<i2").tobytes()
        fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
        extra = b""
    else:
        raise ValueError(f"unsupported WAV subtype {subtype!r}; use one of {STORAGE_SUBTYPES}")
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data))
    )
    padding = b"\0" if len(data) % 2 else b""
    return b"RIFF" + struct.pack("<I", len(body) + len(data) + len(padding)) + body + data + padding


DEFAULT_LOWPASS_ORDER: int = 4
"""Order of the Butterworth prototype of :func:`lowpass` unless told otherwise."""


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr at high quality (identity when the rates match)."""
    for rate in (orig_rate, target_rate):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not 0 < rate < math.inf:
            raise ValueError(f"a sampling rate must be a positive number of Hz, got {rate!r}")
    if orig_rate == target_rate:
        return samples
    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def lowpass(
    samples: np.ndarray, sample_rate: int, cutoff: float, order: int = DEFAULT_LOWPASS_ORDER
) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``scipy.signal.sosfiltfilt``) at ``cutoff`` Hz."""
    if not 0 < cutoff < sample_rate / 2:
        raise ValueError(
            f"low-pass cutoff {cutoff} Hz must lie between 0 and the Nyquist frequency {sample_rate / 2} Hz"
        )
    from scipy import signal as scipy_signal  # imported here: scipy.signal is slow to import

    sos = _butterworth(order, cutoff, sample_rate).copy()  # scipy's filter takes a writable array
    if samples.shape[0] <= 3 * (2 * len(sos) + 1):
        return samples  # too short for filtfilt padding; nothing meaningful to filter
    return scipy_signal.sosfiltfilt(sos, samples).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _butterworth(order: int, cutoff: float, sample_rate: float) -> np.ndarray:
    from scipy import signal as scipy_signal

    sos = scipy_signal.butter(order, cutoff, btype="lowpass", fs=sample_rate, output="sos")
    sos.flags.writeable = False  # designed once per rate and cutoff, not per recording (a few ms each)
    return sos


def input_preprocessing(config: Any) -> dict[str, Any]:
    """The input transform a model was trained with, as dataset-builder options (``load_icbhi(data_dir,
    **input_preprocessing(config))``): ``sampling_rate`` and any ``lowpass_cutoff`` / ``lowpass_order``."""
    options: dict[str, Any] = {"sampling_rate": int(config.sampling_rate)}
    cutoff = getattr(config, "lowpass_cutoff", None)
    if cutoff:
        options["lowpass_cutoff"] = float(cutoff)
        options["lowpass_order"] = int(getattr(config, "lowpass_order", None) or DEFAULT_LOWPASS_ORDER)
    return options


def prepare_recording(config: Any, waveform: np.ndarray) -> np.ndarray:
    """A whole recording at ``config.sampling_rate`` as the model's training recordings were."""
    options = input_preprocessing(config)
    if "lowpass_cutoff" not in options:
        return waveform
    return lowpass(waveform, options["sampling_rate"], options["lowpass_cutoff"], options["lowpass_order"])


def pad_batch(
    waveforms: Sequence[np.ndarray], padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad mono waveforms into ``input_values`` ``[batch, longest]`` and an int64 ``attention_mask``."""
    import torch  # imported here: the data builder's processes decode audio without torch

    longest = max(w.shape[0] for w in waveforms)
    batch = np.full((len(waveforms), longest), padding_value, dtype=np.float32)
    mask = np.zeros((len(waveforms), longest), dtype=np.int64)
    for row, waveform in enumerate(waveforms):
        batch[row, : waveform.shape[0]] = waveform  # numpy copies read-only arrays without a warning
        mask[row, : waveform.shape[0]] = 1
    return torch.from_numpy(batch), torch.from_numpy(mask)


FULL_SCALE_LIMIT: float = 2.0  # 6 dB over full scale: scaled audio, inter-sample overs included, stays below
SILENT_RMS: float = 1e-4
CLIPPED_LEVEL: float = 0.99  # below 1: a clipped recording resampled (its flat tops ripple) still counts
CLIPPED_FRACTION: float = 0.10
LUNG_SOUND_BAND_TOP: float = 2000.0
"""Hz: the top of the crackle and wheeze band (about 100 to 2000 Hz; ERS task force CORSA, Sovijärvi et
al. 2000)."""
MIN_SAMPLING_RATE: float = 2 * LUNG_SOUND_BAND_TOP

_UNTRUSTED = "its verdict is not to be trusted"


class InputWarning(UserWarning):
    """A recording respira scores but cannot judge: its verdict is marked (module docstring)."""


class AudioLevelWarning(InputWarning):
    """Audio at a level the model cannot judge: far above full scale (±1), silent, or clipped."""


class SampleRateWarning(InputWarning):
    """Audio recorded at a rate too low to hold the lung-sound band."""


class ShortRecordingWarning(InputWarning):
    """A recording shorter than one window: its verdict comes from one window padded by the model."""


def level_problems(samples: np.ndarray, pcm_bits: int | None = None) -> list[str]:
    """What is wrong with the level of float ``samples`` (``[]``: nothing); ``pcm_bits``: the bit depth of
    the integer PCM they came from, judged for clipping only."""
    if samples.size == 0:
        return []
    # max and -min, not abs: no copy of an hour-long recording just to find its peak
    peak = max(float(samples.max()), -float(samples.min()))
    if peak > FULL_SCALE_LIMIT and pcm_bits is None:
        return [
            f"peaks at {peak:.3g}, {20 * math.log10(peak):.0f} dB above full scale: float audio is "
            "expected in [-1, 1] (integer PCM stored as float? divide it by its full scale, 32768 for "
            "16-bit; integer arrays are scaled by respira itself)"
        ]
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    if rms < SILENT_RMS:
        return [
            f"is silent (RMS {rms:.2g} of full scale, below {SILENT_RMS:g}: "
            f"{20 * math.log10(SILENT_RMS):.0f} dBFS); {_UNTRUSTED}"
        ]
    clipped = int(np.count_nonzero(samples >= CLIPPED_LEVEL)) + int(
        np.count_nonzero(samples <= -CLIPPED_LEVEL)
    )
    share = clipped / samples.size
    if share > CLIPPED_FRACTION:
        cut = "" if pcm_bits is None else f": {pcm_bits}-bit PCM cut off at its full scale"
        return [
            f"is clipped ({100 * share:.1f} % of its samples at full scale, more than "
            f"{100 * CLIPPED_FRACTION:g} %){cut}; {_UNTRUSTED}"
        ]
    return []


def rate_problem(rate: float) -> str | None:
    """What is wrong with a recording made at ``rate`` Hz (said after its name and a colon), or ``None``."""
    if rate >= MIN_SAMPLING_RATE:
        return None
    return (
        f"recorded at {rate:g} Hz, which holds sound up to {rate / 2:g} Hz only; crackles and wheezes "
        f"reach {LUNG_SOUND_BAND_TOP:g} Hz (a rate of {MIN_SAMPLING_RATE:g} Hz or more), so its scores say "
        "little"
    )


def length_problem(num_samples: int, rate: int, window_seconds: float) -> str | None:
    """What is wrong with a recording shorter than one verdict window, or ``None``."""
    seconds = num_samples / rate
    if seconds >= window_seconds:
        return None
    return (
        f"is {seconds:.2g} s long, shorter than one {window_seconds:g}-s window: it is scored from one "
        f"window the model pads with repeats of it; {_UNTRUSTED}"
    )


def check_level(
    samples: np.ndarray, name: str | Path = "the waveform", pcm_bits: int | None = None
) -> list[str]:
    """Warn (:class:`AudioLevelWarning`) for each of :func:`level_problems`; return the messages."""
    messages = [f"{name} {problem}" for problem in level_problems(samples, pcm_bits)]
    for message in messages:
        warnings.warn(message, AudioLevelWarning, stacklevel=2)
    return messages


def check_rate(rate: float, name: str | Path = "the waveform") -> None:
    """Warn (:class:`SampleRateWarning`) when ``rate`` is under :data:`MIN_SAMPLING_RATE`."""
    problem = rate_problem(rate)
    if problem is not None:
        warnings.warn(f"{name}: {problem}", SampleRateWarning, stacklevel=3)


def check_input(
    samples: np.ndarray,
    rate: int,
    name: str | Path | None = None,
    *,
    recorded_rate: float | None = None,
    pcm_bits: int | None = None,
    window_seconds: float | None = None,
) -> str | None:
    """Every check of one recording (mono float ``samples`` at ``rate`` Hz), each warning but the rate's
    (:func:`check_rate` warns on reading); returns the messages joined by ``"; "``, or ``None``."""
    label = name if name is not None else "the waveform"
    messages = check_level(samples, label, pcm_bits)
    if window_seconds is not None:
        problem = length_problem(samples.shape[0], rate, window_seconds)
        if problem is not None:
            messages.append(f"{label} {problem}")
            warnings.warn(messages[-1], ShortRecordingWarning, stacklevel=2)
    problem = rate_problem(rate if recorded_rate is None else recorded_rate)
    if problem is not None:
        messages.append(f"{label}: {problem}")
    return "; ".join(messages) or None


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
