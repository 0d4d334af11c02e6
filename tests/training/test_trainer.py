"""RespiraTrainer: loss terms, selection on validation, metrics.json, frozen head, patch-mix, model_init;
one compact line per Trainer log, while the logs themselves keep every metric; the two-stage contrastive
schedule's head stage has its own learning rate."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import datasets
import pytest
import torch
from transformers import PrinterCallback, ProgressCallback

from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.compact_log import CompactPrinterCallback, CompactProgressCallback
from respira.training.trainer import train_with_schedule
from respira.training.training_args import RunArguments

from .conftest import TINY_AST, tiny_model, training_args


def _args(tmp_path: Path, **overrides) -> RespiraTrainingArguments:
    options = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "num_train_epochs": 1,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "seed": 0,
        "dataloader_drop_last": True,
    }
    options.update(overrides)
    return RespiraTrainingArguments(**options)


def test_each_loss_component_is_logged_and_adds_up(icbhi_splits, tmp_path: Path) -> None:
    args = _args(tmp_path, aux_loss="add", aux_loss_weight=0.5, max_steps=3)
    trainer = RespiraTrainer(tiny_model(), args, train_dataset=icbhi_splits["train"])
    trainer.train()
    assert gc.get_freeze_count() == 0  # the heap train() froze for accelerate's gc.collect is thawed
    steps = [entry for entry in trainer.state.log_history if "task_loss" in entry]
    assert len(steps) == 3
    for entry in steps:
        assert entry["loss"] == pytest.approx(entry["task_loss"] + 0.5 * entry["aux_loss"], rel=1e-4)
        assert {"aux/add_mean_pos", "aux/add_mean_neg"} <= set(entry)


def test_model_selection_refuses_the_test_split(icbhi_splits, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="eval_dataset is the test split"):
        RespiraTrainer(
            tiny_model(), _args(tmp_path), icbhi_splits["train"], eval_dataset=icbhi_splits["test"]
        )


def test_selection_on_validation_and_test_metrics_written_once(icbhi_splits, tmp_path: Path) -> None:
    args = _args(
        tmp_path,
        num_train_epochs=2,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        save_total_limit=1,
    )
    trainer = RespiraTrainer(
        tiny_model(), args, icbhi_splits["train"], eval_dataset=icbhi_splits["validation"]
    )
    trainer.train()
    assert trainer.args.metric_for_best_model == "icbhi_score"
    assert trainer.state.best_metric == max(
        e["eval_icbhi_score"] for e in trainer.state.log_history if "eval_icbhi_score" in e
    )
    metrics = trainer.evaluate_test(icbhi_splits["test"]).metrics
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("test_icbhi_score", "test_specificity", "test_sensitivity"):
        assert key in written
        assert written[key] == pytest.approx(metrics[key])
    assert all(value is None or isinstance(value, (int, float)) for value in written.values())


def test_frozen_encoder_trains_the_head_on_cached_embeddings(icbhi_splits, tmp_path: Path) -> None:
    model = tiny_model(freeze_encoder=True)
    encoder_before = {k: v.clone() for k, v in model.respira.encoder.state_dict().items()}
    head_before = model.classifier[-1].weight.detach().clone()
    trainer = RespiraTrainer(
        model, _args(tmp_path, cache_embeddings=True, num_train_epochs=2), icbhi_splits["train"]
    )
    assert "embeddings" in trainer.train_dataset.column_names
    assert "audio" not in trainer.train_dataset.column_names
    trainer.train()
    for name, value in model.respira.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[name]), name
    assert not torch.equal(model.classifier[-1].weight, head_before)
    with pytest.raises(ValueError, match="frozen encoder"):
        RespiraTrainer(tiny_model(), _args(tmp_path, cache_embeddings=True), icbhi_splits["train"])


def test_patch_mix_needs_ast_and_runs_with_it(icbhi_splits, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AST encoder"):
        RespiraTrainer(tiny_model(), _args(tmp_path, aux_loss="patch_mix"), icbhi_splits["train"])
    model = tiny_model(TINY_AST, ast_length_policy="adapt")
    trainer = RespiraTrainer(model, _args(tmp_path, aux_loss="patch_mix", max_steps=2), icbhi_splits["train"])
    trainer.train()
    assert any("aux_loss" in entry for entry in trainer.state.log_history)


def test_model_init_builds_each_model_for_a_hyperparameter_search(icbhi_splits, tmp_path: Path) -> None:
    """``Trainer.hyperparameter_search`` calls ``model_init`` for each trial: no model, its config given."""
    built = []

    def model_init(trial=None):
        built.append(tiny_model())
        return built[-1]

    with pytest.raises(ValueError, match="model_init together with model_config"):
        RespiraTrainer(None, _args(tmp_path), icbhi_splits["train"], model_init=model_init)
    trainer = RespiraTrainer(
        None, _args(tmp_path, max_steps=2), icbhi_splits["train"], model_init=model_init,
        model_config=tiny_model().config,
    )  # fmt: skip
    trainer.train()
    assert len(built) == 2 and trainer.model is built[-1]  # built by __init__, then again by train()
    assert trainer.state.global_step == 2


def test_the_contrastive_tuple_sampler_drives_training(icbhi_splits, tmp_path: Path) -> None:
    args = _args(tmp_path, batch_sampler="contrastive_tuple", aux_loss="contrastive_tuple", max_steps=2)
    trainer = RespiraTrainer(tiny_model(), args, icbhi_splits["train"])
    trainer.train()
    assert sum("aux_loss" in entry for entry in trainer.state.log_history) == 2


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_sampler='nope'"):
        _args(tmp_path, batch_sampler="nope")
    with pytest.raises(ValueError, match="aux_loss_options must be a JSON object"):
        _args(tmp_path, aux_loss_options="{not json")
    with pytest.raises(ValueError, match="must be even"):
        _args(tmp_path, batch_sampler="contrastive_tuple", per_device_train_batch_size=7)


def test_the_trainer_prints_compact_lines_and_keeps_every_metric_in_its_state(
    icbhi_splits: datasets.DatasetDict, tmp_path: Path, capsys, monkeypatch
) -> None:
    args = training_args(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=2, logging_steps=1)
    trainer = RespiraTrainer(
        model=tiny_model(),
        args=args,
        train_dataset=icbhi_splits["train"],
        eval_dataset=icbhi_splits["validation"],
    )
    kinds = [type(callback) for callback in trainer.callback_handler.callbacks]
    assert CompactPrinterCallback in kinds and PrinterCallback not in kinds and ProgressCallback not in kinds
    trainer.train()
    output = capsys.readouterr().out.splitlines()
    printed = [line for line in output if line.startswith("epoch")]
    assert any("eval loss" in line and "ICBHI" in line for line in printed), printed
    assert not any(line.startswith("{") for line in output)
    evaluation = next(entry for entry in trainer.state.log_history if "eval_icbhi_score" in entry)
    assert len(evaluation) > 30  # the whole dictionary is still logged
    from respira.utils import progress

    def bars_asked() -> list[type]:
        args = training_args(tmp_path, disable_tqdm=False)
        trainer = RespiraTrainer(model=tiny_model(), args=args, train_dataset=icbhi_splits["train"])
        return [type(callback) for callback in trainer.callback_handler.callbacks]

    off_terminal = bars_asked()  # pytest's capture, as a log file: lines, no bars
    assert CompactPrinterCallback in off_terminal and CompactProgressCallback not in off_terminal
    monkeypatch.setattr(progress, "on_terminal", lambda stream=None: True)
    assert CompactProgressCallback in bars_asked()
    json.dumps(trainer.state.log_history)


def test_the_head_stage_trains_at_head_learning_rate(icbhi_splits, tmp_path: Path) -> None:
    args = _args(
        tmp_path,
        learning_rate=1e-5,
        max_steps=1,
        aux_loss="contrastive_tuple",
        aux_loss_options='{"num_negatives": 2}',
        batch_sampler="contrastive_tuple",
    )
    run = RunArguments(schedule="contrastive_two_stage", head_epochs=1, head_learning_rate=0.02)
    model = tiny_model()
    trainer = train_with_schedule(model, args, run, icbhi_splits)
    assert trainer.args.learning_rate == 0.02 and trainer.args.aux_loss is None
    groups = trainer.optimizer.param_groups
    assert groups and all(group["initial_lr"] == pytest.approx(0.02) for group in groups)
    trained = {id(parameter) for group in groups for parameter in group["params"]}
    assert trained.isdisjoint(id(p) for p in model.respira.encoder.parameters())  # the encoder is frozen
    assert trained >= {id(p) for p in model.classifier.parameters()}
    assert args.learning_rate == 1e-5  # the contrastive stage's rate is the recipe's own
