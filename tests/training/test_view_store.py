"""The view store: each distinct cycle view embedded once for a seed's trainers, with the unshared result."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from respira.inference.embeddings import compute_embeddings
from respira.training.augment import SameLabelConcat, build_augmentation
from respira.training.batches.collator import AudioCollator, DatasetCyclePool
from respira.training.embeddings.embedding_cache import cache_views
from respira.training.embeddings.view_store import ViewStore

from .conftest import counted_copy, tiny_model

AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}
RATE = 16_000


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    return tiny_model(freeze_encoder=True, target_seconds=8.0).eval()  # long enough to hold a partner


@pytest.fixture(scope="module")
def part(icbhi_splits):
    return icbhi_splits["train"].select(range(24))


def _collator(pool=None) -> AudioCollator:
    concat = None
    if pool is not None:  # every cycle of every class appends a partner, half of the time
        concat = SameLabelConcat(
            DatasetCyclePool(pool, RATE), probability=0.5, classes=None, sampling_rate=RATE
        )
    return AudioCollator(augment=build_augmentation(AUGMENTATION), concat=concat, seed=0)


def _unshared(model, dataset, collator) -> np.ndarray:
    return np.asarray(cache_views(model, dataset, collator, 2, batch_size=8)[:]["embeddings"])


def test_views_equal_the_unshared_cache_and_are_embedded_once(frozen, part) -> None:
    model, rows = counted_copy(frozen)
    store, n = ViewStore(), len(part)
    shared = store.views(model, part, _collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n and store.embedded == 3 * n
    assert np.allclose(shared, _unshared(frozen, part, _collator()), atol=1e-6)
    again = store.views(model, part, _collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n and store.reused == 3 * n  # nothing embedded the second time
    assert np.array_equal(again, shared)
    # another dataset holding some of the same cycles (as a group's training part does): nothing new
    store.views(model, part.select(range(n // 2, n)), _collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n


def test_clean_rows_are_view_zero_and_equal_compute_embeddings(frozen, part) -> None:
    store = ViewStore()
    clean = store.clean(frozen, part, batch_size=8)
    expected = np.asarray(compute_embeddings(frozen, part, batch_size=8)[:]["embeddings"])
    assert np.allclose(clean, expected, atol=1e-6)
    embedded = store.embedded
    views = store.views(frozen, part, _collator(), 1, batch_size=8)
    assert store.embedded == embedded + len(part)  # view 0 came from the clean rows; view 1 is new
    assert np.array_equal(views[: len(part)], clean)


def test_a_view_that_drew_a_partner_is_embedded_again_from_each_pool(frozen, part, icbhi_splits) -> None:
    other = icbhi_splits["validation"]  # another pool of partners
    first, second = _collator(icbhi_splits["train"]), _collator(other)
    store, n = ViewStore(), len(part)
    store.views(frozen, part, first, 2, batch_size=8)
    embedded = store.embedded
    shared = store.views(frozen, part, second, 2, batch_size=8)
    drew = store.embedded - embedded
    # the views that appended a partner (about half of the 2n augmented ones) were drawn again from
    # the second pool; the clean views and those that did not concatenate came from the store
    assert 0 < drew < 2 * n and store.reused == 3 * n - drew
    assert np.allclose(shared, _unshared(frozen, part, second), atol=1e-6)
    assert not np.allclose(shared, _unshared(frozen, part, first), atol=1e-4)


def test_another_encoder_or_rows_without_identity_are_not_answered(frozen, part) -> None:
    store = ViewStore()
    store.views(frozen, part, _collator(), 2, batch_size=8)
    torch.manual_seed(1)
    other = tiny_model(freeze_encoder=True, target_seconds=8.0).eval()
    embedded = store.embedded
    answer = store.views(other, part, _collator(), 2, batch_size=8)
    assert store.embedded == embedded + 3 * len(part)
    assert np.allclose(answer, _unshared(other, part, _collator()), atol=1e-6)
    twice = datasets.concatenate_datasets([part, part])  # (recording, cycle_index) name two rows each
    assert store.views(frozen, twice, _collator(), 2, batch_size=8) is None
    assert store.clean(frozen, part.remove_columns("cycle_index"), batch_size=8) is None
    unnumbered = part.map(
        lambda row, i: {"cycle_index": None if i == 0 else row["cycle_index"]}, with_indices=True
    )
    assert store.views(frozen, unnumbered, _collator(), 2, batch_size=8) is None  # a row without its number
    resampled = part.cast_column("audio", datasets.Audio(sampling_rate=8000))  # decoding would resample
    assert store.clean(frozen, resampled, batch_size=8) is None
