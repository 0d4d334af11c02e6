"""Tests for leave-one-device-out folds (respira.data.folds.device_folds and the builder's strategy)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from respira.data import load_icbhi, read_icbhi_index
from respira.data.errors import SplitError
from respira.data.folds import check_every_cycle_tested_once, device_folds, fold_splits

from .test_splits import make_index


@pytest.fixture(scope="module")
def index() -> pd.DataFrame:
    frame = make_index(n_patients=30, seed=5)
    # patient 101 also recorded on Meditron: the one who could leak between train and test
    extra = frame[frame["patient_id"] == 101].head(5).assign(device="Meditron")
    extra["recording"] = extra["recording"].str.replace("_sc_", "_xx_") + "_extra"
    return pd.concat([frame, extra], ignore_index=True)


def test_each_fold_tests_exactly_one_device_and_every_cycle_once(index: pd.DataFrame) -> None:
    folds, devices = device_folds(index)
    assert devices == sorted(index["device"].unique())
    for fold, device in enumerate(devices):
        assert (index.loc[folds == fold, "device"] == device).all()
        assert (folds[index["device"] == device] == fold).all()
    tests = [np.flatnonzero(fold_splits(index, folds, i).to_numpy() == "test") for i in range(len(devices))]
    check_every_cycle_tested_once([list(t) for t in tests], list(range(len(index))))


def test_a_patient_of_the_held_out_device_never_trains_in_that_fold(index: pd.DataFrame) -> None:
    folds, devices = device_folds(index)
    for fold in range(len(devices)):
        split = fold_splits(index, folds, fold, validation_size=0.2, seed=0)
        tested = set(index.loc[split == "test", "patient_id"])
        for name in ("train", "validation"):
            assert not tested & set(index.loc[split == name, "patient_id"])
        dropped = index[split == "dropped"]
        # exactly the other-device rows of test patients are dropped, nothing else
        expected = index["patient_id"].isin(tested) & (folds != fold)
        assert (split == "dropped").to_numpy().tolist() == expected.to_numpy().tolist()
        if devices[fold] == "Meditron":
            assert set(dropped["patient_id"]) == {101} and len(dropped) > 0
        if devices[fold] == "LittC2SE":  # 101 (101 % 3 == 2 -> LittC2SE) trains nowhere else either
            assert set(dropped["patient_id"]) == {101}


def test_impossible_device_folds_are_one_line(index: pd.DataFrame) -> None:
    with pytest.raises(SplitError, match=r"at least 2 devices, this corpus has 1 \(AKGC417L\)"):
        device_folds(index.assign(device="AKGC417L"))
    everywhere = index.copy()  # every patient also on Litt3200: nothing to train on without them
    first = everywhere.groupby("patient_id").head(1).assign(device="Litt3200")
    with pytest.raises(SplitError, match="every patient of the corpus recorded on Litt3200"):
        device_folds(pd.concat([everywhere, first], ignore_index=True))


def test_the_builder_holds_out_each_device(synthetic_corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    index = read_icbhi_index(synthetic_corpus)
    devices = sorted(index["device"].unique())
    built = load_icbhi(synthetic_corpus, split_strategy="leave_one_device_out", cache_dir=cache)
    assert sorted(built) == [f"fold_{i}" for i in range(len(devices))]
    for fold, device in enumerate(devices):
        assert set(built[f"fold_{fold}"]["device"]) == {device}
        assert len(built[f"fold_{fold}"]) == int((index["device"] == device).sum())
    device = devices[1]
    splits = load_icbhi(
        synthetic_corpus,
        split_strategy="leave_one_device_out",
        held_out_device=device,
        validation_size=0.25,
        cache_dir=cache,
    )
    assert set(splits["test"]["device"]) == {device}
    assert device not in set(splits["train"]["device"]) | set(splits["validation"]["device"])
    assert not set(splits["test"]["patient_id"]) & set(splits["train"]["patient_id"])
    same = load_icbhi(
        synthetic_corpus, split_strategy="leave_one_device_out", fold=1, validation_size=0.25, cache_dir=cache
    )
    assert same["test"]["recording"] == splits["test"]["recording"]
    with pytest.raises(ValueError, match=r"held_out_device='Nope' is not a device of .* \(AKGC417L, "):
        load_icbhi(
            synthetic_corpus, split_strategy="leave_one_device_out", held_out_device="Nope", cache_dir=cache
        )
    with pytest.raises(ValueError, match="held_out_device applies to split_strategy='leave_one_device_out'"):
        load_icbhi(synthetic_corpus, held_out_device=device, cache_dir=cache)


@pytest.mark.real_data
def test_real_sample_device_folds_match_the_files(shared_icbhi: Path) -> None:
    folder = shared_icbhi / "ICBHI_final_database"
    stems = {p.stem for p in folder.glob("*.wav")} & {p.stem for p in folder.glob("*.txt")}
    cycles = {
        stem: sum(1 for line in (folder / f"{stem}.txt").read_text().splitlines() if line.strip())
        for stem in stems
    }
    per_device: dict[str, int] = {}
    devices_of: dict[str, set[str]] = {}
    for stem, n in cycles.items():
        patient, device = stem.split("_")[0], stem.split("_")[-1]
        per_device[device] = per_device.get(device, 0) + n
        devices_of.setdefault(patient, set()).add(device)
    with warnings.catch_warnings():  # the split file names recordings this sample lacks
        warnings.simplefilter("ignore")
        index = read_icbhi_index(shared_icbhi)
    folds, devices = device_folds(index)
    assert devices == sorted(per_device)
    for fold, device in enumerate(devices):
        split = fold_splits(index, folds, fold, validation_size=0.2, seed=0)
        assert int((split == "test").sum()) == per_device[device]
        expected_dropped = sum(
            n
            for stem, n in cycles.items()
            if device in devices_of[stem.split("_")[0]] and not stem.endswith(device)
        )
        assert int((split == "dropped").sum()) == expected_dropped
        assert not set(index.loc[split == "test", "patient_id"]) & set(
            index.loc[split == "train", "patient_id"]
        )
