"""The split `respira evaluate` scores is checked from the text files before any build: another folder
than the run's, without the split the run's options make, is refused at once; `all` is every cycle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from respira.run_record import DataRecord
from respira.training.splits.datasets import load_splits
from respira.training.splits.evaluation_splits import ALL_SPLIT, check_split, load_split


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
