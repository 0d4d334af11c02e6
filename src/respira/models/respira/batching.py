"""Windows of several recordings run in fixed-size batches, their outputs put back per recording."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any


def window_batches(recordings: Iterable[Sequence[Any]], batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """``batch_size`` ``(recording index, window)`` pairs at a time across recordings (the last: fewer)."""
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
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


def batched(
    items: Iterable[Any],
    parts: Callable[[Any], Sequence[Any]],
    run: Callable[[list[Any]], Sequence[Any]],
    batch_size: int,
) -> Iterator[tuple[Any, list[Any] | None, BaseException | None]]:
    """``(item, outputs, error)`` of each of ``items`` in order, as soon as its windows have run; a
    window's ``ValueError`` fails its item alone."""
    waiting: deque[tuple[int, list[Any]]] = deque()  # (index, [item, windows, outputs, error])
    entries: dict[int, list[Any]] = {}  # the items waiting, by index: a finished one is let go

    def windows() -> Iterator[list[Any]]:
        for index, item in enumerate(items):
            entries[index] = [item, list(parts(item)), [], None]
            waiting.append((index, entries[index]))
            yield entries[index][1]

    def finished() -> Iterator[tuple[Any, list[Any] | None, BaseException | None]]:
        while waiting and len(waiting[0][1][2]) == len(waiting[0][1][1]):
            index, (item, _, outputs, error) = waiting.popleft()
            del entries[index]
            yield item, None if error is not None else outputs, error

    for batch in window_batches(windows(), batch_size):
        try:
            outputs: Sequence[Any] | None = run([window for _, window in batch])
        except ValueError:
            outputs = None
        for position, (index, window) in enumerate(batch):
            entry = entries[index]
            if outputs is not None:
                entry[2].append(outputs[position])
                continue
            try:
                entry[2].append(run([window])[0])
            except ValueError as error:
                entry[2].append(None)
                entry[3] = entry[3] or error
        yield from finished()
    yield from finished()
