"""Samplers encode batch composition in index order, deterministically per (seed, epoch)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from respira.training.batches.samplers import (
    ClassBalancedSampler,
    ContrastiveTupleBatchSampler,
    DomainBalancedSampler,
    FlattenedBatchSampler,
    GroupedBatchSampler,
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


def test_class_balanced_sampler_equalises_classes() -> None:
    sampler = ClassBalancedSampler(LABELS, seed=0, num_samples=8000)
    counts = Counter(LABELS[i] for i in sampler)
    for label in range(4):
        assert counts[label] / 8000 == pytest.approx(0.25, abs=0.03)
    assert len(list(sampler)) == len(sampler) == 8000


def test_grouped_batches_hold_samples_per_group() -> None:
    groups = ["Meditron"] * 40 + ["LittC2SE"] * 30 + ["AKGC417L"] * 30
    sampler = GroupedBatchSampler(groups, batch_size=8, samples_per_group=4, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == (100 // 8) * 8
    for start in range(0, len(order), 8):
        batch = [groups[i] for i in order[start : start + 8]]
        assert Counter(batch).most_common(1)[0][1] >= 4
        for chunk in (batch[:4], batch[4:]):
            assert len(set(chunk)) == 1
    with pytest.raises(ValueError, match="multiple of samples_per_group"):
        GroupedBatchSampler(groups, batch_size=6, samples_per_group=4)


DEVICES = ["Meditron"] * 60 + ["LittC2SE"] * 25 + ["AKGC417L"] * 12 + ["Litt3200"] * 3


def test_domain_balanced_batches_hold_every_domain_equally() -> None:
    sampler = DomainBalancedSampler(DEVICES, batch_size=8, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == (100 // 8) * 8
    seen = Counter()
    for start in range(0, len(order), 8):
        batch = Counter(DEVICES[i] for i in order[start : start + 8])
        assert sorted(batch.values()) == [2, 2, 2, 2], batch  # 8 slots, 4 devices: 2 each, every batch
        seen.update(order[start : start + 8])
    # the 3 Litt3200 items are oversampled (2 per batch), each about equally often
    litt = [seen[i] for i in range(97, 100)]
    assert sum(litt) == 2 * len(order) // 8 and max(litt) - min(litt) <= 1
    # a batch size the domains do not divide: the remainder goes to different domains
    for start in range(0, 60, 6):
        batch = Counter(
            DEVICES[i] for i in list(DomainBalancedSampler(DEVICES, 6, seed=1))[start : start + 6]
        )
        assert set(batch.values()) <= {1, 2} and len(batch) == 4 and sum(v == 2 for v in batch.values()) == 2


def test_domain_class_balanced_batches_hold_every_device_and_class() -> None:
    labels = [i % 2 for i in range(100)]
    sampler = DomainBalancedSampler(DEVICES, batch_size=16, labels=labels, seed=0)
    order = list(sampler)
    for start in range(0, len(order), 16):
        cells = Counter((DEVICES[i], labels[i]) for i in order[start : start + 16])
        assert len(cells) == 8 and set(cells.values()) == {2}


def test_domain_balanced_sampler_is_seeded_per_epoch() -> None:
    sampler = DomainBalancedSampler(DEVICES, batch_size=8, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(DomainBalancedSampler(DEVICES, batch_size=8, seed=4)) != first
    with pytest.raises(ValueError, match="3 labels for 100 domains"):
        DomainBalancedSampler(DEVICES, 8, labels=[0, 1, 0])
    with pytest.raises(ValueError, match="100 items are fewer than one batch of 128"):
        DomainBalancedSampler(DEVICES, 128)


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
    assert len(sampler) == 3 and sampler.batch_size == 8
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
    last = ContrastiveTupleBatchSampler(labels, batch_size=4, seed=11, drop_last=False)
    assert len(last) == 4 and [len(b) for b in last] == [8, 8, 8, 4]
    flags = [(0, 0), (1, 0), (1, 1), (1, 0), (0, 0), (1, 1)]
    for batch in ContrastiveTupleBatchSampler(flags, batch_size=3):
        assert [flags[i] for i in batch[:3]] == [flags[i] for i in batch[3:]]
