"""Run by test_distributed.py under ``accelerate launch`` (2 processes): build a frozen-encoder trainer on
cached embeddings, with and without a view store, and dump each process's cached tables and the rows its
encoder ran on."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import datasets
import numpy as np
import torch

from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.embeddings.view_store import ViewStore

if __package__:  # imported by the test, which computes the one-process tables itself
    from .conftest import tiny_model
else:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from conftest import tiny_model

AUGMENTATION = {"gain": {"db": [-6, 6], "probability": 1.0}}


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


def main(train_dir: str, validation_dir: str, output_dir: str, result_dir: str) -> None:
    warnings.simplefilter("ignore")
    datasets.disable_progress_bars()
    train, validation = datasets.load_from_disk(train_dir), datasets.load_from_disk(validation_dir)
    result = cached_tables(train, validation, output_dir)
    rank = int(os.environ.get("RANK", "0"))
    arrays = {key: value for key, value in result.items() if isinstance(value, np.ndarray)}
    np.savez(Path(result_dir) / f"tables_{rank}.npz", **arrays)
    counts = {key: value for key, value in result.items() if not isinstance(value, np.ndarray)}
    (Path(result_dir) / f"counts_{rank}.json").write_text(json.dumps(counts))
    # as ddp_worker.py: skip the interpreter's teardown, where gloo's threads occasionally abort
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:5])
