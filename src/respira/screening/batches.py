"""The screening engine: recordings prepared ahead of the model, their windows batched across recordings.

Recordings are planned ahead of the model (on a GPU by a background thread, :class:`Prefetch`), their
windows run ``batch_size`` at a time across recordings, and each gets the rows of the per-recording path,
in listing order; only the recordings whose own windows fail get an error row.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..inference.engine import WindowPlan, check_window_limit, run_windows
from ..inference.event_detection import chunk_waveforms, plan_chunks, step_outputs
from ..inference.form import runs_on_cpu
from ..models.respira.audio_decoding import audio_header, read_audio
from ..models.respira.batching import batched
from ..models.respira.windows import window_samples
from ..utils.messages import one_line
from .sources import Recording

__all__ = [
    "CPU_BATCH_SIZE",
    "DEFAULT_PREFETCH",
    "GPU_BATCH_SIZE",
    "Prefetch",
    "Prepared",
    "batched",
    "check_length",
    "default_batch_size",
    "prepare",
    "reason",
    "screen_rows",
]

DEFAULT_PREFETCH = 8  # recordings decoded ahead of the model
CPU_BATCH_SIZE = 8  # windows per forward pass: faster than 32 on the CPU (BENCHMARKS.md, respira screen)
GPU_BATCH_SIZE = 64


def default_batch_size(device: str) -> int:
    """:data:`CPU_BATCH_SIZE` on the CPU, :data:`GPU_BATCH_SIZE` on any other device."""
    return CPU_BATCH_SIZE if str(device).startswith("cpu") else GPU_BATCH_SIZE


@dataclass
class Prepared:
    """A recording read and cut for the model: its ``row`` so far, its window ``plan`` and event ``chunks``,
    then its ``prediction`` and ``events`` rows once they have run."""

    recording: Recording
    row: dict[str, Any]
    plan: WindowPlan | None = None
    chunks: list[tuple[int, int, bool]] | None = None
    prediction: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)


def reason(error: BaseException, path: str) -> str:
    """``error``'s one-line message without the leading ``path: ``."""
    message = one_line(error)
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def check_length(detector: Any, duration: float) -> None:
    """Refuse, before decoding, a recording needing more than the detector's ``max_windows`` windows."""
    rate = detector.sampling_rate
    window, hop = window_samples(detector.options["window"], detector.options["hop"], rate)
    check_window_limit(round(duration * rate), window, hop, rate, detector.options["max_windows"])


def prepare(detector: Any, recording: Recording, *, events: bool = False) -> Prepared:
    """Everything before the model for one recording; what fails is the row's ``error``."""
    row: dict[str, Any] = {"path": recording.path, "size": recording.size, "mtime_ns": recording.mtime_ns}
    item = Prepared(recording, row)
    try:
        if recording.data is None:
            raise ValueError("the dataset row holds no audio (neither bytes nor a path)")
        header = audio_header(recording.data, name=recording.path)
        row.update(duration=header.duration, sampling_rate=header.sampling_rate, channels=header.channels)
        check_length(detector, header.duration)
        rate = detector.sampling_rate
        waveform = read_audio(recording.data, rate, name=recording.path)
        item.plan = detector.plan_windows(
            waveform, rate, name=recording.path, recorded_rate=header.sampling_rate, pcm_bits=header.pcm_bits
        )
        if events:
            item.chunks = plan_chunks(detector.model, item.plan.samples)
    except (OSError, ValueError) as error:
        row["error"] = reason(error, recording.path)
        item.plan = item.chunks = None
    return item


class Prefetch:
    """Iterate ``make(item)`` over ``items`` computed in a background thread, at most ``size`` ahead."""

    _END = object()

    def __init__(
        self, items: Iterable[Any], make: Callable[[Any], Any], size: int = DEFAULT_PREFETCH
    ) -> None:
        if size < 1:
            raise ValueError(f"the prefetch queue must hold at least 1 recording, got {size}")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items, make), daemon=True)
        self._thread.start()

    def _put(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterable[Any], make: Callable[[Any], Any]) -> None:
        try:
            for item in items:
                if not self._put((make(item), None)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put((None, error))
            return
        self._put((self._END, None))

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                value, error = self._queue.get()
                if error is not None:
                    raise error
                if value is self._END:
                    return
                yield value
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _completed(
    screened: Iterable[tuple[Prepared, list[Any] | None, Any]],
    complete: Callable[[Prepared, list[Any]], None],
) -> Iterator[Prepared]:
    """Each item ``complete``d with its outputs, or given its ``error``."""
    for item, outputs, refused in screened:
        error = refused
        if item.plan is not None and error is None and outputs is not None:
            try:
                complete(item, outputs)
            except ValueError as failure:
                error = failure
        if error is not None:
            item.row["error"] = reason(error, item.recording.path)
            item.plan, item.chunks, item.events = None, None, []
        yield item


def _predict(detector: Any, item: Prepared, outputs: list[Any]) -> None:
    item.prediction = detector.planned_prediction(item.plan, np.stack(outputs), name=item.recording.path)


def _detect(detector: Any, item: Prepared, outputs: list[Any], *, frame_hop_seconds: float) -> None:
    detection = detector.planned_events(
        item.plan, item.chunks, outputs, item.prediction, frame_hop_seconds=frame_hop_seconds
    )
    item.events = [
        {("path" if key == "file" else key): value for key, value in event.items()}
        for event in detection.to_rows()
    ]


def screen_rows(
    detector: Any,
    recordings: Iterable[Recording],
    *,
    events: bool = False,
    frame_hop_seconds: float | None = None,
    prefetch: int = DEFAULT_PREFETCH,
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each recording's row (:data:`~respira.screening.results.RECORDING_SCHEMA`) and event rows, in order."""
    from ..models.respira.events import FRAME_HOP_SECONDS

    hop = FRAME_HOP_SECONDS if frame_hop_seconds is None else frame_hop_seconds
    batch_size = int(detector.options["batch_size"])

    def make(recording: Recording) -> Prepared:
        return prepare(detector, recording, events=events)

    ahead = prefetch and not runs_on_cpu(detector.model)
    prepared = Prefetch(recordings, make, prefetch) if ahead else map(make, recordings)
    windows = batched(
        prepared,
        lambda item: item.plan.windows if item.plan is not None else [],
        lambda windows: list(run_windows(detector.inference_model, windows, batch_size)),
        batch_size,
    )
    screened = _completed(windows, partial(_predict, detector))
    if events:
        chunks = batched(
            screened,
            lambda item: (
                []
                if item.plan is None or item.chunks is None
                else chunk_waveforms(detector.config, item.plan.samples, item.chunks)
            ),
            lambda chunks: step_outputs(detector.inference_model, chunks, batch_size),
            batch_size,
        )
        screened = _completed(chunks, partial(_detect, detector, frame_hop_seconds=hop))
    for item in screened:
        if item.prediction is not None and item.row.get("error") is None:
            prediction = item.prediction
            item.row.update(
                verdict=prediction.label,
                crackle=prediction.crackle,
                wheeze=prediction.wheeze,
                warning=prediction.warning,
            )
        yield item.row, item.events
