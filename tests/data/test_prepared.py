"""A `datasets` dataset as training and evaluation data: a folder written by `respira prepare` (or any
dataset of that shape), checked from its card and features before any work, loaded with respira's
column names."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
import yaml

from respira.data.prepared import inspect_dataset, is_prepared_folder, load_prepared
from respira.models.respira.labels import CLASS_NAMES


def _card_splits(folder: Path) -> dict[str, int]:
    front = (folder / "README.md").read_text(encoding="utf-8").split("---")[1]
    info = yaml.safe_load(front)["dataset_info"]
    info = info[0] if isinstance(info, list) else info
    return {split["name"]: split["num_examples"] for split in info["splits"]}


def test_a_prepared_folder_is_recognised_and_described(prepared_folder: Path, synthetic_corpus: Path) -> None:
    assert is_prepared_folder(prepared_folder)
    assert not is_prepared_folder(synthetic_corpus)  # a corpus folder
    assert not is_prepared_folder(prepared_folder / "cycles")
    source = inspect_dataset(str(prepared_folder))
    assert source.config_name == "cycles"
    assert source.splits == _card_splits(prepared_folder)
    assert list(source.splits) == ["train", "validation", "test"]
    assert source.features["audio"].sampling_rate == 4000
    assert source.build["validation_size"] == 0.25 and source.build["synthetic"] is True
    total = sum(
        len(p.read_text().splitlines()) for p in (synthetic_corpus / "ICBHI_final_database").glob("*.txt")
    )
    assert sum(source.splits.values()) == total


def test_a_missing_config_column_or_split_is_one_line_naming_it(prepared_folder: Path) -> None:
    name = str(prepared_folder)
    with pytest.raises(ValueError, match=r"--dataset_config_name 'recordings' .*Available: \['cycles'\]"):
        inspect_dataset(name, "recordings")
    with pytest.raises(
        ValueError, match=r"no audio column \(--audio_column_name\) 'sound'; its columns: audio"
    ):
        inspect_dataset(name, audio_column="sound")
    with pytest.raises(ValueError, match=r"no label column \(--label_column_name\) 'class'"):
        inspect_dataset(name, label_column="class")
    with pytest.raises(ValueError, match=r"--label_column_name diagnosis: .* not a ClassLabel"):
        inspect_dataset(name, label_column="diagnosis")
    with pytest.raises(ValueError, match=r"--audio_column_name recording: .* not datasets\.Audio"):
        inspect_dataset(name, audio_column="recording")
    with pytest.raises(FileNotFoundError, match="no such dataset folder"):
        inspect_dataset(str(prepared_folder / "missing"))
    with pytest.raises(
        ValueError, match=r"has no split 'holdout', which .*; its splits: train, validation, test"
    ):
        inspect_dataset(name).require_splits(["train", "holdout"], "the test asks for")


def test_other_column_names_are_read_under_respira_names(prepared_folder: Path, tmp_path: Path) -> None:
    original = datasets.load_dataset(str(prepared_folder))
    other = tmp_path / "other"
    other.mkdir()
    for split, part in original.items():  # integer labels in "class", the audio in "sound"
        integers = part.cast_column("label", datasets.Value("int64"))
        integers.rename_columns({"audio": "sound", "label": "class"}).to_parquet(
            str(other / f"{split}.parquet")
        )
    assert not is_prepared_folder(other)  # no card: given as --dataset_name only
    with pytest.raises(ValueError, match="has no audio column"):
        inspect_dataset(str(other))
    source = inspect_dataset(str(other), audio_column="sound", label_column="class")
    assert source.build == {}
    loaded = load_prepared(source)
    assert set(loaded) == set(original)
    for split, part in loaded.items():
        assert part.features["label"] == datasets.ClassLabel(names=list(CLASS_NAMES))
        assert isinstance(part.features["audio"], datasets.Audio)
        assert part["label"] == original[split]["label"]
        assert part["recording"] == original[split]["recording"]
