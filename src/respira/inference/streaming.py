"""Many recordings through a Detector (:meth:`respira.Detector.stream`): each read and cut for the model
ahead of it (:func:`read_ahead`: on a GPU by a background thread; side by side on the CPU's threads for
:meth:`~respira.Detector.embed`), their windows run ``batch_size`` at a time across recordings
(:func:`respira.inference.forward.stream`), and each completed in listing order; only the recordings whose
own windows fail get an ``error``.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.text_files import check_cycles_fit, read_annotations
from ..models.respira.audio_decoding import InputWarning, audio_header, read_audio
from ..models.respira.decision import FRAME_HOP_SECONDS
from ..models.respira.labels import cycle_label
from ..models.respira.windows import window_samples
from ..utils.messages import one_line
from .forward import runs_on_cpu, stream
from .frames import chunk_waveforms, plan_chunks
from .windowing import WindowPlan, check_window_limit

__all__ = [
    "DEFAULT_PREFETCH",
    "Prepared",
    "prepare",
    "read_ahead",
    "read_plan",
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


def read_plan(
    detector: Any,
    data: str | Path | bytes,
    name: str,
    *,
    annotations: str | Path | None = None,
    row: dict[str, Any] | None = None,
    **options: Any,
) -> WindowPlan:
    """A recording read at the model's rate and cut (:meth:`respira.Detector.plan_windows`) into windows, or
    into the cycles of its ICBHI ``annotations`` file; its header's values go into ``row``. A recording
    needing more than ``max_windows`` windows is refused before it is decoded."""
    cycles = None if annotations is None else read_annotations(Path(annotations))
    header = audio_header(data, name=name)
    if row is not None:
        row.update(duration=header.duration, sampling_rate=header.sampling_rate, channels=header.channels)
    rate = detector.sampling_rate
    if cycles is None:
        settings = detector.settings(options)
        window, hop = window_samples(settings["window"], settings["hop"], rate)
        check_window_limit(round(header.duration * rate), window, hop, rate, settings["max_windows"])
    waveform = read_audio(data, rate, name=name)
    if cycles is not None:
        duration = waveform.shape[0] / rate
        check_cycles_fit((Path(annotations), c.line, c.start, c.end, duration) for c in cycles)
        if not cycles:
            raise ValueError(f"{annotations}: no cycles to predict")
    spans = None if cycles is None else [(cycle.start, cycle.end) for cycle in cycles]
    checked = {"name": name, "recorded_rate": header.sampling_rate, "pcm_bits": header.pcm_bits}
    plan = detector.plan_windows(waveform, rate, cycles=spans, **checked, **options)
    if cycles is None:
        return plan
    return replace(plan, labels=[cycle_label(cycle.crackle, cycle.wheeze) for cycle in cycles])


def read_cycles(detector: Any, path: str | Path, cycles: Sequence[tuple[float, float]]) -> WindowPlan:
    """A recording read at the model's rate and cut (:meth:`respira.Detector.plan_windows`) into its
    ``cycles`` (``(start, end)`` seconds), each one window, without the input warnings of a verdict."""
    rate = detector.sampling_rate
    waveform = read_audio(path, rate, name=str(path))
    with warnings.catch_warnings():  # embeddings carry no verdict for a level warning to mark
        warnings.simplefilter("ignore", InputWarning)
        return detector.plan_windows(waveform, rate, cycles=cycles, name=str(path))


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
        item.plan = read_plan(detector, data, path, row=row)
        if events:
            item.chunks = plan_chunks(detector.model, item.plan.samples)
    except (OSError, ValueError) as error:
        row["error"] = reason(error, path)
        item.plan = item.chunks = None
    return item


def read_ahead(
    items: Iterable[Any], make: Callable[[Any], Any], ahead: int, *, threads: int = 1, turns: bool = False
) -> Iterator[Any]:
    """``make(item)`` of each of ``items`` in order, computed by ``threads`` reader threads at most ``ahead``
    items ahead of the consumer; with ``turns``, ``ahead`` at a time and none while the consumer works (the
    cores take turns with the model). A reader's error is raised to the consumer."""
    if ahead < 1:
        raise ValueError(f"the prefetch queue must hold at least 1 recording, got {ahead}")
    pending: deque[Future] = deque()
    remaining = iter(items)
    with ThreadPoolExecutor(threads) as pool:
        try:
            while True:
                while len(pending) < ahead and (item := next(remaining, _END)) is not _END:
                    pending.append(pool.submit(make, item))
                if not pending:
                    return
                if turns:
                    done = [future.result() for future in pending]
                    pending.clear()
                    yield from done
                else:
                    yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_END = object()


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

    make = partial(prepare, detector, events=events)
    # side by side: libsndfile, soxr and scipy's filter let go of the GIL; a reader beside the model slows it
    if side_by_side:
        threads = max(1, torch.get_num_threads())
        prepared: Iterable[Prepared] = read_ahead(recordings, make, 2 * threads, threads=threads, turns=True)
    elif prefetch and not runs_on_cpu(detector.model):
        prepared = read_ahead(recordings, make, prefetch)
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
