"""A run killed mid-epoch and resumed from its checkpoint ends exactly like an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from respira.training import RespiraTrainer, RespiraTrainingArguments

from .conftest import tiny_model


class KilledError(RuntimeError):
    pass


class _KillAfterStep(TrainerCallback):
    """Crash while the step after ``step`` (whose checkpoint is saved) is under way."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KilledError(f"simulated crash during step {self.step + 1}")


def _run(icbhi_splits, output_dir: Path, *, callbacks=(), resume: bool = False):
    torch.manual_seed(0)
    args = RespiraTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        num_train_epochs=2,
        learning_rate=1e-3,
        save_strategy="steps",
        save_steps=3,
        eval_strategy="no",
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        seed=0,
        aux_loss="add",
        batch_sampler="contrastive_tuple",
        augmentation='{"gain": {"db": [-6, 6], "probability": 0.8}, "white_noise": {"snr_db": [20, 30]}}',
        dataloader_drop_last=True,
    )
    trainer = RespiraTrainer(tiny_model(), args, icbhi_splits["train"], callbacks=list(callbacks))
    trainer.train(resume_from_checkpoint=resume or None)
    return trainer


def test_resume_mid_epoch_matches_the_uninterrupted_run(icbhi_splits, tmp_path: Path) -> None:
    reference = _run(icbhi_splits, tmp_path / "reference")
    steps_per_epoch = reference.state.max_steps // 2
    kill_at = 3  # a checkpoint is saved at step 3, inside the first epoch
    assert 0 < kill_at < steps_per_epoch
    with pytest.raises(KilledError):
        _run(icbhi_splits, tmp_path / "interrupted", callbacks=[_KillAfterStep(kill_at)])
    assert (tmp_path / "interrupted" / f"checkpoint-{kill_at}").is_dir()
    resumed = _run(icbhi_splits, tmp_path / "interrupted", resume=True)
    assert resumed.state.global_step == reference.state.global_step
    for name, value in reference.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, atol=1e-6, rtol=1e-5, msg=name)
    reference_losses = [e["loss"] for e in reference.state.log_history if "loss" in e]
    resumed_losses = [e["loss"] for e in resumed.state.log_history if "loss" in e]
    assert resumed_losses[-1] == pytest.approx(reference_losses[-1], rel=1e-5)
    test = icbhi_splits["test"]
    assert resumed.evaluate(test)["eval_icbhi_score"] == pytest.approx(
        reference.evaluate(test)["eval_icbhi_score"]
    )
