"""BagPackingBatchSampler: every batch full, every bag whole, every example each epoch."""

from __future__ import annotations

import numpy as np
import pytest

from respira.training.batches.bag_sampler import BagPackingBatchSampler
from respira.training.batches.samplers import FlattenedBatchSampler


def _bags(seed: int = 0) -> np.ndarray:
    """40 cycles (-1) and 9 bags of 1..7 windows, shuffled."""
    rng = np.random.default_rng(seed)
    values = [-1] * 40 + [bag for bag in range(9) for _ in range(1 + bag % 7)]
    return rng.permutation(np.array(values))


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_batches_are_full_keep_bags_whole_and_show_every_example(epoch: int) -> None:
    bags = _bags()
    sampler = BagPackingBatchSampler(bags, 8, seed=3)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(len(batch) == 8 for batch in batches)
    where = {}
    for number, batch in enumerate(batches):
        for index in batch:
            if bags[index] >= 0:
                assert index not in where  # a window is drawn once per epoch
                where[index] = number
    for bag in np.unique(bags[bags >= 0]):
        members = np.flatnonzero(bags == bag)
        assert {where[i] for i in members} == {where[members[0]]}  # one batch holds the whole bag
    seen = {i for batch in batches for i in batch}
    assert seen == set(range(len(bags)))


def test_same_seed_and_epoch_same_batches_and_epochs_differ() -> None:
    bags = _bags()
    first, again = BagPackingBatchSampler(bags, 8, seed=1), BagPackingBatchSampler(bags, 8, seed=1)
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(first) != list(again)


def test_flattened_blocks_are_the_batches() -> None:
    bags = _bags()
    sampler = BagPackingBatchSampler(bags, 8)
    stream = list(FlattenedBatchSampler(sampler, 8))
    assert [stream[i : i + 8] for i in range(0, len(stream), 8)] == list(sampler)


def test_a_bag_larger_than_a_batch_and_bags_without_cycles_are_refused() -> None:
    with pytest.raises(ValueError, match="cut into 7 windows, more than a training batch holds"):
        BagPackingBatchSampler(_bags(), 6)
    with pytest.raises(ValueError, match="need cycles"):
        BagPackingBatchSampler([0, 0, 1], 4)
