"""Tests for respira.data.splits: patient-wise stratified splits of a cycle index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from respira.data.corpus_files import CHEST_LOCATIONS
from respira.data.errors import SplitError
from respira.data.splits import VALIDATION, carve_validation, option_error, patient_split
from respira.models.respira.labels import CLASS_NAMES

SIXTY_TWENTY_TWENTY = {"train": 0.6, "validation": 0.2, "test": 0.2}


def make_index(n_patients: int = 40, seed: int = 1) -> pd.DataFrame:
    """A synthetic ICBHI-like index: patients with 1-6 recordings, skewed locations and labels."""
    rng = np.random.default_rng(seed)
    locations = list(CHEST_LOCATIONS)
    rows = []
    for patient in range(101, 101 + n_patients):
        class_p = rng.dirichlet(np.full(len(CLASS_NAMES), 0.7))
        location_p = rng.dirichlet(np.full(len(locations), 0.5))
        device = ("AKGC417L", "Meditron", "LittC2SE")[patient % 3]
        for recording in range(int(rng.integers(1, 7))):
            location = locations[rng.choice(len(locations), p=location_p)]
            for _ in range(int(rng.integers(3, 25))):
                rows.append(
                    {
                        "recording": f"{patient}_{recording + 1}b1_{location}_sc_{device}",
                        "patient_id": patient,
                        "chest_location": location,
                        "device": device,
                        "label": CLASS_NAMES[rng.choice(len(CLASS_NAMES), p=class_p)],
                        "official_split": None,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def index() -> pd.DataFrame:
    frame = make_index()
    # Every class must be carried by enough patients for the require_all tests to be meaningful.
    assert (frame.groupby("label")["patient_id"].nunique() >= 5).all()
    return frame


def patients_by_split(index: pd.DataFrame, split: pd.Series) -> dict[str, set[int]]:
    return {name: set(index.loc[split == name, "patient_id"]) for name in split.unique()}


def mean_tvd(index: pd.DataFrame, split: pd.Series, column: str) -> float:
    """Mean over splits of the total variation distance between split and overall distribution."""
    overall = index[column].value_counts(normalize=True)
    distances = []
    for name in split.unique():
        part = index.loc[split == name, column].value_counts(normalize=True)
        distances.append(0.5 * (part.reindex(overall.index, fill_value=0.0) - overall).abs().sum())
    return float(np.mean(distances))


def naive_group_split(index: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Baseline: shuffle patients, then cut the cycle-weighted cumulative sum at the fractions."""
    rng = np.random.default_rng(seed)
    sizes = index["patient_id"].value_counts()
    patients = rng.permutation(sizes.index.to_numpy())
    midpoints = (np.cumsum(sizes[patients].to_numpy()) - sizes[patients].to_numpy() / 2) / len(index)
    cut = np.searchsorted(np.cumsum(list(fractions.values())), midpoints)
    names = np.array(list(fractions))[np.minimum(cut, len(fractions) - 1)]
    return index["patient_id"].map(dict(zip(patients, names, strict=True)))


# --- patient_split -----------------------------------------------------------------------------


def test_split_is_patient_disjoint_complete_and_sized(index: pd.DataFrame) -> None:
    split = patient_split(index, SIXTY_TWENTY_TWENTY, seed=0, stratify_by="chest_location")

    assert split.index.equals(index.index)
    assert split.notna().all()
    assert set(split) == set(SIXTY_TWENTY_TWENTY)
    assert (split.groupby(index["patient_id"]).nunique() == 1).all()
    groups = patients_by_split(index, split)
    assert sum(len(patients) for patients in groups.values()) == index["patient_id"].nunique()
    proportions = split.value_counts(normalize=True)
    for name, fraction in SIXTY_TWENTY_TWENTY.items():
        assert proportions[name] == pytest.approx(fraction, abs=0.04), (name, proportions.to_dict())


def test_split_keeps_input_index_labels() -> None:
    frame = make_index(12, seed=5)
    frame.index = pd.RangeIndex(1000, 1000 + 2 * len(frame), 2)
    split = patient_split(frame, {"a": 0.5, "b": 0.5}, require_all=None)
    assert split.index.equals(frame.index)
    assert (split.groupby(frame["patient_id"]).nunique() == 1).all()


def test_stratification_beats_naive_group_assignment(index: pd.DataFrame) -> None:
    naive = [
        mean_tvd(index, naive_group_split(index, SIXTY_TWENTY_TWENTY, seed), "chest_location")
        for seed in range(15)
    ]
    for seed in range(3):
        split = patient_split(index, SIXTY_TWENTY_TWENTY, seed=seed, stratify_by="chest_location")
        assert mean_tvd(index, split, "chest_location") < 0.75 * np.median(naive)


def test_stratifying_by_label_balances_labels(index: pd.DataFrame) -> None:
    by_label = patient_split(index, SIXTY_TWENTY_TWENTY, seed=0, stratify_by="label")
    by_location = patient_split(index, SIXTY_TWENTY_TWENTY, seed=0, stratify_by="chest_location")
    assert mean_tvd(index, by_label, "label") < mean_tvd(index, by_location, "label")
    assert mean_tvd(index, by_location, "chest_location") < mean_tvd(index, by_label, "chest_location")


def test_combined_stratification_key(index: pd.DataFrame) -> None:
    split = patient_split(index, SIXTY_TWENTY_TWENTY, seed=0, stratify_by=["label", "chest_location"])
    assert (split.groupby(index["patient_id"]).nunique() == 1).all()
    naive = np.median(
        [mean_tvd(index, naive_group_split(index, SIXTY_TWENTY_TWENTY, s), "label") for s in range(15)]
    )
    assert mean_tvd(index, split, "label") < naive


def test_every_class_in_every_split(index: pd.DataFrame) -> None:
    for seed in range(5):
        split = patient_split(index, SIXTY_TWENTY_TWENTY, seed=seed, stratify_by="chest_location")
        for name in SIXTY_TWENTY_TWENTY:
            assert set(index.loc[split == name, "label"]) == set(CLASS_NAMES), (seed, name)


def test_single_patient_with_a_class_cannot_be_split() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
            "label": ["normal", "both"]
            + ["normal", "crackle", "wheeze", "normal"] * 2
            + ["crackle", "wheeze"],
            "chest_location": ["Al", "Ar"] * 6,
        }
    )
    with pytest.raises(SplitError, match=r"only 1 patient has 'both'"):
        patient_split(frame, SIXTY_TWENTY_TWENTY)
    # Without the requirement the same index splits fine.
    split = patient_split(frame, SIXTY_TWENTY_TWENTY, require_all=None)
    assert set(split) == set(SIXTY_TWENTY_TWENTY)


def test_unreachable_requirement_reports_split_and_value() -> None:
    # Both 'x'-carrying patients are far larger than the 2% split, so the greedy never puts one there.
    frame = pd.DataFrame(
        {
            "patient_id": [1] * 100 + [2] * 100 + list(range(3, 9)),
            "label": ["y"] * 99 + ["x"] + ["y"] * 99 + ["x"] + ["y"] * 6,
            "chest_location": "Tc",
        }
    )
    with pytest.raises(SplitError, match=r"split 'small' lacks 'x' \(2 patients in all") as caught:
        patient_split(frame, {"big": 0.98, "small": 0.02})
    assert str(caught.value).endswith("; try another seed, or require_all=None")
    worded = str(option_error(caught.value, "option=1", "change it"))  # what a builder says instead
    assert worded.startswith("option=1: no assignment puts") and worded.endswith("); change it")


def test_require_all_changes_the_outcome_when_needed() -> None:
    # Two patients carry 'x'; without the requirement some orderings put both on one side.
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 30, size=10)
    frame = pd.DataFrame(
        {"patient_id": np.repeat(np.arange(10), sizes), "label": "z", "chest_location": "Tc"}
    )
    frame.loc[frame["patient_id"].isin([0, 7]), "label"] = "x"

    def x_sides(split: pd.Series) -> int:
        return split[frame["label"] == "x"].nunique()

    fractions = {"a": 0.5, "b": 0.5}
    unconstrained = [
        x_sides(patient_split(frame, fractions, seed=seed, stratify_by="chest_location", require_all=None))
        for seed in range(20)
    ]
    assert 1 in unconstrained, "test setup: some seed should put both 'x' patients together"
    for seed in range(20):
        split = patient_split(frame, fractions, seed=seed, stratify_by="chest_location", require_all="label")
        assert x_sides(split) == 2, seed


def test_same_seed_same_split_and_different_seeds_differ(index: pd.DataFrame) -> None:
    first = patient_split(index, SIXTY_TWENTY_TWENTY, seed=7, stratify_by="chest_location")
    again = patient_split(index, SIXTY_TWENTY_TWENTY, seed=7, stratify_by="chest_location")
    pd.testing.assert_series_equal(first, again)
    others = [
        patient_split(index, SIXTY_TWENTY_TWENTY, seed=seed, stratify_by="chest_location")
        for seed in range(4)
    ]
    assert len({tuple(split) for split in [first, *others]}) >= 3


def test_seed_matters_without_ties() -> None:
    # All patients differ in size, so the seed must act beyond tie-breaking.
    rng = np.random.default_rng(3)
    sizes = np.arange(10, 40)
    frame = pd.DataFrame(
        {
            "patient_id": np.repeat(np.arange(len(sizes)), sizes),
            "label": rng.choice(CLASS_NAMES, size=sizes.sum()),
            "chest_location": "Tc",
        }
    )
    splits = {tuple(patient_split(frame, SIXTY_TWENTY_TWENTY, seed=seed)) for seed in range(4)}
    assert len(splits) >= 2


def test_result_does_not_depend_on_row_order(index: pd.DataFrame) -> None:
    shuffled = index.sample(frac=1.0, random_state=3)
    split = patient_split(index, SIXTY_TWENTY_TWENTY, seed=2, stratify_by="chest_location")
    split_shuffled = patient_split(shuffled, SIXTY_TWENTY_TWENTY, seed=2, stratify_by="chest_location")
    pd.testing.assert_series_equal(split, split_shuffled.reindex(index.index))


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ({"train": 0.6, "validation": 0.2, "test": 0.3}, r"sum to 1, got 1\.1"),
        ({"train": 0.5, "validation": 0.3}, r"sum to 1, got 0\.8"),
        ({"train": 1.2, "test": -0.2}, r"'test'.*-0\.2"),
        ({"train": 1.0, "test": 0.0}, r"'test'.*0\.0"),
        ({"train": float("nan"), "test": 0.5}, r"'train'.*nan"),
        ({"train": True, "test": 0.5}, r"'train'.*True"),
        ({}, r"at least one split"),
    ],
)
def test_bad_fractions_raise_value_error(index: pd.DataFrame, fractions: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        patient_split(index, fractions)


def test_fractions_within_tolerance_are_accepted(index: pd.DataFrame) -> None:
    split = patient_split(index, {"a": 0.3333333, "b": 0.3333333, "c": 0.3333333}, require_all=None)
    assert set(split) == {"a", "b", "c"}


def test_fewer_patients_than_splits() -> None:
    frame = pd.DataFrame({"patient_id": [1, 1, 2], "label": ["normal"] * 3, "chest_location": "Al"})
    with pytest.raises(SplitError, match=r"2 patients into 3 splits"):
        patient_split(frame, SIXTY_TWENTY_TWENTY)


def test_no_split_is_left_empty() -> None:
    # By size alone the 40-cycle patient belongs with the 50-cycle one (targets 90/5/5 cycles),
    # which would leave a split empty.
    frame = pd.DataFrame(
        {"patient_id": [1] * 50 + [2] * 40 + [3] * 10, "label": "normal", "chest_location": "Al"}
    )
    for seed in range(5):
        split = patient_split(frame, {"a": 0.9, "b": 0.05, "c": 0.05}, seed=seed)
        assert split.groupby(frame["patient_id"]).first().nunique() == 3, seed


def test_a_missing_patient_raises(index: pd.DataFrame) -> None:
    broken = index.astype({"patient_id": float})
    broken.loc[broken.index[0], "patient_id"] = np.nan
    with pytest.raises(ValueError, match=r"missing values"):
        patient_split(broken, SIXTY_TWENTY_TWENTY)


# --- carve_validation --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def official(index: pd.DataFrame) -> pd.DataFrame:
    """The synthetic index with an 'official' split: last 12 patients test, patient 101 on both sides."""
    frame = index.copy()
    patients = sorted(frame["patient_id"].unique())
    frame["split"] = np.where(frame["patient_id"].isin(patients[-12:]), "test", "train")
    shared = frame.index[frame["patient_id"] == patients[0]]
    frame.loc[shared[: len(shared) // 2], "split"] = "test"
    return frame


def test_carve_validation_moves_whole_patients_and_keeps_test(official: pd.DataFrame) -> None:
    carved = carve_validation(official, 0.2, seed=0)
    before, after = official["split"], carved["split"]

    assert carved is not official
    assert (official["split"] == before).all()  # input untouched
    assert carved.drop(columns="split").equals(official.drop(columns="split"))
    assert set(after) == {"train", "validation", "test"}
    # Only train rows change, and only to validation.
    assert (after[before == "test"] == "test").all()
    assert set(after[before == "train"]) == {"train", VALIDATION}
    # No validation patient keeps a train row.
    validation_patients = set(carved.loc[after == VALIDATION, "patient_id"])
    train_patients = set(carved.loc[after == "train", "patient_id"])
    assert validation_patients
    assert not validation_patients & train_patients
    # Size: close to 20% of the former train cycles.
    share = (after == VALIDATION).sum() / (before == "train").sum()
    assert share == pytest.approx(0.2, abs=0.04)
    # Every class on both sides.
    for name in ("train", VALIDATION):
        assert set(carved.loc[after == name, "label"]) == set(CLASS_NAMES), name


def test_carve_validation_keeps_test_rows_of_a_shared_patient(official: pd.DataFrame) -> None:
    shared = int(official["patient_id"].min())
    shared_rows = official["patient_id"] == shared
    assert set(official.loc[shared_rows, "split"]) == {"train", "test"}
    moved_somewhere = False
    for seed in range(12):
        carved = carve_validation(official, 0.25, seed=seed)
        assert (carved.loc[shared_rows & (official["split"] == "test"), "split"] == "test").all()
        pool_sides = set(carved.loc[shared_rows & (official["split"] == "train"), "split"])
        assert len(pool_sides) == 1  # moved whole or kept whole
        moved_somewhere |= pool_sides == {VALIDATION}
    assert moved_somewhere, "the shared patient should be chosen for validation by some seed"


def test_carve_validation_is_deterministic_and_stratified(official: pd.DataFrame) -> None:
    first = carve_validation(official, 0.2, seed=4)
    pd.testing.assert_frame_equal(first, carve_validation(official, 0.2, seed=4))
    pool = official.loc[official["split"] == "train"]
    carved_pool = first.loc[pool.index, "split"]
    naive = np.median(
        [
            mean_tvd(pool, naive_group_split(pool, {"train": 0.8, VALIDATION: 0.2}, seed), "label")
            for seed in range(15)
        ]
    )
    assert mean_tvd(pool, carved_pool, "label") < naive


def test_carve_validation_with_repeated_index_labels(official: pd.DataFrame) -> None:
    frame = official.reset_index(drop=True)
    frame.index = frame.index // 2  # every label twice
    carved = carve_validation(frame, 0.2, seed=0)
    before, after = frame["split"].to_numpy(), carved["split"].to_numpy()
    assert (after[before == "test"] == "test").all()
    validation_patients = set(frame["patient_id"].to_numpy()[after == VALIDATION])
    assert validation_patients
    assert not validation_patients & set(frame["patient_id"].to_numpy()[after == "train"])


@pytest.mark.parametrize("size", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_carve_validation_rejects_bad_sizes(official: pd.DataFrame, size: float) -> None:
    with pytest.raises(ValueError, match=r"validation_size"):
        carve_validation(official, size)
