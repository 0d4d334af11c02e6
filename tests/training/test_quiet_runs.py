"""Quiet CPU runs: no pin_memory or early-stopping warnings, a device-shift note only when it applies, the
test split scored once."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml

from respira.cli import main
from respira.inference.detector import Detector
from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.recipe import parse_recipe

from .conftest import TINY_RECIPE


@contextmanager
def transformers_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture transformers' log records (its root logger does not propagate to pytest's handler)."""
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="transformers"):
            yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def _train_only_on_other_devices(corpus: Path) -> str:
    """Rename the training recordings of a device that both splits hold (the split file matches recordings
    on their first four name fields), so that it only occurs in the test split; return that device."""
    folder = corpus / "ICBHI_final_database"
    entries = [line.split() for line in (corpus / "ICBHI_challenge_train_test.txt").read_text().splitlines()]
    devices = {
        split: {name.rsplit("_", 1)[1] for name, side in entries if side == split}
        for split in ("train", "test")
    }
    shifted = min(devices["train"] & devices["test"])
    other = min(devices["train"] - {shifted})
    for name, split in entries:
        if split == "train" and name.endswith(shifted):
            for suffix in (".wav", ".txt"):
                renamed = name.replace(shifted, other) + suffix
                (folder / f"{name}{suffix}").rename(folder / renamed)
    return shifted


def test_pin_memory_follows_the_accelerator_unless_set(tmp_path: Path) -> None:
    # transformers itself turns pinning off for use_cpu; a machine without an accelerator needs no flag
    accelerator = torch.accelerator.is_available()
    assert RespiraTrainingArguments(output_dir=str(tmp_path)).dataloader_pin_memory is accelerator
    explicit = RespiraTrainingArguments(output_dir=str(tmp_path), dataloader_pin_memory=True)
    assert explicit.dataloader_pin_memory is True
    _, _, _, args = parse_recipe(None, ["--output_dir", str(tmp_path), "--dataloader_pin_memory", "true"])
    assert args.dataloader_pin_memory is True
    _, _, _, args = parse_recipe(None, ["--output_dir", str(tmp_path)])
    assert args.dataloader_pin_memory is accelerator


def test_common_option_names_suggest_respiras_own() -> None:
    with pytest.raises(ValueError, match=r"--epochs \(did you mean --num_train_epochs\?\)"):
        parse_recipe(None, ["--epochs", "3"])
    with pytest.raises(ValueError, match=r"--lr \(did you mean --learning_rate\?\)"):
        parse_recipe(None, ["--lr", "3"])


def test_a_cpu_run_is_quiet_and_notes_an_unseen_test_device(
    corpus_copy: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shifted = _train_only_on_other_devices(corpus_copy)
    # each pass of a model over a split: the trainer's metric prefix, or "report" for the report's own
    passes: list[str] = []
    loop, run = RespiraTrainer.evaluation_loop, Detector.run_dataset
    monkeypatch.setattr(
        RespiraTrainer,
        "evaluation_loop",
        lambda *a, **k: passes.append(k["metric_key_prefix"]) or loop(*a, **k),
    )
    monkeypatch.setattr(Detector, "run_dataset", lambda *a, **k: passes.append("report") or run(*a, **k))
    recipe = tmp_path / "recipe.yaml"
    # without use_cpu (which makes transformers turn pinning off itself), as on a laptop without a GPU
    options = {key: value for key, value in TINY_RECIPE.items() if key != "use_cpu"}
    recipe.write_text(yaml.safe_dump({**options, "early_stopping_patience": 1}))
    output = tmp_path / "run"
    with transformers_log(caplog), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(
            ["train", str(recipe), "--data_dir", str(corpus_copy), "--output_dir", str(output),
             "--dataset_cache_dir", str(tmp_path / "cache")]
        )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    messages = [str(w.message) for w in caught] + [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "pin_memory" in m], messages
    assert not [m for m in messages if "early stopping" in m], messages
    assert not [m for m in messages if "LOAD REPORT" in m], messages
    # the device-shift note: printed once at the end, and in metrics.json
    notes = [line for line in printed.out.splitlines() if line.startswith("device shift:")]
    assert len(notes) == 1 and shifted in notes[0]
    assert json.loads((output / "metrics.json").read_text())["device_shift"] == notes[0]
    # the test evaluation reports each device and chest location, with the split's counts
    report = json.loads((output / "evaluation_test" / "metrics.json").read_text())
    assert [name for name in passes if name != "eval"] == ["test"]  # the report reuses the test scoring
    by_device = report["by_device"]
    assert shifted in by_device
    for column in ("by_device", "by_chest_location"):
        assert sum(group["num_examples"] for group in report[column].values()) == report["num_examples"]
