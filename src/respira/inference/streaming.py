"""Many recordings through a Detector (:meth:`respira.Detector.stream`): each read and cut for the model
ahead of it (on a GPU by a background thread, :class:`Prefetch`; side by side on the CPU's threads for
:meth:`~respira.Detector.embed`), their windows run ``batch_size`` at a time across recordings
(:func:`respira.inference.forward.stream`), and each completed in listing order; only the recordings whose
own windows fail get an ``error``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.decoding import audio_header, read_audio
from ..core.events import FRAME_HOP_SECONDS
from ..core.windows import window_samples
from ..utils.messages import one_line
from .engine import WindowPlan, check_window_limit
from .event_detection import chunk_waveforms, plan_chunks
from .forward import runs_on_cpu, stream

__all__ = [
    "DEFAULT_PREFETCH",
    "Prefetch",
    "Prepared",
    "check_length",
    "prepare",
    "reason",
    "stream_recordings",
]

DEFAULT_PREFETCH = 8  # recordings decoded ahead of the model


@dataclass
class Prepared:
    """A recording read and cut for the model: its ``row`` so far, its window ``plan`` and event ``chunks``,
    then its ``prediction`` and ``events`` rows (or the ``outputs`` asked) once they have run;
    ``recording``: a path or an item with ``path`` and ``data`` (:class:`respira.screening.Recording`)."""

    recording: Any
    row: dict[str, Any]
    plan: WindowPlan | None = None
    chunks: list[tuple[int, int, bool]] | None = None
    prediction: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[Any] | None = None


def reason(error: BaseException, path: str) -> str:
    """``error``'s one-line message without the leading ``path: ``."""
    message = one_line(error)
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def check_length(detector: Any, duration: float) -> None:
    """Refuse, before decoding, a recording needing more than the detector's ``max_windows`` windows."""
    rate = detector.sampling_rate
    window, hop = window_samples(detector.options["window"], detector.options["hop"], rate)
    check_window_limit(round(duration * rate), window, hop, rate, detector.options["max_windows"])


def prepare(detector: Any, recording: Any, *, events: bool = False) -> Prepared:
    """Everything before the model for one recording; what fails is the row's ``error``."""
    path = str(recording) if isinstance(recording, (str, Path)) else recording.path
    data = recording if isinstance(recording, (str, Path)) else recording.data
    row = {
        "path": path,
        "size": getattr(recording, "size", None),
        "mtime_ns": getattr(recording, "mtime_ns", None),
    }
    item = Prepared(recording, row)
    try:
        if data is None:
            raise ValueError("the dataset row holds no audio (neither bytes nor a path)")
        header = audio_header(data, name=path)
        row.update(duration=header.duration, sampling_rate=header.sampling_rate, channels=header.channels)
        check_length(detector, header.duration)
        rate = detector.sampling_rate
        waveform = read_audio(data, rate, name=path)
        item.plan = detector.plan_windows(
            waveform, rate, name=path, recorded_rate=header.sampling_rate, pcm_bits=header.pcm_bits
        )
        if events:
            item.chunks = plan_chunks(detector.model, item.plan.samples)
    except (OSError, ValueError) as error:
        row["error"] = reason(error, path)
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
            item.row["error"] = reason(error, item.row["path"])
            item.plan, item.chunks, item.events = None, None, []
        yield item


def _predict(detector: Any, item: Prepared, outputs: list[Any]) -> None:
    item.prediction = detector.planned_prediction(item.plan, np.stack(outputs), name=item.row["path"])


def _detect(detector: Any, item: Prepared, outputs: list[Any], *, frame_hop_seconds: float) -> None:
    detection = detector.planned_events(
        item.plan, item.chunks, outputs, item.prediction, frame_hop_seconds=frame_hop_seconds
    )
    item.events = [
        {("path" if key == "file" else key): value for key, value in event.items()}
        for event in detection.to_rows()
    ]


def _read_side_by_side(items: Sequence[Any], make: Callable[[Any], Any]) -> Iterator[Any]:
    # the cores take turns: a few recordings read side by side (libsndfile, soxr and scipy's filter let go
    # of the GIL), then the model on their windows; a reader beside the model would slow it
    import torch

    threads = max(1, torch.get_num_threads())
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(items), 2 * threads):
            yield from list(pool.map(make, items[start : start + 2 * threads]))


def stream_recordings(
    detector: Any,
    recordings: Iterable[Any],
    *,
    output: str | Sequence[str] = "probabilities",
    events: bool = False,
    frame_hop_seconds: float = FRAME_HOP_SECONDS,
    batch_size: int | None = None,
    prefetch: int = DEFAULT_PREFETCH,
    side_by_side: bool = False,
) -> Iterator[Prepared]:
    """Each recording prepared (:func:`prepare`), its windows run with other recordings' and completed, in
    order: ``output="probabilities"`` gives its ``prediction`` (and with ``events`` its ``events`` rows);
    other :data:`~respira.inference.forward.OUTPUTS` its ``outputs``, one per window."""
    size = int(batch_size or detector.options["batch_size"])
    runner = detector.inference_model

    def make(recording: Any) -> Prepared:
        return prepare(detector, recording, events=events)

    if side_by_side:
        prepared: Iterable[Prepared] = _read_side_by_side(list(recordings), make)
    elif prefetch and not runs_on_cpu(detector.model):
        prepared = Prefetch(recordings, make, prefetch)
    else:
        prepared = map(make, recordings)
    windows = stream(
        runner, prepared, lambda item: item.plan.windows if item.plan is not None else [], output, size
    )
    if output != "probabilities":
        yield from _completed(windows, _keep)
        return
    screened = _completed(windows, partial(_predict, detector))
    if events:
        chunks = stream(
            runner,
            screened,
            lambda item: (
                []
                if item.plan is None or item.chunks is None
                else chunk_waveforms(detector.config, item.plan.samples, item.chunks)
            ),
            "frames",
            size,
        )
        screened = _completed(chunks, partial(_detect, detector, frame_hop_seconds=frame_hop_seconds))
    yield from screened


def _keep(item: Prepared, outputs: list[Any]) -> None:
    item.outputs = outputs
