"""Run by test_distributed.py in each of the recipe launcher's 2 processes (the test runs :func:`train_losses`
and :func:`cached_tables` itself for one): a `respira train` command line, as ``-m respira`` runs it; a few
steps with ADD, whose losses it dumps; then a frozen-encoder trainer's cached tables, with and without a view
store, and the rows its encoder ran on."""

from __future__ import annotations

import json
import os
import runpy
import sys
import warnings
from pathlib import Path

import datasets
import numpy as np
import torch

from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.embedding_cache import ViewStore

from ..figures import skip_drawing
from .conftest import TINY_AST, tiny_model

AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}


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


def cached_tables(
    train: datasets.Dataset, validation: datasets.Dataset, output_dir: str
) -> dict[str, object]:
    """The tables a frozen-encoder trainer caches (2 views of ``train``, ``validation`` clean), without and
    with a view store, the rows the encoder ran on and the passes each trainer noted."""
    torch.manual_seed(0)
    model = tiny_model(freeze_encoder=True)
    rows: list[int] = []
    model.respira.register_forward_hook(lambda module, args, output: rows.append(int(args[0].shape[0])))
    args = RespiraTrainingArguments(
        output_dir=output_dir,
        per_device_eval_batch_size=4,
        augmented_views=1,
        augmentation=json.dumps(AUGMENTATION),
        concat_same_label=0.5,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        disable_tqdm=True,
    )
    result: dict[str, object] = {}
    for name, store in (("plain", None), ("store", ViewStore())):
        trainer = RespiraTrainer(model, args, train, eval_dataset=validation, embedding_store=store)
        result[f"{name}_train"] = np.asarray(trainer.train_dataset[:]["embeddings"])
        result[f"{name}_validation"] = np.asarray(trainer.eval_dataset[:]["embeddings"])
        share = getattr(trainer, "embedding_share", None)  # what the trainer noted (none before it did)
        result[f"{name}_passes"] = [(p.split, p.rows, p.embedded) for p in share.passes] if share else []
    result["encoded_rows"] = sum(rows)
    return result


def main(root: str, *command: str) -> None:
    """``respira`` ``command`` first, as ``python -m respira`` runs it; then the losses of the
    ``root``/train split (batches of 4 a process) to ``root``/losses.json; the tables of ``root``/tables_train
    and tables_validation to ``root``/tables_RANK.npz and counts_RANK.json; figures not drawn, as in
    every test not marked ``figures``."""
    skip_drawing()
    sys.argv = ["respira", *command]
    try:
        runpy.run_module("respira", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code:
            raise
    warnings.simplefilter("ignore")
    folder = Path(root)
    trainer, found = train_losses(str(folder / "train"), str(folder / "losses_run"), 4)
    if trainer.is_world_process_zero():
        (folder / "losses.json").write_text(json.dumps(found))
    train, validation = (
        datasets.load_from_disk(folder / f"tables_{name}") for name in ("train", "validation")
    )
    result = cached_tables(train, validation, str(folder / "tables_run"))
    rank = int(os.environ.get("RANK", "0"))
    arrays = {key: value for key, value in result.items() if isinstance(value, np.ndarray)}
    np.savez(folder / f"tables_{rank}.npz", **arrays)
    counts = {key: value for key, value in result.items() if not isinstance(value, np.ndarray)}
    (folder / f"counts_{rank}.json").write_text(json.dumps(counts))
    # Nothing is left to compute: skip the interpreter's teardown, where gloo's threads occasionally
    # abort the process ("terminate called without an active exception"); destroying the process
    # group instead hung in about 1 run of 6.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
