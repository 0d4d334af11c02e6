"""The trainer's log, one short line per ``Trainer.log`` call."""

from __future__ import annotations

from respira.training.compact_log import compact_line

EVAL_LOGS = {
    "eval_loss": 1.181,
    "eval_specificity": 1.0,
    "eval_sensitivity": 0.25,
    "eval_icbhi_score": 0.625,
    "eval_auc_crackle": 0.8947,
    "eval_auc_wheeze": 0.9833,
    "eval_patient_icbhi_score": 0.5,
    **{f"eval_metric_{index}": 0.1 for index in range(50)},
    "epoch": 2.0,
}


def test_evaluation_training_and_end_logs_are_one_short_line() -> None:
    line = compact_line(EVAL_LOGS)
    assert line == (
        "epoch 2 · eval loss 1.181 · ICBHI 62.5 (Sp 100.0, Se 25.0) · AUC crackle 89.5, wheeze 98.3 "
        "· per patient 50.0"
    )
    assert compact_line({"loss": 1.414, "learning_rate": 0.0009455, "aux_loss": 0.8888, "epoch": 2.0}) == (
        "epoch 2 · loss 1.414 · aux 0.8888 · lr 0.0009455"
    )
    test = compact_line({key.replace("eval_", "test_"): value for key, value in EVAL_LOGS.items()})
    assert test.startswith("epoch 2 · test loss 1.181 · ICBHI 62.5")
    assert compact_line({"train_runtime": 89.61, "train_loss": 0.8701, "epoch": 12.0}) == (
        "epoch 12 · training done in 89.6 s · mean loss 0.8701"
    )
    assert compact_line({"custom": 3.0}) == "custom 3"
