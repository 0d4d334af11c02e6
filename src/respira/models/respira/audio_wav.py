"""The RIFF/WAVE format: deterministic WAV bytes, the truncation check, integer PCM as float."""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

import numpy as np

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
