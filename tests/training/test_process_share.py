"""An embedding pass shared by the processes of a launch: each row embedded once, every process gets the
whole table of one process. Two processes are two threads here, gathering through a barrier (the
launch itself is tested in test_distributed.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch

from respira.run_record import EmbeddingPass
from respira.training.augment import SameLabelConcat, build_augmentation
from respira.training.batches.collator import AudioCollator, DatasetCyclePool
from respira.training.embeddings.embedding_cache import cache_views, clean_embeddings
from respira.training.embeddings.process_share import ProcessShare
from respira.training.embeddings.view_store import ViewStore

from .conftest import counted_copy, tiny_model

RATE = 16_000
AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}


class _Threads:
    """``count`` threads as the processes of a launch: ``gather`` is a collective over them."""

    def __init__(self, count: int) -> None:
        self.count, self.parts = count, [None] * count
        self.barrier = threading.Barrier(count)

    def share(self, index: int) -> ProcessShare:
        def gather(part: Any) -> list[Any]:
            self.parts[index] = part
            self.barrier.wait()
            gathered = list(self.parts)
            self.barrier.wait()  # nobody overwrites a part before everyone has read them all
            return gathered

        return ProcessShare(index, self.count, gather)

    def run(self, work: Callable[[ProcessShare], Any]) -> list[Any]:
        with ThreadPoolExecutor(self.count) as pool:
            return list(pool.map(lambda index: work(self.share(index)), range(self.count)))


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    return tiny_model(freeze_encoder=True, target_seconds=8.0).eval()  # long enough to hold a partner


@pytest.fixture(scope="module")
def part(icbhi_splits):
    return icbhi_splits["train"].select(range(11))  # odd: the first process takes one cycle more


def _collator(pool) -> AudioCollator:
    concat = SameLabelConcat(DatasetCyclePool(pool, RATE), probability=0.5, classes=None, sampling_rate=RATE)
    return AudioCollator(augment=build_augmentation(AUGMENTATION), concat=concat, seed=0)


def _table(dataset) -> np.ndarray:
    return np.asarray(dataset[:]["embeddings"])


def test_shares_are_contiguous_blocks_that_cover_the_rows_once() -> None:
    assert [ProcessShare(i, 3).rows(11) for i in range(3)] == [range(0, 4), range(4, 8), range(8, 11)]
    assert [ProcessShare(i, 2).rows(1) for i in range(2)] == [range(0, 1), range(1, 1)]
    assert ProcessShare().rows(5) == range(5) and ProcessShare().describe() == ""
    assert ProcessShare(1, 2).describe() == ", process 2 of 2 embedding its share"
    with pytest.raises(ValueError, match="process 2 of 2 does not exist"):
        ProcessShare(2, 2)


@pytest.mark.parametrize("with_store", [False, True], ids=["without_store", "with_store"])
def test_two_processes_embed_each_view_once_and_both_get_the_table_of_one(frozen, part, with_store) -> None:
    views, n = 2, len(part)
    alone = _table(cache_views(frozen, part, _collator(part), views, batch_size=4))

    def work(share: ProcessShare) -> tuple[np.ndarray, int, list[EmbeddingPass], ViewStore | None]:
        model, rows = counted_copy(frozen)  # one per thread
        store = ViewStore() if with_store else None
        table = cache_views(model, part, _collator(part), views, batch_size=4, store=store, share=share)
        return _table(table), sum(rows), share.passes, store

    results = _threads_run(work)
    total = (views + 1) * n
    first, second = (result[1] for result in results)
    assert (first, second) == (17, 16)  # every view embedded once in all: 33 = 17 + 16
    for table, _, passes, _ in results:
        assert passes == [EmbeddingPass("train", total, [17, 16])]
        np.testing.assert_allclose(table, alone, atol=1e-5)  # batched otherwise than alone
    assert np.array_equal(results[0][0], results[1][0])  # the processes train on the same table
    if with_store:  # both stores hold every view: a later trainer of the seed embeds nothing again
        stores = [result[3] for result in results]
        assert all(len(store._rows) == total for store in stores)

        def again(share: ProcessShare) -> list[EmbeddingPass]:
            store = stores[share.index]
            cache_views(frozen, part, _collator(part), views, store=store, share=share)
            return share.passes

        assert _threads_run(again) == [[EmbeddingPass("train", total, [0, 0])]] * 2


def test_two_processes_share_the_clean_pass_of_a_split(frozen, icbhi_splits) -> None:
    validation = icbhi_splits["validation"].select(range(7))
    alone = _table(clean_embeddings(frozen, validation, batch_size=4))

    def work(share: ProcessShare) -> tuple[np.ndarray, int, list[EmbeddingPass]]:
        model, rows = counted_copy(frozen)  # one per thread
        table = clean_embeddings(model, validation, batch_size=4, share=share, split="test")
        return _table(table), sum(rows), share.passes

    results = _threads_run(work)
    assert [rows for _, rows, _ in results] == [4, 3]
    for table, _, passes in results:
        assert passes == [EmbeddingPass("test", 7, [4, 3])]
        np.testing.assert_allclose(table, alone, atol=1e-5)


def _threads_run(work: Callable[[ProcessShare], Any]) -> list[Any]:
    return _Threads(2).run(work)
