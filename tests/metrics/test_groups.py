"""Scores per device and chest location, and the device-shift note."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.data import load_icbhi
from respira.metrics import icbhi_scores
from respira.metrics.groups import (
    GROUP_SCORES,
    group_selections,
    scores_by_group,
    scores_by_metadata,
    splits_device_shift_note,
)


@pytest.fixture(scope="module")
def splits(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> datasets.DatasetDict:
    datasets.disable_progress_bars()
    return load_icbhi(synthetic_corpus, validation_size=0.25, cache_dir=tmp_path_factory.mktemp("groups"))


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b)


def test_each_group_is_scored_on_its_own_cycles() -> None:
    labels = [0, 0, 1, 2, 0, 3, 1, 0]
    predictions = [0, 1, 1, 0, 0, 3, 2, 0]
    devices = ["A", "A", "A", "A", "B", "B", "B", None]
    groups = scores_by_group(labels, predictions, devices)
    assert list(groups) == ["A", "B", "unknown"]
    # device A: normal 1 of 2 right (Sp 0.5), abnormal 1 of 2 right (Se 0.5)
    assert groups["A"] == {
        "num_examples": 4, "num_normal": 2, "num_abnormal": 2,
        "specificity": 0.5, "sensitivity": 0.5, "icbhi_score": 0.5, "accuracy": 0.5,
    }  # fmt: skip
    # device B: Sp 1, Se 1 of 2
    assert (groups["B"]["specificity"], groups["B"]["sensitivity"]) == (1.0, 0.5)
    # a group without abnormal cycles: sensitivity undefined (nan), the score is its specificity
    assert np.isnan(groups["unknown"]["sensitivity"]) and groups["unknown"]["icbhi_score"] == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        scores_by_group(labels, predictions, devices[:-1])


def test_per_device_and_location_scores_on_the_synthetic_test_split(splits) -> None:
    test = splits["test"]
    labels = np.asarray(test["label"])
    predictions = np.random.default_rng(0).integers(0, 4, size=len(labels))
    scores = scores_by_metadata(labels, predictions, test)
    assert set(scores) == {"by_device", "by_chest_location"}
    for column in ("device", "chest_location"):
        values = np.asarray(test[column])
        groups = scores[f"by_{column}"]
        assert {name: g["num_examples"] for name, g in groups.items()} == dict(Counter(values.tolist()))
        for name, group in groups.items():
            mask = values == name
            expected = icbhi_scores(labels[mask], predictions[mask], warn=False)
            assert all(_same(group[key], expected[key]) for key in GROUP_SCORES), (column, name)
            assert group["num_normal"] == int(np.sum(labels[mask] == 0))
    # a mapping of columns works like the dataset; absent columns are left out
    assert scores_by_metadata(labels, predictions, {"device": test["device"]}).keys() == {"by_device"}


def test_device_shift_note_appears_exactly_when_a_test_device_is_unseen(splits) -> None:
    train_devices = set(splits["train"]["device"])
    test_counts = Counter(splits["test"]["device"])
    unseen = {device: n for device, n in test_counts.items() if device not in train_devices}
    note = splits_device_shift_note(splits)
    assert (note is None) == (not unseen)
    # drop one test device from the training split: the note names it with its test count
    device, count = test_counts.most_common(1)[0]
    shifted = datasets.DatasetDict(
        {"train": splits["train"].filter(lambda row: row["device"] != device), "test": splits["test"]}
    )
    note = splits_device_shift_note(shifted)
    assert note is not None and "\n" not in note
    assert f"{device} ({count} of {len(splits['test'])} test cycles)" in note
    # every test device seen in training: no note; no test split or no device column: no note either
    assert (
        splits_device_shift_note({"train": {"device": ["A", "B"]}, "test": {"device": ["B", "A", "A"]}})
        is None
    )
    assert splits_device_shift_note(
        {"train": {"device": ["A"]}, "test": {"device": ["A", "C", "C", "D"]}}
    ).startswith("device shift: C (2 of 4 test cycles), D (1 of 4 test cycles) never appear")
    assert splits_device_shift_note({"train": splits["train"]}) is None
    assert splits_device_shift_note({"train": {"label": [0]}, "test": {"label": [0]}}) is None


def test_group_selections_leave_a_missing_value_to_overall_only() -> None:
    chosen = group_selections(["A", None, "", "B", "A", 3], 6)
    assert list(chosen) == ["overall", "A", "B", "3"]
    assert chosen["overall"].all() and chosen["A"].tolist() == [True, False, False, False, True, False]
    assert group_selections(None, 2)["overall"].tolist() == [True, True]
