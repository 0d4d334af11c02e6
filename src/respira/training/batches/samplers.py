"""Training samplers, deterministic for ``(seed, epoch)``, that set each batch's make-up by the order of
indices (the Trainer cuts the stream into consecutive batches)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = [
    "ContrastiveTupleBatchSampler",
    "FlattenedBatchSampler",
    "RandomOrderSampler",
]


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
        if batch_size < 1:
            raise ValueError(f"batch_size (anchors per batch) must be at least 1, got {batch_size}")
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
