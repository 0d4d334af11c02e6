"""Tests for respira.data.folds: patient-wise, class-stratified k-fold cross-validation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from respira.data import load_icbhi, read_icbhi_index
from respira.data.errors import SplitError
from respira.data.folds import check_every_cycle_tested_once, fold_splits, patient_kfold
from respira.models.respira.labels import CLASS_NAMES

from .test_splits import make_index


@pytest.fixture(scope="module")
def index() -> pd.DataFrame:
    return make_index(n_patients=40, seed=3)


def test_every_patient_and_cycle_is_in_exactly_one_fold(index: pd.DataFrame) -> None:
    folds = patient_kfold(index, 5, seed=0)
    assert folds.name == "fold" and folds.index.equals(index.index)
    assert set(folds) == set(range(5))
    assert (index.assign(fold=folds).groupby("patient_id")["fold"].nunique() == 1).all()
    # every cycle has one fold, so the test folds of the k splits partition the cycles
    tests = [set(np.flatnonzero(fold_splits(index, folds, i).to_numpy() == "test")) for i in range(5)]
    assert sum(len(t) for t in tests) == len(index)
    assert set().union(*tests) == set(range(len(index)))


def test_no_patient_in_two_splits_of_a_fold_and_validation_comes_from_the_training_folds(
    index: pd.DataFrame,
) -> None:
    folds = patient_kfold(index, 4, seed=1)
    for fold in range(4):
        split = fold_splits(index, folds, fold, validation_size=0.25, seed=1)
        patients = {
            name: set(index.loc[split == name, "patient_id"]) for name in ("train", "validation", "test")
        }
        assert not patients["train"] & patients["validation"]
        assert not patients["train"] & patients["test"]
        assert not patients["validation"] & patients["test"]
        assert (split == "test").to_numpy().tolist() == (
            folds == fold
        ).to_numpy().tolist()  # test fold untouched
        share = (split == "validation").sum() / (split != "test").sum()
        assert 0.1 < share < 0.4
        assert set(index.loc[split == "validation", "label"]) == set(CLASS_NAMES)


def test_folds_keep_each_class_share_close_to_the_overall_share(index: pd.DataFrame) -> None:
    overall = index["label"].value_counts(normalize=True)
    folds = patient_kfold(index, 5, seed=0)
    for fold in range(5):
        share = index.loc[folds == fold, "label"].value_counts(normalize=True).reindex(overall.index)
        assert (share - overall).abs().max() < 0.08, (fold, share.to_dict())
    # far closer than folds of whole patients drawn at random
    rng = np.random.default_rng(0)
    patients = index["patient_id"].unique()
    random_fold = dict(zip(patients, rng.permutation(len(patients)) % 5, strict=True))
    naive = index["patient_id"].map(random_fold)

    def worst(assignment: pd.Series) -> float:
        shares = [index.loc[assignment == f, "label"].value_counts(normalize=True) for f in range(5)]
        return max((s.reindex(overall.index, fill_value=0) - overall).abs().max() for s in shares)

    assert worst(folds) < worst(naive)


def test_every_class_is_in_every_fold_and_a_second_column_can_be_stratified(index: pd.DataFrame) -> None:
    folds = patient_kfold(index, 5, seed=2, stratify_by=("label", "chest_location"))
    for fold in range(5):
        assert set(index.loc[folds == fold, "label"]) == set(CLASS_NAMES)


def test_same_seed_same_folds_other_seed_other_folds(index: pd.DataFrame) -> None:
    first = patient_kfold(index, 5, seed=7)
    assert first.equals(patient_kfold(index, 5, seed=7))
    assert first.equals(
        patient_kfold(index.iloc[::-1], 5, seed=7).loc[index.index]
    )  # row order is irrelevant
    patients = index["patient_id"]
    groups = {seed: patient_kfold(index, 5, seed=seed).groupby(patients).first() for seed in (7, 8)}
    # the same partition of the patients up to a renaming of the folds would not count as different
    as_sets = {seed: {frozenset(g[g == f].index) for f in range(5)} for seed, g in groups.items()}
    assert as_sets[7] != as_sets[8]


@pytest.mark.parametrize(
    ("folds", "message"),
    [(1, "num_folds must be a whole number >= 2, got 1"), (2.5, "whole number"), (True, "whole number")],
)
def test_bad_fold_counts_are_refused_in_one_line(index: pd.DataFrame, folds, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        patient_kfold(index, folds)
    assert "\n" not in str(error.value)


def test_more_folds_than_patients_or_than_carriers_of_a_class_say_so() -> None:
    small = make_index(n_patients=6, seed=1)
    with pytest.raises(
        SplitError, match=r"^num_folds=7: cannot split 6 patients into 7 splits.*use fewer folds$"
    ):
        patient_kfold(small, 7)
    rare = small.copy()
    rare.loc[rare["label"] == "both", "label"] = "crackle"
    rare.loc[rare.index[:3], "label"] = "both"  # one patient carries every "both" cycle
    assert rare.loc[rare["label"] == "both", "patient_id"].nunique() == 1
    with pytest.raises(
        SplitError, match=r"^num_folds=3: only 1 patient has 'both' cycles.*use fewer folds$"
    ) as error:
        patient_kfold(rare, 3)
    assert "\n" not in str(error.value)
    assert patient_kfold(rare, 3, require_all=None).nunique() == 3


def test_fold_out_of_range_and_a_cycle_tested_twice_are_refused(index: pd.DataFrame) -> None:
    folds = patient_kfold(index, 3)
    with pytest.raises(ValueError, match=r"^fold must be a whole number in \[0, 2\], got 3$"):
        fold_splits(index, folds, 3)
    with pytest.raises(SplitError, match="folds 0 and 1"):
        check_every_cycle_tested_once([["a", "b"], ["b"]], ["a", "b"])
    with pytest.raises(SplitError, match="1 never tested"):
        check_every_cycle_tested_once([["a"], ["b"]], ["a", "b", "c"])
    check_every_cycle_tested_once([["a"], ["b", "c"]], ["c", "b", "a"])


def test_the_builder_makes_the_folds_once_and_each_fold_from_them(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    built = load_icbhi(synthetic_corpus, split_strategy="patient_kfold", num_folds=3, cache_dir=cache)
    assert sorted(built) == ["fold_0", "fold_1", "fold_2"]
    index = read_icbhi_index(synthetic_corpus)
    expected = patient_kfold(index, 3, seed=0)  # the builder's folds are patient_kfold's
    for fold in range(3):
        assert set(built[f"fold_{fold}"]["patient_id"]) == set(index.loc[expected == fold, "patient_id"])
    assert sum(len(part) for part in built.values()) == len(index)
    for fold in range(3):
        splits = load_icbhi(
            synthetic_corpus,
            split_strategy="patient_kfold",
            num_folds=3,
            fold=fold,
            validation_size=0.25,
            cache_dir=cache,
        )
        assert sorted(splits) == ["test", "train", "validation"]
        assert str(splits["test"].split) == "test"
        assert splits["test"]["recording"] == built[f"fold_{fold}"]["recording"]
        patients = {name: set(part["patient_id"]) for name, part in splits.items()}
        assert not (patients["train"] & patients["validation"]) and not (patients["test"] & patients["train"])
        assert not patients["validation"] & patients["test"]
        assert sum(len(part) for part in splits.values()) == len(index)
    with pytest.raises(
        ValueError, match="fold applies to split_strategy='patient_kfold' or 'leave_one_device_out' only"
    ):
        load_icbhi(synthetic_corpus, fold=0, cache_dir=cache)
    with pytest.raises(ValueError, match="pass fold=<i> too"):
        load_icbhi(synthetic_corpus, split_strategy="patient_kfold", validation_size=0.2, cache_dir=cache)


@pytest.mark.real_data
def test_five_folds_cover_every_real_patient_and_cycle(shared_icbhi: Path) -> None:
    folder = shared_icbhi / "ICBHI_final_database"
    stems = {p.stem for p in folder.glob("*.wav")} & {p.stem for p in folder.glob("*.txt")}
    rows = [
        (stem.split("_")[0], line.split())
        for stem in stems
        for line in (folder / f"{stem}.txt").read_text().splitlines()
        if line.strip()
    ]
    classes = {(0, 0): "normal", (1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both"}
    expected = pd.Series([classes[int(f[2]), int(f[3])] for _, f in rows]).value_counts().to_dict()
    patients = {patient for patient, _ in rows}

    with warnings.catch_warnings():  # the split file may name recordings this sample lacks
        warnings.simplefilter("ignore")
        index = read_icbhi_index(shared_icbhi)
    folds = patient_kfold(index, 5, seed=0)
    assert len(index) == len(rows)
    assert {str(p) for p in index["patient_id"]} == patients
    by_patient = index.assign(fold=folds).groupby("patient_id")["fold"].nunique()
    assert len(by_patient) == len(patients) and (by_patient == 1).all()
    counts = index.assign(fold=folds).groupby(["fold", "label"]).size().unstack(fill_value=0)
    assert counts.sum().to_dict() == expected  # every cycle in one test fold
    assert (counts > 0).all().all()  # every class in every fold
    overall = pd.Series(expected) / len(rows)
    shares = counts.div(counts.sum(axis=1), axis=0)
    assert (shares - overall).abs().max().max() < 0.15
