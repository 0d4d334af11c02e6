"""Training and evaluating from a `datasets` dataset (a folder written by `respira prepare`, given as
--dataset_name or --data_dir): the run equals the run from the corpus folder; bad sources are refused
before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from respira.cli import main

from .conftest import TINY_RECIPE

RECIPE = {**TINY_RECIPE, "sampling_rate": 4000}  # the rate prepared_folder was built at


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


def _cycles(folder: Path) -> list[str]:
    lines = (folder / "cycle_predictions.csv").read_text().splitlines()
    return lines


def compare_runs(raw: Path, prepared: Path) -> None:
    """Same splits, cycles, metrics and kept model (what `equal runs` means here)."""
    first, second = (json.loads((run / "respira_run.json").read_text()) for run in (raw, prepared))
    assert first["data"]["split_sizes"] == second["data"]["split_sizes"]
    assert first["metrics"] == second["metrics"]
    assert first["thresholds"] == second["thresholds"]
    assert _cycles(raw / "evaluation_test") == _cycles(prepared / "evaluation_test")
    assert (raw / "model.safetensors").read_bytes() == (prepared / "model.safetensors").read_bytes()


def test_a_run_on_the_prepared_folder_equals_the_run_on_the_corpus(
    synthetic_corpus: Path, prepared_folder: Path, tmp_path: Path, capsys
) -> None:
    recipe = _recipe(tmp_path)
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    common = ["--dataset_cache_dir", str(tmp_path / "cache")]
    assert (
        main(["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(raw), *common])
        == 0
    )
    # the folder prepare wrote, given as --data_dir, is recognised as a dataset (not a corpus)
    assert (
        main(
            ["train", str(recipe), "--data_dir", str(prepared_folder), "--output_dir", str(prepared), *common]
        )
        == 0
    )
    assert "its own splits" in capsys.readouterr().out
    compare_runs(raw, prepared)
    data = json.loads((prepared / "respira_run.json").read_text())["data"]
    assert data["dataset_name"] == str(prepared_folder.resolve()) and data["data_dir"] is None
    assert data["dataset_config_name"] == "cycles" and data["validation_size"] == 0.25
    assert data["synthetic"] is True

    # evaluate: the run's own dataset by default; the corpus run scored on the dataset, and on `all`
    assert main(["evaluate", str(prepared), "--output_dir", str(tmp_path / "e1")]) == 0
    assert (
        main(
            [
                "evaluate",
                str(raw),
                "--dataset_name",
                str(prepared_folder),
                "--output_dir",
                str(tmp_path / "e2"),
            ]
        )
        == 0
    )
    assert main(["evaluate", str(raw), "--output_dir", str(tmp_path / "e3")]) == 0
    metrics = [json.loads((tmp_path / f"e{i}" / "metrics.json").read_text()) for i in (1, 2, 3)]
    assert metrics[0] == metrics[1] == metrics[2]
    for source in (["--dataset_name", str(prepared_folder)], ["--data_dir", str(synthetic_corpus)]):
        output = tmp_path / f"all_{source[0]}"
        assert main(["evaluate", str(raw), *source, "--split", "all", "--output_dir", str(output)]) == 0
    every = [
        json.loads((tmp_path / f"all_{flag}" / "metrics.json").read_text())
        for flag in ("--dataset_name", "--data_dir")
    ]
    assert every[0] == every[1]
    total = sum(
        len(p.read_text().splitlines()) for p in (synthetic_corpus / "ICBHI_final_database").glob("*.txt")
    )
    assert every[0]["num_examples"] == total  # nothing carved out for validation


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--audio_column_name", "sound"], "no audio column (--audio_column_name) 'sound'"),
        (["--label_column_name", "diagnosis"], "--label_column_name diagnosis"),
        (["--dataset_config_name", "recordings"], "--dataset_config_name 'recordings'"),
        (["--split_strategy", "patient_kfold"], "dataset "),
        (["--lowpass_cutoff", "800"], "was built without a low-pass"),
    ],
)
def test_a_bad_dataset_source_is_refused_before_any_work(
    prepared_folder: Path, tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    output = tmp_path / "run"
    code = main(
        [
            "train",
            str(_recipe(tmp_path)),
            "--dataset_name",
            str(prepared_folder),
            "--output_dir",
            str(output),
            *flags,
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not output.exists() and not any(tmp_path.glob(".*"))


def test_data_dir_and_dataset_name_together_are_refused(
    synthetic_corpus: Path, prepared_folder: Path, tmp_path: Path, capsys
) -> None:
    code = main(["train", str(_recipe(tmp_path)), "--dataset_name", str(prepared_folder), "--data_dir",
                 str(synthetic_corpus), "--output_dir", str(tmp_path / "run")])  # fmt: skip
    assert code == 2 and "not both" in capsys.readouterr().err


def test_a_prepared_datasets_low_pass_order_is_the_runs(synthetic_corpus: Path, tmp_path: Path) -> None:
    """``respira prepare --lowpass_order 6``: a run on that folder records order 6 (with its cutoff),
    whatever the recipe's default, so the model filters as its data was filtered."""
    from respira.training.recipe.recipe import DataArguments
    from respira.training.splits.datasets import data_record

    folder = tmp_path / "prepared"
    code = main(
        ["prepare", "--data_dir", str(synthetic_corpus), "--sampling_rate", "4000",
         "--validation_size", "0.25", "--lowpass_cutoff", "1000", "--lowpass_order", "6",
         "--output_dir", str(folder), "--cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    record = data_record(DataArguments(dataset_name=str(folder)), 4000)
    assert (record.lowpass_cutoff, record.lowpass_order) == (1000.0, 6)
    assert (data_record(DataArguments(data_dir=str(synthetic_corpus)), 4000).lowpass_order) == 4
    run = tmp_path / "run"
    code = main(["train", str(_recipe(tmp_path)), "--dataset_name", str(folder), "--output_dir", str(run)])
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["lowpass_cutoff"], config["lowpass_order"]) == (1000.0, 6)
