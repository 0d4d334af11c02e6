"""Training schedules of a seed: ``standard`` (one ``Trainer.train``) or ``contrastive_two_stage``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..recipe.arguments import RespiraTrainingArguments
from ..recipe.recipe_fields import RunArguments

if TYPE_CHECKING:
    import datasets
    from torch import nn

    from ..embeddings.view_store import ViewStore
    from .trainer import RespiraTrainer

SCHEDULES: tuple[str, ...] = ("standard", "contrastive_two_stage")


def make_trainer(
    model: nn.Module, args: RespiraTrainingArguments, splits: datasets.DatasetDict, **kwargs: Any
) -> RespiraTrainer:
    """A trainer on the training split, evaluating on validation when ``args.eval_strategy`` asks."""
    from .trainer import RespiraTrainer

    evaluation = splits.get("validation") if args.eval_strategy != "no" else None
    return RespiraTrainer(model, args, splits["train"], eval_dataset=evaluation, **kwargs)


def train_with_schedule(
    model: nn.Module,
    args: RespiraTrainingArguments,
    run: RunArguments,
    splits: datasets.DatasetDict,
    *,
    resume_from: str | Path | None = None,
    embedding_store: ViewStore | None = None,
) -> RespiraTrainer:
    """Train ``model`` with ``run.schedule``; return the trainer that holds the final model."""
    if run.schedule == "contrastive_two_stage":  # resuming it is refused by validate_run
        return _contrastive_two_stage(model, args, run, splits)
    trainer = make_trainer(model, args, splits, embedding_store=embedding_store)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    return trainer


def _contrastive_two_stage(
    model: nn.Module, args: RespiraTrainingArguments, run: RunArguments, splits: datasets.DatasetDict
) -> RespiraTrainer:
    """Song et al. (2021): the encoder trained with the contrastive loss alone, then frozen while the
    classifier trains on it (``run.head_epochs`` at ``run.head_learning_rate``)."""
    trainer = None
    for _ in range(run.two_stage_rounds):
        model.freeze_encoder(False)
        embedding_args = replace(
            args,
            task_loss_weight=0.0,
            aux_loss=args.aux_loss or "contrastive_tuple",
            batch_sampler="contrastive_tuple" if args.batch_sampler == "random" else args.batch_sampler,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
        )
        make_trainer(model, embedding_args, splits).train()
        model.freeze_encoder()
        head_args = replace(
            args,
            aux_loss=None,
            batch_sampler="random",
            num_train_epochs=run.head_epochs,
            learning_rate=run.head_learning_rate,
        )
        trainer = make_trainer(model, head_args, splits)
        trainer.train()
    return trainer
