"""Screen a SOURCE's recordings with a :class:`~respira.inference.detector.Detector`, each process its
share; the main one merges the chunks. A recording that cannot be screened is a row with its ``error``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..inference.streaming import DEFAULT_PREFETCH
from ..models.respira.audio_decoding import audio_header
from ..utils.files import write_json_atomic
from ..utils.progress import Stage
from .results import (
    CHUNKS,
    MANIFEST,
    ChunkWriter,
    check_manifest,
    finished_keys,
    merge_chunks,
    model_fingerprint,
    prepare_run,
)
from .sources import Recording, Source


@dataclass
class Summary:
    """What a run did: recordings ``done``, ``failed`` and ``skipped`` (finished before), the audio and wall
    seconds, and the ``outputs`` tables."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    outputs: tuple[str, ...] = ()

    def describe(self) -> str:
        speed = self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0
        return (
            f"screened {self.done} recording(s), {self.failed} failed, {self.skipped} skipped (done "
            f"before); {self.audio_seconds / 3600:.2f} h of audio in {self.wall_seconds:.1f} s, "
            f"{speed:.0f}× real time"
        )


def _pending(
    source: Source, index: int, count: int, finished: set[Any], mine: Summary
) -> Iterator[Recording]:
    for recording in source.share(index, count):
        if recording.key in finished:
            mine.skipped += 1
        else:
            yield recording


def screen(
    detector: Any,
    source: Source,
    output_dir: str | Path,
    *,
    options: Mapping[str, Any],
    state: Any,
    events: bool = False,
    frame_hop_seconds: float | None = None,
    chunk_size: int = 256,
    output_format: str = "parquet",
    progress: Callable[[float, str], Any] | None = None,
    prefetch: int = DEFAULT_PREFETCH,
) -> Summary | None:
    """Screen this process's share of ``source`` into ``output_dir``; on the main process, wait for the
    others, merge and return the run's :class:`Summary` (``None`` elsewhere)."""
    output_dir = Path(output_dir)
    manifest = {
        "model": model_fingerprint(detector.model),
        "source": source.identity,
        "options": dict(options),
    }
    check_manifest(output_dir, manifest)  # every process, before anything is written
    run = 0
    if state.is_main_process:
        run = prepare_run(output_dir)  # makes the folder
        write_json_atomic(output_dir / MANIFEST, {**manifest, "run": run})
    run = _from_main(state, run)  # the others start once the main process has cleaned up
    index, count = state.process_index, state.num_processes
    started = time.perf_counter()
    finished = finished_keys(output_dir)
    mine = Summary()
    writer = ChunkWriter(output_dir, run, index, chunk_size, events)
    total, unit = _share_size(source, index, count, finished) if state.is_main_process else (0.0, "h")
    silent = progress is None or not state.is_main_process
    with contextlib.nullcontext(Stage()) if silent else progress(total, unit) as stage:
        pending = _pending(source, index, count, finished, mine)
        rows = screen_rows(
            detector, pending, events=events, frame_hop_seconds=frame_hop_seconds, prefetch=prefetch
        )
        for row, event_rows in rows:
            writer.add(row, event_rows)
            if row.get("error") is None:
                mine.done += 1
                mine.audio_seconds += row["duration"]
            else:
                mine.failed += 1
            stage.update((row.get("duration") or 0.0) / 3600 if unit == "h" else 1)
    writer.flush()
    marker = output_dir / CHUNKS / f"finished-{run:04d}-{index:04d}.json"
    write_json_atomic(marker, asdict(mine))
    if not state.is_main_process:
        return None
    summary = _gather(output_dir, run, count)
    summary.outputs = tuple(str(path) for path in merge_chunks(output_dir, output_format, events))
    summary.wall_seconds = time.perf_counter() - started
    return summary


def screen_rows(
    detector: Any,
    recordings: Iterable[Recording],
    *,
    events: bool = False,
    frame_hop_seconds: float | None = None,
    prefetch: int = DEFAULT_PREFETCH,
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each recording's row (:data:`~respira.screening.results.RECORDING_SCHEMA`) and event rows, in order."""
    hop = {} if frame_hop_seconds is None else {"frame_hop_seconds": frame_hop_seconds}
    for item in detector.stream(recordings, events=events, prefetch=prefetch, **hop):
        if (verdict := item.prediction) is not None and item.row.get("error") is None:
            item.row.update(verdict=verdict.label, crackle=verdict.crackle, wheeze=verdict.wheeze)
            item.row["warning"] = verdict.warning
        yield item.row, item.events


def _from_main(state: Any, value: int) -> int:
    """The main process's ``value``, on every process."""
    if state.num_processes == 1:
        return value
    import torch.distributed as dist

    # torch's own broadcast: accelerate's state may have been set up without a GPU by a TrainingArguments
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            f"process {state.process_index} of {state.num_processes} is not connected to the others "
            "(no torch.distributed process group): start the processes with accelerate launch"
        )
    values = [value]
    dist.broadcast_object_list(values, src=0)
    return int(values[0])


def _share_size(source: Source, index: int, count: int, finished: set[Any]) -> tuple[float, str]:
    """What the main process's bar counts: hours of audio, or recordings for a dataset."""
    if source.kind == "dataset":
        try:
            return float(len(range(index, len(source), count))), "recording"
        except TypeError:
            return 0.0, "recording"
    seconds = 0.0
    for recording in source.share(index, count):
        if recording.key not in finished and recording.data is not None:
            with contextlib.suppress(OSError, ValueError):  # its row will say why
                seconds += audio_header(recording.data).duration
    return seconds / 3600, "h"


def _gather(output_dir: Path, run: int, count: int) -> Summary:
    """Wait for every process's ``finished`` marker of run ``run``; sum their counts."""
    markers = [output_dir / CHUNKS / f"finished-{run:04d}-{index:04d}.json" for index in range(count)]
    while not all(marker.is_file() for marker in markers):
        time.sleep(0.5)  # a process that died ends the launch (accelerate stops them all)
    total = Summary()
    for marker in markers:
        counts = json.loads(marker.read_text(encoding="utf-8"))
        for key in ("done", "failed", "skipped", "audio_seconds"):
            setattr(total, key, getattr(total, key) + counts[key])
        marker.unlink()
    return total
