"""The embedding cache: augmented views drawn once, reproducible; the head trained on them as on waveforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from respira.cli import main
from respira.models.embeddings import compute_embeddings
from respira.models.respira.audio_dsp import pad_batch
from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.augment import build_augmentation
from respira.training.batches.collator import AudioCollator
from respira.training.batches.samplers import RandomOrderSampler
from respira.training.embeddings.embedding_cache import (
    VIEW_COLUMN,
    CachedViewSampler,
    cache_views,
    cached_view_count,
    check_cache_options,
    view_waveform,
)
from respira.training.embeddings.view_store import ViewStore

from .conftest import TINY_RECIPE, tiny_model

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
    """``view_waveform`` is the collator's (view_store and this module both import it from there, so
    neither imports the other for it); view 0 is the clean waveform whatever the collator's mode."""
    from respira.training.batches import collator as collator_module

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
    with pytest.raises(ValueError, match="augmented_views must be at least 0"):
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
    synthetic_corpus: Path, tmp_path: Path, capsys
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
    run, cache = tmp_path / "run", tmp_path / "cache"
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
