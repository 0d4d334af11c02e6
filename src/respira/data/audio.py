"""Decode, down-mix, resample and band-limit one recording; encode a cycle for storage."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import ICBHIFormatError

STORAGE_SUBTYPES: tuple[str, ...] = ("FLOAT", "PCM_16", "PCM_24")


def _check_wav_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file declares more sample data than it holds (a truncated download)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a plain RIFF/WAVE file: let the decoder judge it
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size > available:
                    raise ICBHIFormatError(
                        path,
                        f"truncated WAV file: its header declares {chunk_size} bytes of audio but only "
                        f"{available} are present (re-download or remove this recording)",
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header; raises on truncated, empty or non-audio files."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise ICBHIFormatError(path, f"cannot be decoded as audio ({error})") from None
    if info.frames == 0:
        raise ICBHIFormatError(path, "holds no audio samples (zero-length recording)")
    return info.frames / info.samplerate


def read_recording(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an audio file to a mono float32 signal (channels averaged) and its sample rate."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    try:
        samples, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise ICBHIFormatError(path, f"cannot be decoded as audio ({error})") from None
    if samples.shape[0] == 0:
        raise ICBHIFormatError(path, "holds no audio samples (zero-length recording)")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise ICBHIFormatError(path, "holds NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(sample_rate)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr at high quality (identity when the rates match)."""
    if orig_rate == target_rate:
        return samples
    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def lowpass(samples: np.ndarray, sample_rate: int, cutoff: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``sosfiltfilt``) at ``cutoff`` Hz."""
    if not 0 < cutoff < sample_rate / 2:
        raise ValueError(
            f"low-pass cutoff {cutoff} Hz must lie between 0 and the Nyquist frequency {sample_rate / 2} Hz"
        )
    from scipy import signal as scipy_signal  # imported here: scipy.signal is slow to import

    sos = scipy_signal.butter(order, cutoff, btype="lowpass", fs=sample_rate, output="sos")
    if samples.shape[0] <= 3 * (2 * len(sos) + 1):
        return samples  # too short for filtfilt padding; nothing meaningful to filter
    return scipy_signal.sosfiltfilt(sos, samples).astype(np.float32)


def load_recording(
    path: str | Path,
    sampling_rate: int,
    *,
    lowpass_cutoff: float | None = None,
    lowpass_order: int = 4,
) -> np.ndarray:
    """Decode once, down-mix to mono, resample once to ``sampling_rate``, optionally low-pass."""
    samples, orig_rate = read_recording(path)
    samples = resample(samples, orig_rate, sampling_rate)
    if lowpass_cutoff is not None:
        samples = lowpass(samples, sampling_rate, lowpass_cutoff, lowpass_order)
    return samples


_PCM_SCALE = {"PCM_16": 2**15, "PCM_24": 2**23}


def encode_wav(samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """Encode a mono signal as WAV bytes for a ``datasets.Audio`` column.

    Written here rather than through libsndfile, whose float WAV files carry a time-stamped PEAK
    chunk: the same cycle must always encode to the same bytes (cache fingerprints, Hub diffs).
    """
    if subtype == "FLOAT":
        data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
        fmt = struct.pack("<HHIIHHH", 3, 1, sample_rate, sample_rate * 4, 4, 32, 0)
        extra = b"fact" + struct.pack("<II", 4, samples.shape[0])
    elif subtype in _PCM_SCALE:
        scale = _PCM_SCALE[subtype]
        integers = np.clip(np.round(samples * scale), -scale, scale - 1).astype("<i4")
        if subtype == "PCM_16":
            data = integers.astype("<i2").tobytes()
        else:
            data = integers.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        width = 2 if subtype == "PCM_16" else 3
        fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * width, width, 8 * width)
        extra = b""
    else:
        raise ValueError(f"unsupported WAV subtype {subtype!r}; use one of {STORAGE_SUBTYPES}")
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data))
    )
    padding = b"\0" if len(data) % 2 else b""
    return b"RIFF" + struct.pack("<I", len(body) + len(data) + len(padding)) + body + data + padding
