"""Training samplers, deterministic for ``(seed, epoch)``, that set each batch's make-up by the order of
indices (the Trainer cuts the stream into consecutive batches): random order, contrastive tuples, bags of
windows kept whole, and one view per cycle of a cached-embedding training split."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from ..models.respira.audio_decoding import check_whole


class RandomOrderSampler(Sampler[int]):
    """A fresh random permutation of the dataset every epoch."""

    def __init__(self, num_samples: int, *, seed: int = 0) -> None:
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples).tolist())


class FlattenedBatchSampler(Sampler[int]):
    """Yields the indices of a batch sampler's batches one after another."""

    def __init__(self, batch_sampler: Sampler[list[int]], batch_size: int) -> None:
        self.batch_sampler, self.batch_size = batch_sampler, batch_size

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batch_sampler) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        for batch in self.batch_sampler:
            if len(batch) != self.batch_size:
                raise RuntimeError(f"batch sampler yielded {len(batch)} indices, expected {self.batch_size}")
            yield from batch


def _hashable(label: Any) -> Hashable:
    if hasattr(label, "tolist"):
        label = label.tolist()
    if isinstance(label, list | tuple):
        return tuple(_hashable(item) for item in label)
    return label


class ContrastiveTupleBatchSampler(Sampler[list[int]]):
    """Batches ``[anchors (batch_size), positives (batch_size)]`` for
    :class:`~respira.losses.ContrastiveTupleLoss`: the anchors a random permutation (an incomplete last
    batch dropped), each positive a random other sample of its anchor's class (itself only if alone)."""

    def __init__(self, labels: Sequence[Any], batch_size: int, *, seed: int = 0) -> None:
        check_whole(batch_size, "batch_size (anchors per batch)")
        codes: dict[Hashable, int] = {}
        classes = [codes.setdefault(_hashable(label), len(codes)) for label in labels]
        self._classes = torch.tensor(classes, dtype=torch.long)
        self.anchors_per_batch, self.seed, self.epoch = int(batch_size), int(seed), 0
        # items grouped by class: class c occupies _by_class[_offsets[c] : _offsets[c] + _sizes[c]]
        self._by_class = torch.argsort(self._classes, stable=True)
        self._sizes = torch.bincount(self._classes, minlength=len(codes))
        self._offsets = torch.cumsum(self._sizes, dim=0) - self._sizes
        self._rank_in_class = torch.empty(len(classes), dtype=torch.long)
        ranks = torch.arange(len(classes)) - self._offsets[self._classes[self._by_class]]
        self._rank_in_class[self._by_class] = ranks

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._classes) // self.anchors_per_batch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        anchors = torch.randperm(len(self._classes), generator=generator)
        classes = self._classes[anchors]
        sizes = self._sizes[classes]
        others = (sizes - 1).clamp_min(1)
        draw = (torch.rand(anchors.shape[0], generator=generator, dtype=torch.float64) * others).long()
        draw = torch.minimum(draw, others - 1)
        own = self._rank_in_class[anchors]
        rank = torch.where(draw >= own, draw + 1, draw)  # skip the anchor's own slot
        positives = self._by_class[self._offsets[classes] + torch.where(sizes > 1, rank, own)]
        step = self.anchors_per_batch
        for start in range(0, len(self) * step, step):
            yield anchors[start : start + step].tolist() + positives[start : start + step].tolist()


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
    """Batches of ``batch_size`` indices where every bag (the windows of one recording) is whole, filled up
    with cycles: each epoch the bags are packed first-fit-decreasing (ties broken at random), the free places
    filled with cycles in random order and the batches shuffled, deterministically for ``(seed, epoch)``."""

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


VIEW_COLUMN = "view"  # which view of its cycle a cached training row embeds (0: clean)


def cached_view_count(dataset: Any) -> int | None:
    """The number of views of a :func:`cache_views` dataset (``None`` for another)."""
    names = getattr(dataset, "column_names", None) or ()
    if VIEW_COLUMN not in names:
        return None
    column = np.asarray(list(dataset[VIEW_COLUMN]), dtype=np.int64)
    views = int(column.max()) + 1 if column.size else 1
    if column.size % views or not np.array_equal(column, np.repeat(np.arange(views), column.size // views)):
        raise ValueError(f"the {VIEW_COLUMN!r} column is not laid out view-major as cache_views makes it")
    return views


class CachedViewSampler(Sampler[int]):
    """Index ``i`` of ``cycles`` (a sampler over the cycles) as the row of one of cycle ``i``'s views; each
    round of ``num_views`` epochs shows every view once, in an order drawn from ``(seed, round)``."""

    def __init__(self, cycles: Sampler[int], num_cycles: int, num_views: int, *, seed: int = 0) -> None:
        self.cycles, self.num_cycles, self.num_views, self.seed = cycles, num_cycles, num_views, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.cycles, "set_epoch"):
            self.cycles.set_epoch(epoch)

    def views_at(self, epoch: int) -> np.ndarray:
        """``[num_cycles]``: the view each cycle is shown as in ``epoch``."""
        round_index, position = divmod(epoch, self.num_views)
        orders = np.tile(np.arange(self.num_views), (self.num_cycles, 1))
        orders = np.random.default_rng([self.seed, 0x56494557, round_index]).permuted(orders, axis=1)
        return orders[:, position]

    def __len__(self) -> int:
        return len(self.cycles)

    def __iter__(self) -> Iterator[int]:
        views = self.views_at(self.epoch)
        for index in self.cycles:
            yield int(views[index]) * self.num_cycles + int(index)


def view_sampler(dataset: Any, cycle_sampler: Callable[[Any], Sampler[int]], seed: int) -> Sampler[int]:
    """``cycle_sampler(dataset)``, or for a multi-view cache a :class:`CachedViewSampler` around it."""
    views = cached_view_count(dataset)
    if views is None or views == 1:
        return cycle_sampler(dataset)
    cycles = len(dataset) // views
    return CachedViewSampler(cycle_sampler(dataset.select(range(cycles))), cycles, views, seed=seed)
