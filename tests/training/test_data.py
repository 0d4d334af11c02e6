"""Training and evaluating from a `datasets` dataset (a folder written by `respira prepare`, given as
--dataset_name or --data_dir): the run equals the run from the corpus folder; bad sources are refused
before any work.

The split `respira evaluate` scores is checked from the text files before any build: another folder
than the run's, without the split the run's options make, is refused at once; `all` is every cycle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.data.run_splits import ALL_SPLIT, check_split, load_split, load_splits
from respira.records.run import DataRecord

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
    synthetic_corpus: Path, dataset_cache: Path, prepared_folder: Path, tmp_path: Path, capsys
) -> None:
    recipe = _recipe(tmp_path)
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    common = ["--dataset_cache_dir", str(dataset_cache)]
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
    from respira.training.data import data_record
    from respira.training.training_args import DataArguments

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


def _cycles(corpus: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (corpus / "ICBHI_final_database").glob("*.txt"))


def test_a_folder_without_the_split_is_refused_before_the_build(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(synthetic_corpus, other)
    (other / "ICBHI_challenge_train_test.txt").unlink()
    run_options = DataRecord(data_dir=str(other), sampling_rate=4000, validation_size=0.25)
    cache = tmp_path / "cache"
    with pytest.raises(
        ValueError, match=r"has no official split file .* so no split 'test': pass --split all"
    ):
        check_split(run_options, "test", cache_dir=cache)
    assert not cache.exists()  # nothing was built
    check_split(run_options, ALL_SPLIT)
    assert len(load_split(run_options, ALL_SPLIT, cache_dir=cache)) == _cycles(other)


def test_a_folder_whose_split_is_empty_names_the_splits_it_has(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    only_train = tmp_path / "train_only"
    shutil.copytree(synthetic_corpus, only_train)
    split_file = only_train / "ICBHI_challenge_train_test.txt"
    test_recordings = [
        line.split()[0] for line in split_file.read_text().splitlines() if line.split()[1] == "test"
    ]
    for stem in test_recordings:
        for path in (only_train / "ICBHI_final_database").glob(f"{stem}.*"):
            path.unlink()
    data = DataRecord(data_dir=str(only_train), sampling_rate=4000, validation_size=0.25)
    with pytest.raises(
        ValueError, match=r"has only the split\(s\) train, validation under split_strategy official"
    ):
        check_split(data, "test")
    check_split(data, "validation")


def test_all_scores_every_cycle_of_the_official_layout(synthetic_corpus: Path, tmp_path: Path) -> None:
    data = DataRecord(
        data_dir=str(synthetic_corpus), sampling_rate=4000, validation_size=0.25, train_fraction=0.5
    )
    every = load_split(data, ALL_SPLIT, cache_dir=tmp_path / "cache")
    assert len(every) == _cycles(synthetic_corpus)  # no 25 % lost to validation, no patients left out
    assert len(set(zip(every["recording"], every["cycle_index"], strict=True))) == len(every)


def test_a_dataset_without_the_split_is_refused(prepared_folder: Path) -> None:
    data = DataRecord(data_dir=None, dataset_name=str(prepared_folder), sampling_rate=4000)
    with pytest.raises(ValueError, match="has no split 'holdout', which --split holdout asks for"):
        check_split(data, "holdout")
    assert len(load_split(data, ALL_SPLIT)) == sum(len(part) for part in load_splits(data).values())
