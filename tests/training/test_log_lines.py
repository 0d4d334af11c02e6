"""respira.training.trainer.log_lines: one compact line per Trainer log; the logs themselves keep every
metric."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from transformers import PrinterCallback, ProgressCallback

from respira.training import RespiraTrainer
from respira.training.trainer.log_lines import CompactPrinterCallback, CompactProgressCallback, compact_line

from .conftest import tiny_model, training_args

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
