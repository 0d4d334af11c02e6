"""Samplers encode batch composition in index order, deterministically per (seed, epoch)."""

from __future__ import annotations

import numpy as np

from respira.training.batches.samplers import (
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
