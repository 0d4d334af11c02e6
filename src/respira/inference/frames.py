"""Where in a recording: crackle and wheeze posteriors on a fixed frame grid, and the events they make
(:meth:`respira.Detector.detect_events`).

The model runs once per chunk of ``config.target_seconds``, its head applied to each encoder time step,
interpolated onto frames of :data:`respira.models.respira.decision.FRAME_HOP_SECONDS`. Chunks overlap by a
margin (a quarter chunk, at most 1 s) and each frame takes the chunk where it lies farthest from an edge.
The recording is read chunk by chunk in bounded memory, mirrored beyond its ends
(:class:`MirroredRecording`), where a convolutional encoder would otherwise read zero padding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..models.respira.audio_decoding import (
    as_waveform,
    check_whole,
    input_preprocessing,
    is_real,
    prepare_recording,
    stream_audio,
)
from ..models.respira.decision import (
    FRAME_HOP_SECONDS,
    EventSettings,
    decide,
    event_settings_of,
    posteriors_to_events,
    thresholds_of,
)
from ..models.respira.windows import DEFAULT_BATCH_SIZE, check_holds_a_frame
from .event_rules import EventDetection, FramePosteriors
from .forward import run
from .windowing import analysis_frame_samples

if TYPE_CHECKING:
    import torch

    from ..models.respira import RespiraForAudioClassification

__all__ = [
    "MirroredRecording",
    "Recording",
    "RecordingInMemory",
    "StreamedRecording",
    "chunk_sizes",
    "chunk_waveforms",
    "detection_of_frames",
    "frames_from_chunks",
    "iter_chunk_spans",
    "plan_chunks",
    "predict_frames",
]

FILTER_CONTEXT_SECONDS = 1.0  # of signal each side of a streamed span, for its low-pass


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
    """``(start, stop, last)`` of ``recording``'s chunks, every ``chunk_samples - 2 * margin_samples``, the
    last at the end (the whole recording when shorter than a chunk), read only as far as each needs."""
    if chunk_samples < 1 or margin_samples < 0 or chunk_samples - 2 * margin_samples < 1:
        raise ValueError(f"chunks of {chunk_samples} samples cannot keep {margin_samples} samples of context")
    step, index = chunk_samples - 2 * margin_samples, 0
    while recording.has(index * step + chunk_samples):  # a sample after this chunk: not the last one
        yield index * step, index * step + chunk_samples, False
        index += 1
    total = recording.total()
    yield max(total - chunk_samples, 0), total, True


MAX_CONTEXT_SECONDS = 1.0


class _Grid:
    """Frame posteriors filled chunk by chunk: each frame keeps the chunk it lies deepest in."""

    def __init__(self, hop: float, rate: int) -> None:
        self.hop, self.rate = hop, rate
        self.posteriors = np.zeros((0, 2))
        self.best = np.zeros(0)

    def _frames(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self.hop - 1e-9))

    def add(self, start: int, stop: int, last: bool, times: np.ndarray, flags: np.ndarray) -> None:
        begin, end = start / self.rate, stop / self.rate
        needed = self._frames(end)
        if needed > self.best.shape[0]:
            grown = max(needed, int(self.best.shape[0] * 1.5))
            self.posteriors = np.concatenate([self.posteriors, np.zeros((grown - self.best.shape[0], 2))])
            self.best = np.concatenate([self.best, np.full(grown - self.best.shape[0], -np.inf)])
        indices = np.arange(max(0, math.floor(begin / self.hop - 0.5)), needed)  # from the frame at begin
        centres = (indices + 0.5) * self.hop
        inside = indices[centres >= begin] if last else indices[(centres >= begin) & (centres < end)]
        local = (inside + 0.5) * self.hop - begin
        centrality = np.minimum(local, (end - begin) - local)  # every chunk edge is one: ends are mirrored
        better = centrality > self.best[inside]
        rows = inside[better]
        for column in range(2):
            self.posteriors[rows, column] = np.interp(local[better], times, flags[:, column])
        self.best[rows] = centrality[better]

    def result(self, total: int) -> FramePosteriors:
        duration = total / self.rate
        posteriors = np.clip(self.posteriors[: self._frames(duration)], 0.0, 1.0)
        return FramePosteriors(posteriors, float(self.hop), duration)


def _check_options(frame_hop_seconds: float, batch_size: int) -> None:
    if not (is_real(frame_hop_seconds) and 0 < frame_hop_seconds <= 0.1):
        raise ValueError(f"frame_hop_seconds must be in (0, 0.1], got {frame_hop_seconds!r}")
    check_whole(batch_size, "batch_size")


def chunk_sizes(config: Any) -> tuple[int, int]:
    """``(chunk, margin)`` in samples at the model's rate."""
    rate = int(config.sampling_rate)
    chunk = round(float(config.target_seconds) * rate)
    return chunk, round(min(MAX_CONTEXT_SECONDS, float(config.target_seconds) / 4) * rate)


def _fill(grid: _Grid, config: Any, spans: Sequence[tuple[int, int, bool]], outputs: Sequence[Any]) -> None:
    margin = chunk_sizes(config)[1]
    for (start, stop, last), (times, probabilities) in zip(spans, outputs, strict=True):
        grid.add(start - margin, stop - margin, last, times, decide(probabilities, config).flags)


def plan_chunks(model: RespiraForAudioClassification, samples: np.ndarray) -> list[tuple[int, int, bool]]:
    """The chunks ``(start, stop, last)`` :func:`predict_frames` runs over a prepared recording, for
    :func:`chunk_waveforms`, their ``frames`` (:func:`~respira.inference.forward.forward`, with other
    recordings') and :func:`frames_from_chunks`."""
    config = model.config
    check_holds_a_frame(samples.shape[0], analysis_frame_samples(model), int(config.sampling_rate))
    recording = MirroredRecording(RecordingInMemory(config, samples, prepared=True), chunk_sizes(config)[1])
    return list(iter_chunk_spans(recording, *chunk_sizes(config)))


def chunk_waveforms(
    config: Any, samples: np.ndarray, chunks: Sequence[tuple[int, int, bool]]
) -> list[np.ndarray]:
    """The waveforms of :func:`plan_chunks`'s ``chunks`` of a prepared recording's ``samples``."""
    recording = MirroredRecording(RecordingInMemory(config, samples, prepared=True), chunk_sizes(config)[1])
    return [recording.segment(start, stop) for start, stop, _ in chunks]


def frames_from_chunks(
    config: Any,
    spans: Sequence[tuple[int, int, bool]],
    outputs: Sequence[tuple[np.ndarray, np.ndarray]],
    total: int,
    frame_hop_seconds: float = FRAME_HOP_SECONDS,
) -> FramePosteriors:
    """:func:`predict_frames`'s result from a :func:`plan_chunks` plan's chunk outputs."""
    _check_options(frame_hop_seconds, 1)
    grid = _Grid(float(frame_hop_seconds), int(config.sampling_rate))
    _fill(grid, config, spans, outputs)
    return grid.result(total)


def predict_frames(
    model: RespiraForAudioClassification,
    source: np.ndarray | torch.Tensor | str | Path,
    *,
    frame_hop_seconds: float = FRAME_HOP_SECONDS,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> FramePosteriors:
    """Crackle and wheeze posteriors on frames of ``frame_hop_seconds`` of a mono waveform at the model's
    rate (not yet low-passed) or of an audio file, streamed block by block."""
    _check_options(frame_hop_seconds, batch_size)
    config = model.config
    rate = int(config.sampling_rate)
    if isinstance(source, (str, Path)):
        recording: Recording = StreamedRecording(config, stream_audio(source, rate))
    else:
        recording = RecordingInMemory(config, as_waveform(source))
    frame = analysis_frame_samples(model)
    if not recording.has(frame - 1):
        check_holds_a_frame(recording.total(), frame, rate)
    grid = _Grid(float(frame_hop_seconds), rate)
    mirrored = MirroredRecording(recording, chunk_sizes(config)[1])
    spans = iter_chunk_spans(mirrored, *chunk_sizes(config))
    while part := list(itertools.islice(spans, batch_size)):
        outputs = run(model, [mirrored.segment(start, stop) for start, stop, _ in part], "frames", batch_size)
        _fill(grid, config, part, outputs)
    return grid.result(recording.total())


def detection_of_frames(
    model: Any,
    frames: FramePosteriors,
    *,
    thresholds: Sequence[float] | None = None,
    settings: EventSettings | None = None,
    file: str | None = None,
) -> EventDetection:
    """The events of frame posteriors at ``thresholds`` with ``settings`` (default: the model's)."""
    chosen = tuple(thresholds) if thresholds is not None else thresholds_of(model.config)
    settings = settings if settings is not None else event_settings_of(model.config)
    events = posteriors_to_events(frames.posteriors, frames.hop_seconds, chosen, settings)
    return EventDetection(events, frames, (float(chosen[0]), float(chosen[1])), settings, file)
