"""Samplers encode batch composition in index order, deterministically per (seed, epoch).

BagPackingBatchSampler: every batch full, every bag whole, every example each epoch."""

from __future__ import annotations

import numpy as np
import pytest

from respira.training.samplers import (
    BagPackingBatchSampler,
    ContrastiveTupleBatchSampler,
    FlattenedBatchSampler,
    RandomOrderSampler,
)

LABELS = [0] * 70 + [1] * 20 + [2] * 7 + [3] * 3


def test_random_order_is_a_permutation_seeded_per_epoch() -> None:
    sampler = RandomOrderSampler(50, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50))
    assert list(sampler) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_flattened_contrastive_tuple_batches_keep_their_layout() -> None:
    labels = np.array(LABELS)
    sampler = FlattenedBatchSampler(ContrastiveTupleBatchSampler(LABELS, 4, seed=0), 8)
    order = list(sampler)
    assert len(order) == len(sampler)
    for start in range(0, len(order), 8):
        anchors, positives = order[start : start + 4], order[start + 4 : start + 8]
        assert (labels[anchors] == labels[positives]).all()
    sampler.set_epoch(2)
    assert list(sampler) != order


def test_contrastive_tuple_sampler() -> None:
    labels = [0, 1, 1, 2, 0, 0, 3, 1, 2, 0, 1, 0, 2, 1]  # class 3 has a single item
    sampler = ContrastiveTupleBatchSampler(labels, batch_size=4, seed=11)
    assert len(sampler) == 3
    batches = list(sampler)
    assert len(batches) == 3
    anchors = []
    for batch in batches:
        assert len(batch) == 8
        for anchor, positive in zip(batch[:4], batch[4:], strict=True):
            assert labels[anchor] == labels[positive]
            assert positive != anchor or labels.count(labels[anchor]) == 1
        anchors += batch[:4]
    assert len(set(anchors)) == 12  # anchors are a permutation
    assert list(sampler) == batches  # same epoch, same batches
    sampler.set_epoch(1)
    assert list(sampler) != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches
    assert len(ContrastiveTupleBatchSampler(labels[:11], batch_size=4)) == 2  # the last 3 dropped
    flags = [(0, 0), (1, 0), (1, 1), (1, 0), (0, 0), (1, 1)]
    for batch in ContrastiveTupleBatchSampler(flags, batch_size=3):
        assert [flags[i] for i in batch[:3]] == [flags[i] for i in batch[3:]]


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
