"""The RIFF/WAVE format, in one place: deterministic WAV bytes, and the check for a truncated file.

- :func:`encode_wav`: a mono signal as WAV bytes (a ``datasets.Audio`` column's storage), always the same
  bytes for the same signal, in one of :data:`STORAGE_SUBTYPES`.
- :func:`truncated_data`: whether a RIFF/WAVE stream declares more sample data than it holds (a
  truncated download), which :func:`respira.audio.read_audio` refuses before decoding.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np

__all__ = ["STORAGE_SUBTYPES", "encode_wav", "truncated_data"]

STORAGE_SUBTYPES: tuple[str, ...] = ("FLOAT", "PCM_16", "PCM_24")
"""WAV sample formats :func:`encode_wav` writes."""

_UNKNOWN_CHUNK_SIZE = 0xFFFFFFFF  # the size a WAV writer leaves when it cannot seek back to fill it in
_PCM_SCALE = {"PCM_16": 2**15, "PCM_24": 2**23}


def truncated_data(handle: BinaryIO, size: int) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of sample data when a RIFF/WAVE stream of ``size`` bytes declares more
    than it holds; ``None`` for a complete one, and for anything that is not plain RIFF/WAVE (its
    decoder judges it).

    A data size of ``0xFFFFFFFF`` means "unknown" (a WAV streamed to a pipe, as ``ffmpeg ... -f wav -``
    writes it): the samples run to the end of the file, which is how libsndfile reads them.
    """
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


def encode_wav(samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """Encode a mono signal as WAV bytes (e.g. for a ``datasets.Audio`` column).

    Written here rather than through libsndfile, whose float WAV files carry a time-stamped PEAK
    chunk: the same signal must always encode to the same bytes (cache fingerprints, Hub diffs).
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
