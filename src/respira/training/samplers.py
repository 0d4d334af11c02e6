"""Training samplers, seeded per epoch, that encode batch composition in the order of indices.

transformers' Trainer batches the sampler's index stream into consecutive blocks of the batch size
(accelerate then deals whole blocks to the processes), so a sampler controls each batch's
composition by the order it yields indices in; the Trainer's ``_get_train_sampler`` hook is all a
custom strategy needs. Every sampler is deterministic for ``(seed, epoch)`` — ``set_epoch`` is
called by the Trainer each epoch, so a resumed run replays the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class _EpochSeeded(Sampler[int]):
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])


class RandomOrderSampler(_EpochSeeded):
    """A fresh random permutation of the dataset every epoch."""

    def __init__(self, num_samples: int, *, seed: int = 0) -> None:
        super().__init__(seed)
        self.num_samples = num_samples

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(self.rng().permutation(self.num_samples).tolist())


class ClassBalancedSampler(_EpochSeeded):
    """Draws ``num_samples`` indices (default: the dataset size) with each class equally likely."""

    def __init__(self, labels: Sequence[int], *, seed: int = 0, num_samples: int | None = None) -> None:
        super().__init__(seed)
        self.labels = np.asarray(labels)
        classes, counts = np.unique(self.labels, return_counts=True)
        weights = 1.0 / counts[np.searchsorted(classes, self.labels)]
        self.probabilities = weights / weights.sum()
        self.num_samples = num_samples or len(self.labels)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(self.rng().choice(len(self.labels), self.num_samples, p=self.probabilities).tolist())


class GroupedBatchSampler(_EpochSeeded):
    """Batches of ``batch_size`` made of ``samples_per_group`` samples from each of several groups.

    With ``groups`` a metadata column (device, patient, chest location), every batch holds several
    samples sharing a value, so metadata-positive contrastive losses always find positives.
    """

    def __init__(
        self, groups: Sequence[object], batch_size: int, *, samples_per_group: int = 4, seed: int = 0
    ) -> None:
        super().__init__(seed)
        if batch_size % samples_per_group:
            raise ValueError(
                f"batch size {batch_size} is not a multiple of samples_per_group {samples_per_group}"
            )
        values = np.asarray([str(g) for g in groups])
        self.members = [np.flatnonzero(values == value) for value in np.unique(values)]
        self.batch_size, self.samples_per_group = batch_size, samples_per_group
        self.num_batches = len(values) // batch_size

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        rng = self.rng()
        queues = [list(rng.permutation(members)) for members in self.members]
        order: list[int] = []
        for _ in range(self.num_batches):
            chunks = self.batch_size // self.samples_per_group
            sizes = np.array([len(q) for q in queues], dtype=float)
            picked = rng.choice(
                len(queues), chunks, replace=chunks > len(queues), p=(sizes + 1) / (sizes + 1).sum()
            )
            for group in picked:
                for _ in range(self.samples_per_group):
                    if not queues[group]:
                        queues[group] = list(rng.permutation(self.members[group]))
                    order.append(int(queues[group].pop()))
        return iter(order)


class FlattenedBatchSampler(Sampler[int]):
    """Yields the indices of a batch sampler's batches one after another (see the module docstring).

    ``batch_size`` is the length of every batch the wrapped sampler yields; the DataLoader must use
    the same batch size so its blocks coincide with these batches.
    """

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
