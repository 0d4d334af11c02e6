"""Training batches that keep every bag (the windows of one recording) whole, filled up with cycles.

Each epoch the bags are packed first-fit-decreasing (ties broken at random), the free places filled with
cycles in random order and the batches shuffled, deterministically for ``(seed, epoch)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["BagPackingBatchSampler"]


def _first_fit(sizes: Sequence[int], capacity: int, bins: int | None = None) -> list[list[int]]:
    """Positions of ``sizes`` (in the given order) packed first-fit into bins of ``capacity``."""
    packed: list[list[int]] = [[] for _ in range(bins or 0)]
    room: list[int] = [capacity] * len(packed)
    for position, size in enumerate(sizes):
        target = next((b for b, free in enumerate(room) if free >= size), None)
        if target is None:
            if bins is not None:
                raise RuntimeError("the bags do not fit the batches")  # cannot happen: see __init__
            packed.append([])
            room.append(capacity)
            target = len(packed) - 1
        packed[target].append(position)
        room[target] -= size
    return packed


class BagPackingBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` indices where every bag is whole (see the module docstring)."""

    def __init__(self, bags: Sequence[int], batch_size: int, *, seed: int = 0) -> None:
        values = np.asarray(bags, dtype=np.int64)
        self.batch_size, self.seed, self.epoch = int(batch_size), int(seed), 0
        self.cycles = np.flatnonzero(values < 0)
        ids = np.unique(values[values >= 0])
        self.members = [np.flatnonzero(values == bag) for bag in ids]
        largest = max((len(m) for m in self.members), default=0)
        if largest > self.batch_size:
            raise ValueError(
                f"a recording is cut into {largest} windows, more than a training batch holds "
                f"(per_device_train_batch_size={self.batch_size}): raise the batch size or the hop"
            )
        if self.members and self.cycles.size == 0:
            raise ValueError("bags of windows need cycles to fill their batches, and there are none")
        sizes = sorted((len(m) for m in self.members), reverse=True)
        needed = len(_first_fit(sizes, self.batch_size))
        self.num_batches = max(needed, -(-len(values) // self.batch_size), 1 if len(values) else 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        sizes = np.array([len(m) for m in self.members], dtype=np.int64)
        order = np.lexsort((rng.random(len(sizes)), -sizes)) if len(sizes) else np.zeros(0, np.int64)
        packed = _first_fit([int(sizes[i]) for i in order], self.batch_size, self.num_batches)
        queue: list[int] = []
        batches = []
        for positions in packed:
            batch = [int(i) for p in positions for i in self.members[order[p]]]
            while len(batch) < self.batch_size and self.cycles.size:
                if not queue:
                    queue = rng.permutation(self.cycles).tolist()
                batch.append(int(queue.pop()))
            batches.append(rng.permutation(batch).tolist())
        for index in rng.permutation(len(batches)):
            yield batches[int(index)]
