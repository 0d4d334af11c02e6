"""Training under data parallelism (2 CPU processes, gloo) matches one process on the same global batch;
a frozen-encoder run embeds each example once across the processes."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import yaml

from respira.cli import main

from ..forked import fork_launch
from .conftest import TINY_RECIPE

LAUNCH_CONFIG = Path(__file__).parents[2] / "recipes/accelerate/cpu_ddp.yaml"
"""The recipe's launcher: two gloo processes (``--cpu --num_processes 2`` starts one)."""


FROZEN = {**TINY_RECIPE, "freeze_encoder": True, "augmented_views": 1, "disable_tqdm": False}
FROZEN["augmentation"] = {"gain": {"db": [-6, 6]}}


def _train(root: Path, corpus: Path, output: str) -> list[str]:
    """`respira train` of the FROZEN recipe in ``root`` into ``root``/``output``."""
    return ["train", str(root / "recipe.yaml"), "--data_dir", str(corpus), "--dataset_cache_dir",
            str(root / "cache"), "--output_dir", str(root / output)]  # fmt: skip


def _launched(root: str, *command: str) -> None:
    """distributed_worker.py's ``main`` in a launched process, progress bars on as in a fresh one (this
    process turned datasets' off)."""
    import datasets
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging

    from .distributed_worker import main as worker

    datasets.enable_progress_bars()
    enable_progress_bars()
    logging.enable_progress_bar()
    worker(root, *command)


@pytest.fixture(scope="module")
def two_processes(icbhi_splits, synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder where the two processes of the recipe's launcher (forked with the environment
    ``accelerate launch`` gives each) wrote what distributed_worker.py computes: a `respira train` of the
    FROZEN recipe (its run in two/, the processes' output in launch.log), the losses of 3 steps on the train
    split, and the cached tables of 21 train and 9 validation cycles."""
    root = tmp_path_factory.mktemp("two_processes")
    icbhi_splits["train"].save_to_disk(str(root / "train"))
    icbhi_splits["train"].select(range(21)).save_to_disk(str(root / "tables_train"))
    icbhi_splits["validation"].select(range(9)).save_to_disk(str(root / "tables_validation"))
    (root / "recipe.yaml").write_text(yaml.safe_dump(FROZEN))
    run = partial(_launched, str(root), *_train(root, synthetic_corpus, "two"))
    codes = fork_launch(LAUNCH_CONFIG, run, root / "launch.log")
    assert codes == [0, 0], (root / "launch.log").read_text()[-6000:]
    return root


@pytest.mark.slow
def test_two_processes_reproduce_the_single_process_losses(two_processes: Path, tmp_path: Path) -> None:
    from .distributed_worker import train_losses

    one = train_losses(str(two_processes / "train"), str(tmp_path / "one"), 8)[1]
    two = json.loads((two_processes / "losses.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert len(one["losses"]) == len(two["losses"]) == 3
    # step 1 checks the losses (auxiliary loss over the gathered global batch); steps 2-3 check that the
    # averaged gradients, hence the updated weights, are the same too
    for step, (expected, found) in enumerate(zip(one["losses"], two["losses"], strict=True), start=1):
        assert found == pytest.approx(expected, abs=1e-5), f"step {step}"


def test_two_processes_embed_each_view_once_and_cache_the_table_of_one(
    two_processes: Path, icbhi_splits, tmp_path: Path
) -> None:
    from .distributed_worker import cached_tables

    train, validation = icbhi_splits["train"].select(range(21)), icbhi_splits["validation"].select(range(9))
    alone = cached_tables(train, validation, str(tmp_path / "alone"))
    tables = [np.load(two_processes / f"tables_{rank}.npz") for rank in (0, 1)]
    counts = [json.loads((two_processes / f"counts_{rank}.json").read_text()) for rank in (0, 1)]
    # 2 views of 21 cycles (21 + 21 rows) and 9 validation cycles, twice (without and with a store):
    # each process ran the encoder on its share alone, 2 × (21 + 5) and 2 × (21 + 4) rows
    assert [count["encoded_rows"] for count in counts] == [52, 50]
    assert alone["encoded_rows"] == 102
    for name in ("plain", "store"):
        passes = [["train", 42, [21, 21]], ["validation", 9, [5, 4]]]
        assert counts[0][f"{name}_passes"] == counts[1][f"{name}_passes"] == passes
        for split in ("train", "validation"):
            key = f"{name}_{split}"
            assert np.array_equal(tables[0][key], tables[1][key]), key  # both train on the same table
            np.testing.assert_allclose(tables[0][key], alone[key], atol=1e-5, err_msg=key)


def test_a_frozen_encoder_run_under_accelerate_launch_embeds_each_cycle_once(
    two_processes: Path, synthetic_corpus: Path, capsys
) -> None:
    assert main(_train(two_processes, synthetic_corpus, "one")) == 0, capsys.readouterr().err
    stderr = (two_processes / "launch.log").read_text()

    def passes(run: str) -> list[dict]:
        record = json.loads((two_processes / run / "respira_run.json").read_text())
        return record["metrics"]["per_seed"][0].get("embedding_cache", [])

    one, two = passes("one"), passes("two")
    assert [p["split"] for p in two] == ["train", "validation", "test"]
    assert [(p["split"], p["rows"]) for p in two] == [(p["split"], p["rows"]) for p in one]
    assert all(p["embedded"] == [p["rows"]] for p in one)
    for shared in two:  # each process embedded its half, together every row once
        halves = [-(-shared["rows"] // 2), shared["rows"] // 2]
        assert shared["embedded"] == halves, shared
    train = two[0]
    cycles = train["rows"] // 2
    line = f"embedding the training split, 2 views of {cycles} cycles, process 1 of 2 embedding its share"
    assert f"{line} ({-(-train['rows'] // 2)} views)" in stderr.splitlines(), stderr[-3000:]
