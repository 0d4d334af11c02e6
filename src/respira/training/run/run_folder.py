"""Writing a run folder: the kept model, its trainer state, the metrics, the run record, reports and card."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.decision import has_tuned_thresholds, thresholds_of
from ...run_record import DataRecord, MetricsRecord, ModelRecord, RunRecord, SeedResult, TrainingRecord
from ..recipe.arguments import RespiraTrainingArguments, json_option
from ..recipe.model_factory import encoder_checkpoint
from ..recipe.recipe_fields import ModelArguments, RunArguments
from .seeds import SeedOutcome, seed_statistics

if TYPE_CHECKING:
    import datasets

    from ..trainer.trainer import RespiraTrainer

TRAINING_KEYS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "optim",
    "metric_for_best_model",
    "early_stopping_patience",
    "seed",
)
"""The ``TrainingArguments`` a run records, besides every respira-specific one."""
_MODEL_RECORD_KEYS = ("encoder", "encoder_name_or_path", "problem_type", "lora_r")
_NOT_METRICS = ("epoch", "runtime", "samples_per_second", "steps_per_second", "model_preparation_time")
"""Trainer bookkeeping in evaluation outputs, not a property of the model: left out of the record."""


def training_hyperparameters(args: RespiraTrainingArguments) -> dict[str, Any]:
    """The hyper-parameters worth recording: common Trainer ones and every respira-specific one."""
    from transformers import TrainingArguments

    respira_keys = set(RespiraTrainingArguments.__dataclass_fields__) - set(
        TrainingArguments.__dataclass_fields__
    )
    values = args.to_dict()
    return {key: values[key] for key in sorted({*TRAINING_KEYS, *respira_keys}) if key in values}


def _metrics(values: dict[str, Any], prefix: str) -> dict[str, float | None]:
    """``prefix``-ed numeric metrics without their prefix (no bookkeeping values); NaN as ``None``."""
    kept: dict[str, float | None] = {}
    for key, value in values.items():
        if not key.startswith(prefix) or key.endswith(_NOT_METRICS) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            kept[key.removeprefix(prefix)] = None if isinstance(value, float) and math.isnan(value) else value
        elif value is None:
            kept[key.removeprefix(prefix)] = None
    return kept


def build_run_record(
    model_args: ModelArguments,
    data: DataRecord,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    outcomes: dict[int, SeedOutcome],
    selected_seed: int,
    model: Any,
) -> RunRecord:
    """The record of a finished run; ``model`` is the kept (saved) model."""
    options = {
        f.name: getattr(model_args, f.name) for f in fields(model_args) if f.name not in _MODEL_RECORD_KEYS
    }
    for key in ("encoder_config", "spec_augment"):
        options[key] = json_option(options[key], key) or None
    means, stds = seed_statistics({seed: outcome.test for seed, outcome in outcomes.items()})
    tuned = has_tuned_thresholds(model.config)
    return RunRecord(
        model=ModelRecord(
            encoder=model_args.encoder,
            checkpoint=encoder_checkpoint(model_args),
            problem_type=model_args.problem_type,
            lora_r=model_args.lora_r,
            num_parameters=sum(parameter.numel() for parameter in model.parameters()),
            options=options,
        ),
        data=data,
        training=TrainingRecord(
            schedule=run_args.schedule,
            two_stage_rounds=run_args.two_stage_rounds,
            head_epochs=run_args.head_epochs,
            head_learning_rate=run_args.head_learning_rate,
            hyperparameters=training_hyperparameters(args),
        ),
        seeds=list(outcomes),
        selected_seed=selected_seed,
        thresholds=list(thresholds_of(model.config)) if tuned else None,
        thresholds_tuned=tuned,
        metrics=MetricsRecord(
            test=_metrics(means, "test_"),
            test_std=_metrics(stds, "test_"),
            per_seed=[
                SeedResult(
                    seed,
                    _metrics(outcome.test, "test_"),
                    _metrics(outcome.validation, "eval_"),
                    embedding_cache=outcome.embedding_passes,
                )
                for seed, outcome in outcomes.items()
            ],
        ),
    )


def save_kept_model(trainer: RespiraTrainer, output_dir: Path, summary: dict[str, Any]) -> None:
    """Save the kept seed's model, feature extractor, trainer state and metrics."""
    if hasattr(trainer.model, "merge_and_unload"):
        from ...models.lora import save_adapter

        save_adapter(trainer.model, output_dir)
        trainer.model = trainer.model.merge_and_unload()
    trainer.args.output_dir = str(output_dir)  # the kept seed's trainer now writes the run folder
    trainer.save_model()
    trainer.save_state()
    trainer.save_metrics("test", summary)


def write_reports(trainer: RespiraTrainer, splits: datasets.DatasetDict, output_dir: Path) -> None:
    """Training curves and the test split's evaluation report (confusion matrix, embeddings...)."""
    from ...evaluation.cycles import evaluate_model
    from ...reports.training_curves import plot_training_curves

    state = trainer.state  # the kept model: the best checkpoint with load_best_model_at_end, else the last
    selected = state.best_global_step if trainer.args.load_best_model_at_end else state.global_step
    plot_training_curves(state.log_history, output_dir / "training_curves.png", best_step=selected)
    if "test" in splits:
        evaluate_model(trainer.model, splits["test"], output_dir=output_dir / "evaluation_test")


def write_model_card(trainer: RespiraTrainer, record: RunRecord, output_dir: Path) -> None:
    """``README.md``: the card the trainer's ``ModelCardCallback`` filled, completed with the run record."""
    from ...hub.card_render import render_model_card
    from ...models.lora import has_adapter

    card = trainer.card_data
    card.set_run_record(record)
    card.adapter = has_adapter(output_dir)
    render_model_card(card).save(output_dir / "README.md")
