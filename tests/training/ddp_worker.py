"""Run by test_distributed.py under torchrun (2 processes; the test runs :func:`train_losses` itself for
one): a few steps with ADD; dump the losses."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import datasets
import torch

from respira.training import RespiraTrainer, RespiraTrainingArguments

if __package__:  # imported by the test, which trains the one-process run itself
    from .conftest import TINY_AST, tiny_model
else:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from conftest import TINY_AST, tiny_model


def train_losses(dataset_dir: str, output_dir: str, batch_size: int) -> tuple[RespiraTrainer, dict]:
    """The trainer after 3 steps, and its logged losses and world size."""
    datasets.disable_progress_bars()
    torch.manual_seed(0)
    train = datasets.load_from_disk(dataset_dir)
    args = RespiraTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        max_steps=3,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        seed=0,
        aux_loss="add",
        aux_loss_weight=0.5,
        dataloader_drop_last=True,
        disable_tqdm=True,
    )
    model = tiny_model(TINY_AST, ast_length_policy="adapt")
    trainer = RespiraTrainer(model, args, train)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return trainer, {"losses": losses, "world_size": args.world_size}


def main(dataset_dir: str, output_dir: str, batch_size: int, result: str) -> None:
    warnings.simplefilter("ignore")
    trainer, found = train_losses(dataset_dir, output_dir, batch_size)
    if trainer.is_world_process_zero():
        Path(result).write_text(json.dumps(found))
    # Nothing is left to compute: skip the interpreter's teardown, where gloo's threads occasionally
    # abort the process ("terminate called without an active exception"); destroying the process
    # group instead hung in about 1 run of 6.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
