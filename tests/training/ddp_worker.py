"""A few steps with ADD: :func:`losses` in test_distributed.py's process, or run under torchrun (2 processes)
to dump them."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import datasets
import torch

from respira.training import RespiraTrainer, RespiraTrainingArguments

if __package__:
    from .conftest import TINY_AST, tiny_model
else:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from conftest import TINY_AST, tiny_model


def losses(dataset_dir: str, output_dir: str, batch_size: int) -> dict:
    """The logged losses of 3 steps and the world size."""
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
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"losses": logged, "world_size": args.world_size, "main": trainer.is_world_process_zero()}


def main(dataset_dir: str, output_dir: str, batch_size: int, result: str) -> None:
    warnings.simplefilter("ignore")
    datasets.disable_progress_bars()
    found = losses(dataset_dir, output_dir, batch_size)
    if found.pop("main"):
        Path(result).write_text(json.dumps(found))
    # Nothing is left to compute: skip the interpreter's teardown, where gloo's threads occasionally
    # abort the process ("terminate called without an active exception"); destroying the process
    # group instead hung in about 1 run of 6.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
