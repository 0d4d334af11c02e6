"""Windows of several recordings run in fixed-size batches, their outputs put back per recording."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .number_checks import check_whole


def window_batches(recordings: Iterable[Sequence[Any]], batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """``batch_size`` ``(recording index, window)`` pairs at a time across recordings (the last: fewer)."""
    batch_size = check_whole(batch_size, "batch_size")
    batch: list[tuple[int, Any]] = []
    for index, windows in enumerate(recordings):
        for window in windows:
            batch.append((index, window))
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def run_batched(recordings: Sequence[Sequence[Any]], run: Callable, batch_size: int) -> list[list[Any]]:
    """Each recording's outputs, one per window, of ``run`` over its :func:`window_batches`."""
    outputs: list[list[Any]] = [[] for _ in recordings]
    for batch in window_batches(recordings, batch_size):
        for (index, _), output in zip(batch, run([window for _, window in batch]), strict=True):
            outputs[index].append(output)
    return outputs
