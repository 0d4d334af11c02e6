"""respira.train and respira.evaluate: what `respira train` and `respira evaluate` do, from Python, through
the same parser and handler (same folder, same metrics, same one-line refusals)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import respira
from respira.api import Evaluation, OptionError
from respira.cli import main
from respira.hub.loading import load_model
from respira.records.run import RunRecord
from respira.training.run import TrainedRun

from .training.conftest import TINY_RECIPE

OVERRIDES = {"learning_rate": 0.002, "seeds": [3], "disable_tqdm": True}
"""Options given to both: as keyword arguments to respira.train, as flags to `respira train`."""
CLI_FLAGS = ["--learning_rate", "0.002", "--seeds", "3", "--disable_tqdm", "true"]


def _timeless(metrics: dict) -> dict:
    """``metrics`` without the wall-clock ones (``test_runtime``, ``*_per_second``), at every depth."""
    timed = ("_runtime", "_per_second")
    return {
        key: _timeless(value) if isinstance(value, dict) else value
        for key, value in metrics.items()
        if not key.endswith(timed)
    }


@pytest.fixture(scope="module")
def runs(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny recipe trained twice with the same options and seed: by `respira train` (a YAML file and
    flags) and by respira.train (the same recipe as a dict, the flags as keyword arguments)."""
    root = tmp_path_factory.mktemp("api")
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    common = {"data_dir": str(synthetic_corpus), "dataset_cache_dir": str(root / "cache")}
    flags = [f"--{name}={value}" for name, value in common.items()]
    assert main(["train", str(recipe), *flags, *CLI_FLAGS, "--output_dir", str(root / "cli")]) == 0
    run = respira.train(dict(TINY_RECIPE), **common, **OVERRIDES, output_dir=root / "api")
    return {"root": root, "recipe": recipe, "cli": root / "cli", "api": run, "common": common}


def test_train_returns_the_run_folder_respira_train_writes(runs: dict) -> None:
    run, cli = runs["api"], runs["cli"]
    assert isinstance(run, respira.TrainedRun) and run.output_dir == runs["root"] / "api"
    written = json.loads((run.output_dir / "metrics.json").read_text())
    assert run.metrics == written
    assert run.metrics["seeds"] == [3] and run.metrics["selected_seed"] == 3
    assert _timeless(run.metrics) == _timeless(json.loads((cli / "metrics.json").read_text()))
    assert run.record == RunRecord.load(run.output_dir)
    assert run.record.training.hyperparameters["learning_rate"] == 0.002
    assert run.record.metrics == RunRecord.load(cli).metrics
    kept, _ = load_model(cli, device="cpu")
    trained = run.model.to("cpu").state_dict()
    assert trained.keys() == kept.state_dict().keys()
    assert all(torch.equal(trained[name], tensor) for name, tensor in kept.state_dict().items())
    assert run.model is run.model  # loaded once


def test_trained_run_reads_any_run_folder(runs: dict) -> None:
    folder = TrainedRun(str(runs["cli"]))
    assert folder.output_dir == runs["cli"] and folder.metrics["selected_seed"] == 3
    with pytest.raises(FileNotFoundError, match="not a finished respira run folder"):
        _ = TrainedRun(runs["root"]).metrics


@pytest.mark.parametrize(
    ("overrides", "flags"),
    [
        ({"learning_rat": 0.1}, ["--learning_rat", "0.1"]),
        ({"max_steps": "two"}, ["--max_steps", "two"]),
        ({"max_steps": 2.5}, ["--max_steps", "2.5"]),
        ({"eval_strategy": "sometimes"}, ["--eval_strategy", "sometimes"]),
    ],
)
def test_a_bad_override_is_the_cli_line_before_any_folder_is_written(
    runs: dict, overrides: dict, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run"
    assert main(["train", str(runs["recipe"]), *flags, "--output_dir", str(output)]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(OptionError) as refused:
        respira.train(runs["recipe"], **overrides, output_dir=output)
    assert isinstance(refused.value, ValueError)
    assert printed == f"respira train: error: {refused.value} (see respira train --help)"
    assert list(tmp_path.iterdir()) == []


def test_recipe_and_run_errors_are_the_cli_messages_before_any_work(runs: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"in the recipe mapping: 'lr' \(did you mean learning_rate\?\)"):
        respira.train({**TINY_RECIPE, "lr": 0.1}, output_dir=tmp_path / "run")
    with pytest.raises(
        ValueError, match="the recipe mapping: argument --max_steps: invalid int value: 'two'"
    ):
        respira.train({**TINY_RECIPE, "max_steps": "two"}, output_dir=tmp_path / "run")
    with pytest.raises(FileExistsError, match="already holds a run; pass --overwrite"):  # kept as it is
        respira.train(runs["recipe"], **runs["common"], output_dir=runs["cli"])
    assert list(tmp_path.iterdir()) == []


def test_evaluate_returns_what_respira_evaluate_writes(
    runs: dict, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_report = runs["root"] / "cli_validation"
    assert main(["evaluate", str(runs["cli"]), "--split", "validation", "--output_dir", str(cli_report)]) == 0
    monkeypatch.chdir(tmp_path)
    report = respira.evaluate(runs["api"], split="validation", batch_size=8)
    assert isinstance(report, Evaluation)
    assert report.output_dir == tmp_path / "evaluation_validation"  # the CLI's default: outside the model
    assert report.metrics == json.loads((report.output_dir / "metrics.json").read_text())
    assert report.metrics == json.loads((cli_report / "metrics.json").read_text())
    assert report.metrics["num_examples"] > 0


def test_a_bad_evaluate_option_is_the_cli_line(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(runs["cli"]), "--splt", "validation"]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(OptionError) as refused:
        respira.evaluate(runs["cli"], splt="validation")
    assert printed == f"respira evaluate: error: {refused.value} (see respira evaluate --help)"
    with pytest.raises(OptionError, match="--record: expected True or False"):
        respira.evaluate(runs["cli"], record="yes")


def test_the_entries_are_the_package_roots() -> None:
    """``import respira`` leaves them to their first use: tests/test_package.py, in a fresh process."""
    import respira.api

    assert {"train", "evaluate", "fit_site", "TrainedRun", "Evaluation", "SiteFitResult"} <= set(
        respira.__all__
    )
    assert (respira.train, respira.TrainedRun) == (respira.api.train, TrainedRun)
