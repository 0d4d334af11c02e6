"""The embedding cache: augmented views drawn once, reproducible; the head trained on them as on waveforms.

The view store: each distinct cycle view embedded once for a seed's trainers, with the unshared result.

An embedding pass shared by the processes of a launch: each row embedded once, every process gets the
whole table of one process. Two processes are two threads here, gathering through a barrier (the
launch itself is tested in test_distributed.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import torch
import yaml

from respira.cli import main
from respira.inference.embeddings import compute_embeddings
from respira.models.respira.audio_decoding import pad_batch
from respira.records.run import EmbeddingPass
from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.collator import (
    AudioCollator,
    DatasetCyclePool,
    SameLabelConcat,
    build_augmentation,
    view_waveform,
)
from respira.training.embedding_cache import (
    ProcessShare,
    ViewStore,
    cache_views,
    check_cache_options,
    clean_embeddings,
)
from respira.training.samplers import VIEW_COLUMN, CachedViewSampler, RandomOrderSampler, cached_view_count

from .conftest import TINY_RECIPE, counted_copy, tiny_model

AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}, "white_noise": {"snr_db": [10, 20]}}


def _args(tmp_path: Path, **overrides) -> RespiraTrainingArguments:
    options = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "num_train_epochs": 1,
        "learning_rate": 1e-3,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "seed": 0,
        "augmentation": json.dumps(AUGMENTATION),
    }
    options.update(overrides)
    return RespiraTrainingArguments(**options)


def _embeddings(dataset) -> np.ndarray:
    return np.asarray(dataset[:]["embeddings"])


def _collator(seed: int = 0) -> AudioCollator:
    return AudioCollator(augment=build_augmentation(AUGMENTATION), seed=seed)


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    return tiny_model(freeze_encoder=True).eval()


@pytest.fixture(scope="module")
def train_part(icbhi_splits):
    return icbhi_splits["train"].select(range(24))


def test_views_are_reproducible_for_a_seed_and_differ_between_views(frozen, train_part) -> None:
    first = cache_views(frozen, train_part, _collator(seed=0), 2, batch_size=8)
    again = cache_views(frozen, train_part, _collator(seed=0), 2, batch_size=8)
    other_seed = cache_views(frozen, train_part, _collator(seed=1), 2, batch_size=8)
    n = len(train_part)
    assert len(first) == 3 * n and list(first[VIEW_COLUMN]) == [0] * n + [1] * n + [2] * n
    assert list(first["label"]) == list(train_part["label"]) * 3 and cached_view_count(first) == 3
    assert np.array_equal(_embeddings(first), _embeddings(again))
    views = _embeddings(first).reshape(3, n, -1)
    for a, b in ((0, 1), (1, 2), (0, 2)):  # gain is always applied: every row differs between views
        assert not np.isclose(views[a], views[b], atol=1e-6).all(axis=1).any(), (a, b)
    others = _embeddings(other_seed).reshape(3, n, -1)
    assert np.array_equal(views[0], others[0])  # the clean view does not depend on the seed
    assert not np.isclose(views[1], others[1], atol=1e-6).all(axis=1).any()
    # view k is the collator's own augmentation at epoch k - 1, seeded by (seed, epoch, example)
    example = train_part[3]
    collator = _collator(seed=0)
    collator.epoch = 1
    assert np.array_equal(view_waveform(_collator(seed=0), example, 2), collator.waveform(example))


def test_view_waveform_lives_with_the_collator_and_is_re_exported_here(train_part) -> None:
    """``view_waveform`` is the collator's (the embedding cache imports it from there); view 0 is the clean
    waveform whatever the collator's mode."""
    from respira.training import collator as collator_module

    assert view_waveform is collator_module.view_waveform
    example = train_part[0]
    collator = _collator(seed=0)
    collator.training = True
    clean = AudioCollator(training=False).waveform(example)
    assert np.array_equal(collator_module.view_waveform(collator, example, 0), clean)
    assert collator.training  # the collator itself is left as it was


def test_no_augmented_views_is_exactly_the_clean_cache(frozen, train_part) -> None:
    clean = compute_embeddings(frozen, train_part, batch_size=8)
    zero = cache_views(frozen, train_part, _collator(), 0, batch_size=8)
    assert zero.column_names == clean.column_names and VIEW_COLUMN not in zero.column_names
    assert np.array_equal(_embeddings(zero), _embeddings(clean))
    views = cache_views(frozen, train_part, _collator(), 1, batch_size=5)  # other batches, same rows
    np.testing.assert_allclose(_embeddings(views)[: len(train_part)], _embeddings(clean), atol=1e-5)


def test_the_head_on_a_cached_view_gets_the_loss_and_gradients_of_the_model_on_its_waveform(
    train_part,
) -> None:
    torch.manual_seed(0)
    model = tiny_model(freeze_encoder=True, head_dropout=0.0)
    cache = cache_views(model, train_part, _collator(), 2, batch_size=8)
    rows = [2 * len(train_part) + i for i in (0, 5, 9)]  # view 2 of three cycles
    cached = torch.tensor(_embeddings(cache)[rows])
    labels = torch.tensor([list(cache["label"])[row] for row in rows])
    waveforms, mask = pad_batch(
        [view_waveform(_collator(), train_part[row % len(train_part)], 2) for row in rows]
    )
    model.train()
    results = []
    for inputs in ({"input_values": waveforms, "attention_mask": mask}, {"embeddings": cached}):
        model.zero_grad()
        output = model(**inputs, labels=labels)
        output.loss.backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results.append((output.embeddings.detach(), output.loss.detach(), grads))
    (from_waveforms, loss_waveforms, grads_waveforms), (_, loss_cached, grads_cached) = results
    torch.testing.assert_close(from_waveforms, cached, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss_waveforms, loss_cached, atol=1e-6, rtol=1e-5)
    assert grads_waveforms.keys() == grads_cached.keys() and grads_cached  # the head only: frozen encoder
    assert not any(name.startswith("respira.encoder") for name in grads_cached)
    for name, grad in grads_cached.items():
        torch.testing.assert_close(grads_waveforms[name], grad, atol=1e-5, rtol=1e-4)


def test_each_epoch_shows_every_cycle_once_and_each_round_every_view() -> None:
    cycles, views = 10, 3
    sampler = CachedViewSampler(RandomOrderSampler(cycles, seed=4), cycles, views, seed=4)
    seen = []
    for epoch in range(2 * views):
        sampler.set_epoch(epoch)
        rows = list(sampler)
        assert sorted(row % cycles for row in rows) == list(range(cycles))
        seen.append({row % cycles: row // cycles for row in rows})
    for start in (0, views):  # each round of `views` epochs: every view of every cycle once
        for cycle in range(cycles):
            assert sorted(seen[epoch][cycle] for epoch in range(start, start + views)) == list(range(views))
    assert seen[:views] != seen[views:]  # the order of the views is drawn again each round
    replay = CachedViewSampler(RandomOrderSampler(cycles, seed=4), cycles, views, seed=4)
    replay.set_epoch(4)
    assert {row % cycles: row // cycles for row in replay} == seen[4]


def test_contradictory_cache_options_are_refused_in_one_line(tmp_path: Path) -> None:
    def check(
        message: str, *, freeze_encoder: bool = True, spec_augment=None, schedule="standard", **options
    ):
        with pytest.raises(ValueError, match=message) as error:
            check_cache_options(
                _args(tmp_path, **options),
                freeze_encoder=freeze_encoder,
                spec_augment=spec_augment,
                schedule=schedule,
            )
        assert "\n" not in str(error.value)

    check(r"augmented_views=2 needs a frozen encoder", freeze_encoder=False, augmented_views=2)
    check(r"cache_embeddings needs a frozen encoder", freeze_encoder=False, cache_embeddings=True)
    check(r"augmented_views=2 caches augmented views, but no waveform", augmented_views=2, augmentation=None)
    check(r"views=2", augmented_views=1, views=2)
    check(r"spec_augment", augmented_views=1, spec_augment={"freq_mask": 8})
    check(r"schedule=contrastive_two_stage", augmented_views=1, schedule="contrastive_two_stage")
    # concatenation alone is augmentation; K = 0 needs none
    check_cache_options(
        _args(tmp_path, augmented_views=2, augmentation=None, concat_same_label=0.5), freeze_encoder=True
    )
    check_cache_options(_args(tmp_path, augmented_views=0, augmentation=None), freeze_encoder=True)
    with pytest.raises(ValueError, match="augmented_views must be a whole number >= 0, got -1"):
        _args(tmp_path, augmented_views=-1)


def test_trainer_trains_the_head_on_the_views_without_touching_the_encoder(icbhi_splits, tmp_path) -> None:
    model = tiny_model(freeze_encoder=True)
    encoder_before = {k: v.clone() for k, v in model.respira.encoder.state_dict().items()}
    trainer = RespiraTrainer(
        model,
        _args(tmp_path, augmented_views=2, num_train_epochs=3, concat_same_label=0.5),
        icbhi_splits["train"],
        eval_dataset=icbhi_splits["validation"],
    )
    assert cached_view_count(trainer.train_dataset) == 3
    assert len(trainer.train_dataset) == 3 * len(icbhi_splits["train"])
    assert VIEW_COLUMN not in trainer.eval_dataset.column_names  # validation: clean, once
    assert len(trainer.eval_dataset) == len(icbhi_splits["validation"])
    dataloader = trainer.get_train_dataloader()
    assert len(dataloader) == -(-len(icbhi_splits["train"]) // 8)  # an epoch is one pass over the cycles
    trainer.train()
    for name, value in model.respira.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[name]), name
    with pytest.raises(ValueError, match="needs a frozen encoder"):
        RespiraTrainer(tiny_model(), _args(tmp_path, augmented_views=1), icbhi_splits["train"])


def test_a_run_with_augmented_views_records_them_and_its_model_evaluates(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    recipe = tmp_path / "recipe.yaml"
    options = {
        **TINY_RECIPE,
        "freeze_encoder": True,
        "augmented_views": 2,
        "augmentation": AUGMENTATION,
        "max_steps": 4,
        "learning_rate": 3e-3,
    }
    recipe.write_text(yaml.safe_dump(options))
    run, cache = tmp_path / "run", dataset_cache
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(run),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    record = json.loads((run / "respira_run.json").read_text())
    assert record["training"]["hyperparameters"]["augmented_views"] == 2
    trained = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    code = main(
        ["evaluate", str(run), "--data_dir", str(synthetic_corpus), "--split", "test",
         "--cache_dir", str(cache), "--output_dir", str(tmp_path / "report")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    for key in ("icbhi_score", "specificity", "sensitivity"):  # evaluate re-encodes the waveforms
        assert report[key] == pytest.approx(trained[f"test_{key}"], abs=1e-12), key


def test_validate_run_refuses_augmented_views_without_a_frozen_encoder(
    synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "augmented_views": 2, "augmentation": AUGMENTATION}))
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(tmp_path / "r")]
    )
    assert code != 0
    error = capsys.readouterr().err.strip()
    assert "augmented_views=2 needs a frozen encoder" in error and "Traceback" not in error
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("store", [None, ViewStore()], ids=["without_store", "with_store"])
def test_the_embedding_pass_shows_its_stages_unless_the_run_hides_its_bars(
    icbhi_splits, tmp_path: Path, capsys, progress_bars_on: None, store
) -> None:
    train, validation = icbhi_splits["train"].select(range(10)), icbhi_splits["validation"].select(range(6))
    model = tiny_model(freeze_encoder=True)
    options = {"augmented_views": 2, "augmentation": json.dumps({"gain": {"db": [-6, 6]}})}
    RespiraTrainer(model, _args(tmp_path, **options), train, eval_dataset=validation, embedding_store=store)
    assert capsys.readouterr().err.splitlines() == [
        "embedding the training split, 3 views of 10 cycles (30 views)",
        "embedding the validation split, 6 cycles (6 cycles)",
    ]
    hidden = _args(tmp_path, disable_tqdm=True, **options)
    RespiraTrainer(model, hidden, train, eval_dataset=validation, embedding_store=store)
    assert capsys.readouterr().err == ""


AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}
RATE = 16_000


@pytest.fixture(scope="module")
def long_frozen():
    torch.manual_seed(0)
    return tiny_model(freeze_encoder=True, target_seconds=8.0).eval()  # long enough to hold a partner


@pytest.fixture(scope="module")
def store_part(icbhi_splits):
    return icbhi_splits["train"].select(range(24))


def _store_collator(pool=None) -> AudioCollator:
    concat = None
    if pool is not None:  # every cycle of every class appends a partner, half of the time
        concat = SameLabelConcat(
            DatasetCyclePool(pool, RATE), probability=0.5, classes=None, sampling_rate=RATE
        )
    return AudioCollator(augment=build_augmentation(AUGMENTATION), concat=concat, seed=0)


def _unshared(model, dataset, collator) -> np.ndarray:
    return np.asarray(cache_views(model, dataset, collator, 2, batch_size=8)[:]["embeddings"])


def test_views_equal_the_unshared_cache_and_are_embedded_once(long_frozen, store_part) -> None:
    model, rows = counted_copy(long_frozen)
    store, n = ViewStore(), len(store_part)
    shared = store.views(model, store_part, _store_collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n and store.embedded == 3 * n
    assert np.allclose(shared, _unshared(long_frozen, store_part, _store_collator()), atol=1e-6)
    again = store.views(model, store_part, _store_collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n and store.reused == 3 * n  # nothing embedded the second time
    assert np.array_equal(again, shared)
    # another dataset holding some of the same cycles (as a group's training part does): nothing new
    store.views(model, store_part.select(range(n // 2, n)), _store_collator(), 2, batch_size=8)
    assert sum(rows) == 3 * n


def test_clean_rows_are_view_zero_and_equal_compute_embeddings(long_frozen, store_part) -> None:
    store = ViewStore()
    clean = store.clean(long_frozen, store_part, batch_size=8)
    expected = np.asarray(compute_embeddings(long_frozen, store_part, batch_size=8)[:]["embeddings"])
    assert np.allclose(clean, expected, atol=1e-6)
    embedded = store.embedded
    views = store.views(long_frozen, store_part, _store_collator(), 1, batch_size=8)
    assert store.embedded == embedded + len(store_part)  # view 0 came from the clean rows; view 1 is new
    assert np.array_equal(views[: len(store_part)], clean)


def test_a_view_that_drew_a_partner_is_embedded_again_from_each_pool(
    long_frozen, store_part, icbhi_splits
) -> None:
    other = icbhi_splits["validation"]  # another pool of partners
    first, second = _store_collator(icbhi_splits["train"]), _store_collator(other)
    store, n = ViewStore(), len(store_part)
    store.views(long_frozen, store_part, first, 2, batch_size=8)
    embedded = store.embedded
    shared = store.views(long_frozen, store_part, second, 2, batch_size=8)
    drew = store.embedded - embedded
    # the views that appended a partner (about half of the 2n augmented ones) were drawn again from
    # the second pool; the clean views and those that did not concatenate came from the store
    assert 0 < drew < 2 * n and store.reused == 3 * n - drew
    assert np.allclose(shared, _unshared(long_frozen, store_part, second), atol=1e-6)
    assert not np.allclose(shared, _unshared(long_frozen, store_part, first), atol=1e-4)


def test_another_encoder_or_rows_without_identity_are_not_answered(long_frozen, store_part) -> None:
    store = ViewStore()
    store.views(long_frozen, store_part, _store_collator(), 2, batch_size=8)
    torch.manual_seed(1)
    other = tiny_model(freeze_encoder=True, target_seconds=8.0).eval()
    embedded = store.embedded
    answer = store.views(other, store_part, _store_collator(), 2, batch_size=8)
    assert store.embedded == embedded + 3 * len(store_part)
    assert np.allclose(answer, _unshared(other, store_part, _store_collator()), atol=1e-6)
    twice = datasets.concatenate_datasets(
        [store_part, store_part]
    )  # (recording, cycle_index) name two rows each
    assert store.views(long_frozen, twice, _store_collator(), 2, batch_size=8) is None
    assert store.clean(long_frozen, store_part.remove_columns("cycle_index"), batch_size=8) is None
    unnumbered = store_part.map(
        lambda row, i: {"cycle_index": None if i == 0 else row["cycle_index"]}, with_indices=True
    )
    assert (
        store.views(long_frozen, unnumbered, _store_collator(), 2, batch_size=8) is None
    )  # a row without its number
    resampled = store_part.cast_column("audio", datasets.Audio(sampling_rate=8000))  # decoding would resample
    assert store.clean(long_frozen, resampled, batch_size=8) is None


RATE = 16_000
AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}


class _Threads:
    """``count`` threads as the processes of a launch: ``gather`` is a collective over them."""

    def __init__(self, count: int) -> None:
        self.count, self.parts = count, [None] * count
        self.barrier = threading.Barrier(count)

    def share(self, index: int) -> ProcessShare:
        def gather(store_part: Any) -> list[Any]:
            self.parts[index] = store_part
            self.barrier.wait()
            gathered = list(self.parts)
            self.barrier.wait()  # nobody overwrites a store_part before everyone has read them all
            return gathered

        return ProcessShare(index, self.count, gather)

    def run(self, work: Callable[[ProcessShare], Any]) -> list[Any]:
        with ThreadPoolExecutor(self.count) as pool:
            return list(pool.map(lambda index: work(self.share(index)), range(self.count)))


@pytest.fixture(scope="module")
def shared_part(icbhi_splits):
    return icbhi_splits["train"].select(range(11))  # odd: the first process takes one cycle more


def _share_collator(pool) -> AudioCollator:
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
def test_two_processes_embed_each_view_once_and_both_get_the_table_of_one(
    long_frozen, shared_part, with_store
) -> None:
    views, n = 2, len(shared_part)
    alone = _table(cache_views(long_frozen, shared_part, _share_collator(shared_part), views, batch_size=4))

    def work(share: ProcessShare) -> tuple[np.ndarray, int, list[EmbeddingPass], ViewStore | None]:
        model, rows = counted_copy(long_frozen)  # one per thread
        store = ViewStore() if with_store else None
        table = cache_views(
            model, shared_part, _share_collator(shared_part), views, batch_size=4, store=store, share=share
        )
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
            cache_views(
                long_frozen, shared_part, _share_collator(shared_part), views, store=store, share=share
            )
            return share.passes

        assert _threads_run(again) == [[EmbeddingPass("train", total, [0, 0])]] * 2


def test_two_processes_share_the_clean_pass_of_a_split(long_frozen, icbhi_splits) -> None:
    validation = icbhi_splits["validation"].select(range(7))
    alone = _table(clean_embeddings(long_frozen, validation, batch_size=4))

    def work(share: ProcessShare) -> tuple[np.ndarray, int, list[EmbeddingPass]]:
        model, rows = counted_copy(long_frozen)  # one per thread
        table = clean_embeddings(model, validation, batch_size=4, share=share, split="test")
        return _table(table), sum(rows), share.passes

    results = _threads_run(work)
    assert [rows for _, rows, _ in results] == [4, 3]
    for table, _, passes in results:
        assert passes == [EmbeddingPass("test", 7, [4, 3])]
        np.testing.assert_allclose(table, alone, atol=1e-5)


def _threads_run(work: Callable[[ProcessShare], Any]) -> list[Any]:
    return _Threads(2).run(work)
