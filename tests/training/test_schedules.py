"""Training schedules: the two-stage contrastive schedule's head stage has its own learning rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.training.recipe.recipe import RunArguments
from respira.training.trainer.schedules import train_with_schedule

from .conftest import tiny_model
from .test_trainer import _args


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
