"""ValidationEarlyStopping: counts validation evaluations, passes over the test split's scoring quietly."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import TrainerControl, TrainerState

from respira.training import RespiraTrainingArguments
from respira.training.callbacks import ValidationEarlyStopping


def test_only_validation_evaluations_count(tmp_path: Path, caplog) -> None:
    args = RespiraTrainingArguments(
        output_dir=str(tmp_path), eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True
    )
    callback = ValidationEarlyStopping(early_stopping_patience=2)
    state, control = TrainerState(best_metric=0.6), TrainerControl()
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    try:
        callback.on_evaluate(args, state, control, metrics={"test_icbhi_score": 0.1, "test_loss": 1.0})
        assert callback.early_stopping_patience_counter == 0 and not control.should_training_stop
        callback.on_evaluate(args, state, control, metrics={"eval_icbhi_score": 0.5})
        callback.on_evaluate(args, state, control, metrics={"test_icbhi_score": 0.1})
        assert callback.early_stopping_patience_counter == 1 and not control.should_training_stop
        callback.on_evaluate(args, state, control, metrics={"eval_icbhi_score": 0.4})
        assert control.should_training_stop  # two validation evaluations without improvement
    finally:
        logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if "early stopping" in r.getMessage()]
