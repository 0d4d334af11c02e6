"""A recording as consecutive overlapping chunks with the model's input preprocessing, in bounded memory.

:class:`MirroredRecording` mirrors the recording beyond its ends, where a convolutional encoder would
otherwise read zero padding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from ..models.respira.audio_dsp import input_preprocessing, prepare_recording

__all__ = [
    "FILTER_CONTEXT_SECONDS",
    "MirroredRecording",
    "Recording",
    "RecordingInMemory",
    "StreamedRecording",
    "chunk_spans",
    "iter_chunk_spans",
]

FILTER_CONTEXT_SECONDS = 1.0  # of signal each side of a streamed span, for its low-pass


def chunk_spans(num_samples: int, chunk_samples: int, margin_samples: int) -> list[tuple[int, int]]:
    """``[start, stop)`` chunk spans every ``chunk_samples - 2 * margin_samples``, the last at the end."""
    _check_chunks(chunk_samples, margin_samples)
    if num_samples <= chunk_samples:
        return [(0, num_samples)]
    step = chunk_samples - 2 * margin_samples
    count = math.ceil((num_samples - chunk_samples) / step) + 1
    starts = [min(index * step, num_samples - chunk_samples) for index in range(count)]
    return [(start, start + chunk_samples) for start in starts]


def _check_chunks(chunk_samples: int, margin_samples: int) -> None:
    if chunk_samples < 1 or margin_samples < 0 or chunk_samples - 2 * margin_samples < 1:
        raise ValueError(f"chunks of {chunk_samples} samples cannot keep {margin_samples} samples of context")


class Recording(Protocol):
    """What chunking reads; spans are asked for in increasing order of ``start``."""

    def has(self, index: int) -> bool: ...

    def total(self) -> int: ...

    def segment(self, start: int, stop: int) -> np.ndarray: ...


class RecordingInMemory:
    """A decoded waveform at the model's rate, prepared whole (``prepared``: it is already)."""

    def __init__(self, config: Any, waveform: np.ndarray, *, prepared: bool = False) -> None:
        self.samples = waveform if prepared else prepare_recording(config, waveform)

    def has(self, index: int) -> bool:
        return index < self.samples.shape[0]

    def total(self) -> int:
        return int(self.samples.shape[0])

    def segment(self, start: int, stop: int) -> np.ndarray:
        return self.samples[start:stop]


class StreamedRecording:
    """A file's signal at the model's rate from consecutive ``blocks``, low-passed span by span."""

    def __init__(self, config: Any, blocks: Iterator[np.ndarray]) -> None:
        self.config = config
        self.blocks = blocks
        self.filtered = "lowpass_cutoff" in input_preprocessing(config)
        self.context = round(FILTER_CONTEXT_SECONDS * int(config.sampling_rate)) if self.filtered else 0
        self.buffer = np.zeros(0, dtype=np.float32)
        self.offset = 0  # the index of buffer[0] in the recording
        self.ended = False

    def _read_to(self, index: int) -> None:
        pending = [self.buffer]
        available = self.offset + self.buffer.shape[0]
        while available <= index and not self.ended:
            block = next(self.blocks, None)
            if block is None:
                self.ended = True
                break
            pending.append(np.asarray(block, dtype=np.float32))
            available += block.shape[0]
        if len(pending) > 1:
            self.buffer = np.concatenate(pending)

    def has(self, index: int) -> bool:
        self._read_to(index)
        return index < self.offset + self.buffer.shape[0]

    def total(self) -> int:
        while not self.ended:
            self._read_to(self.offset + self.buffer.shape[0] + (1 << 20))
        return self.offset + self.buffer.shape[0]

    def segment(self, start: int, stop: int) -> np.ndarray:
        if start < self.offset:
            raise ValueError(
                f"samples from {start} were asked for after those before {self.offset} were dropped"
            )
        self._read_to(stop + self.context)
        first = max(self.offset, start - self.context)
        last = min(self.offset + self.buffer.shape[0], stop + self.context)
        piece = self.buffer[first - self.offset : last - self.offset]
        if self.filtered:
            piece = prepare_recording(self.config, piece)
        keep_from = max(0, start - self.context)
        self.buffer = self.buffer[keep_from - self.offset :]
        self.offset = keep_from
        return np.ascontiguousarray(piece[start - first : stop - first])


class MirroredRecording:
    """``recording`` with ``margin`` samples of its mirror image (``numpy.pad``'s ``reflect``) at each end."""

    def __init__(self, recording: Recording, margin: int) -> None:
        self.recording = recording
        self.margin = margin

    def has(self, index: int) -> bool:
        return self.recording.has(max(0, index - self.margin)) or index < self.total()

    def total(self) -> int:
        return self.recording.total() + 2 * self.margin

    def segment(self, start: int, stop: int) -> np.ndarray:
        index = np.abs(np.arange(start, stop) - self.margin)  # the mirror before the start
        if not self.recording.has(int(index.max())):  # reaches past the end: the mirror after it
            last = self.recording.total() - 1
            beyond = index > last
            index[beyond] = 2 * last - index[beyond]
            index = np.clip(index, 0, last)
        first = int(index.min())
        piece = self.recording.segment(first, int(index.max()) + 1)
        return np.ascontiguousarray(piece[index - first])


def iter_chunk_spans(
    recording: Recording, chunk_samples: int, margin_samples: int
) -> Iterator[tuple[int, int, bool]]:
    """``(start, stop, last)`` of :func:`chunk_spans` of ``recording``, read only as far as each needs."""
    _check_chunks(chunk_samples, margin_samples)
    step, index = chunk_samples - 2 * margin_samples, 0
    while recording.has(index * step + chunk_samples):  # a sample after this chunk: not the last one
        yield index * step, index * step + chunk_samples, False
        index += 1
    total = recording.total()
    yield max(total - chunk_samples, 0), total, True
