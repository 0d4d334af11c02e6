"""The transfer protocols of studies/real_data.py (studies/_protocols.py): the folds its baselines are
scored on are the ones ``respira train`` builds, each leave-one-device-out fold tests exactly one device,
KAUH runs are read per recording, and methods are paired by fold x seed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from transformers import HfArgumentParser

from respira.data import read_icbhi_index
from respira.training.recipe.recipe import DataArguments
from respira.training.splits.datasets import data_record, load_splits

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _protocols as protocols

RATE, LOWPASS = 16_000, 4000.0


def recipe_record(corpus: Path, protocol: str, folds: int):
    """The DataRecord ``respira train`` builds from the options the study passes it."""
    (data,) = HfArgumentParser(DataArguments).parse_args_into_dataclasses(
        [
            "--data_dir",
            str(corpus),
            *protocols.train_options(protocol, folds),
            "--lowpass_cutoff",
            str(LOWPASS),
        ],
        look_for_args_file=False,
    )
    return data_record(data, RATE)


@pytest.mark.parametrize("protocol", protocols.PROTOCOLS)
def test_the_baselines_split_as_respira_train_does(synthetic_corpus: Path, protocol: str) -> None:
    ours = protocols.protocol_record(synthetic_corpus, protocol, 3, 0, rate=RATE, lowpass=LOWPASS)
    theirs = recipe_record(synthetic_corpus, protocol, 3)
    fields = ("split_strategy", "validation_size", "patient_split_fractions", "stratify_by", "fold_devices")
    for field in (*fields, "lowpass_cutoff", "split_seed"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.num_folds == theirs.num_folds


def test_each_leave_one_device_out_fold_tests_exactly_one_device(synthetic_corpus: Path) -> None:
    index = read_icbhi_index(synthetic_corpus)
    devices = sorted(index["device"].unique())
    count = protocols.fold_count(synthetic_corpus, "leave_one_device_out", 5)
    assert count == len(devices) >= 2
    tested = []
    for fold in range(count):
        record = protocols.protocol_record(
            synthetic_corpus, "leave_one_device_out", 5, fold, rate=RATE, lowpass=None
        )
        splits = load_splits(record)
        assert set(splits["test"]["device"]) == {devices[fold]}
        assert len(splits["test"]) == int((index["device"] == devices[fold]).sum())
        patients = set(splits["test"]["patient_id"])
        for name in ("train", "validation"):
            assert devices[fold] not in set(splits[name]["device"])
            assert not patients & set(splits[name]["patient_id"])
        tested.append(devices[fold])
    assert tested == devices


def test_icbhi_to_kauh_trains_on_every_icbhi_cycle(synthetic_corpus: Path) -> None:
    assert protocols.fold_count(synthetic_corpus, "icbhi_to_kauh", 5) == 1
    splits = load_splits(
        protocols.protocol_record(synthetic_corpus, "icbhi_to_kauh", 5, 0, rate=RATE, lowpass=None)
    )
    assert sorted(splits) == ["train", "validation"]  # no ICBHI test: KAUH is the test
    assert len(splits["train"]) + len(splits["validation"]) == len(read_icbhi_index(synthetic_corpus))


def kauh_files(tmp_path: Path, decisions: list[tuple[int, int]]) -> tuple[dict, Path]:
    """A recording_predictions.csv of 6 recordings (3 patients x 2) as ``respira evaluate --dataset kauh``
    writes it, and its metrics.json's overall scores."""
    targets = [(1, 0, 0), (0, 0, 1), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 0, 1)]
    rows = []
    for i, ((crackle, wheeze, normal), (c, w)) in enumerate(zip(targets, decisions, strict=True)):
        labels = {"crackle": crackle, "wheeze": wheeze, "normal": normal}
        decided = {"predicted_crackle": c, "predicted_wheeze": w, "predicted_normal": int(c + w == 0)}
        where = {"recording": f"BP{i}", "patient_id": f"p{i // 2}", "filter_mode": "bell"}
        rows.append(where | labels | {"p_crackle": 0.9 * c, "p_wheeze": 0.9 * w} | decided | {"windows": 3})
    path = tmp_path / f"predictions_{len(list(tmp_path.iterdir()))}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    overall = {"icbhi": {"icbhi_score": 0.5, "specificity": 1.0, "sensitivity": 0.0},
               "crackle": {"auc": 0.5}, "wheeze": {"auc": None}}  # fmt: skip
    return {"groups": {"overall": overall}}, path


def test_kauh_runs_are_read_per_recording_and_paired_by_patient(tmp_path: Path) -> None:
    perfect = [(1, 0), (0, 0), (0, 1), (0, 0), (1, 1), (0, 0)]
    metrics, path = kauh_files(tmp_path, perfect)
    run = protocols.kauh_run(metrics, path, seed=2)
    assert run["seed"] == 2 and run["fold"] == 0 and np.isnan(run["auc_wheeze"])
    assert run["recordings"]["recording"] == [f"BP{i}" for i in range(6)]  # one entry per recording
    assert run["recordings"]["patient_id"] == ["p0", "p0", "p1", "p1", "p2", "p2"]
    assert run["recordings"]["decisions"] == [list(d) for d in perfect]
    # the same decisions: a difference of exactly 0 in every bootstrap sample
    assert protocols.kauh_paired_bootstrap(run, run, resamples=50) == [0.0, 0.0]
    # all-normal decisions: Sp 1, Se 0 → 0.5, against the perfect run's 1.0 on every resample of patients
    normal = protocols.kauh_run(*kauh_files(tmp_path, [(0, 0)] * 6), seed=2)
    assert protocols.kauh_paired_bootstrap(normal, run, resamples=50) == [-0.5, -0.5]


def test_methods_are_paired_by_fold_and_seed_and_baselines_by_fold() -> None:
    method = [
        {"fold": f, "seed": s, "icbhi_score": 0.5 + 0.1 * f + 0.01 * s} for f in range(3) for s in range(2)
    ]
    other = [
        {"fold": f, "seed": s, "icbhi_score": 0.5 + 0.1 * f} for f in range(3) for s in (1, 0)
    ]  # other order
    difference = protocols.paired_difference(method, other)
    assert difference["n"] == 6 and difference["mean"] == pytest.approx(0.005)
    assert difference["wins"] == 3  # seed 1 is better on every fold, seed 0 ties
    baseline = [
        {"fold": f, "icbhi_score": 0.5} for f in range(3)
    ]  # no seed: pairs with every seed of its fold
    against = protocols.paired_difference(method, baseline)
    assert against["n"] == 6 and against["mean"] == pytest.approx(0.105)
    low, high = against["ci95"]
    assert low < 0.105 < high


def test_seeds_are_cached_per_seed_and_merged_with_their_own_timings() -> None:
    def runs(seed: int, scores: list[float]) -> list[dict]:
        return [{"fold": f, "seed": seed, "icbhi_score": s} for f, s in enumerate(scores)]

    # a result cached before seeds were kept apart: one seed, its totals at the top level
    cached = protocols.summarise(runs(0, [0.4, 0.6])) | {"seconds": 100.0, "out_of_fold_icbhi_score": 0.5}
    assert protocols.missing_seeds(cached, [0, 1, 2]) == [1, 2]
    assert protocols.missing_seeds(None, [2, 0]) == [2, 0]
    merged = protocols.merge_seed(cached, runs(1, [0.6, 0.8]), seconds=50.0, out_of_fold=0.7)
    assert [(r["seed"], r["fold"]) for r in merged["per_fold"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert merged["icbhi_score_mean"] == pytest.approx(0.6)
    assert merged["seconds_per_seed"] == {"0": 100.0, "1": 50.0} and merged["seconds"] == 150.0
    assert merged["out_of_fold_per_seed"] == {"0": 0.5, "1": 0.7}
    assert merged["out_of_fold_icbhi_score"] == pytest.approx(0.6)
    assert protocols.missing_seeds(merged, [0, 1, 2]) == [2]
    # a seed run again replaces its runs and timing, never another seed's
    again = protocols.merge_seed(merged, runs(0, [0.2, 0.2]), seconds=10.0, out_of_fold=0.2)
    assert [r["icbhi_score"] for r in again["per_fold"]] == [0.2, 0.2, 0.6, 0.8]
    assert again["seconds_per_seed"] == {"0": 10.0, "1": 50.0}
    with pytest.raises(ValueError, match="one seed"):
        protocols.merge_seed(None, [*runs(0, [0.5]), *runs(1, [0.5])], seconds=1.0, out_of_fold=0.5)


def _score_by_hand(flags: np.ndarray, decided: np.ndarray) -> float:
    """The ICBHI score from flags: Sp on normal cycles (both flags 0), Se = exact class on the others."""
    normal = flags.sum(axis=1) == 0
    exact = (decided == flags).all(axis=1)
    return (exact[normal].mean() + exact[~normal].mean()) / 2


def test_the_decision_ceiling_is_the_best_score_over_every_pair_of_thresholds() -> None:
    flags = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    separable = np.array([[0.1, 0.1], [0.9, 0.2], [0.2, 0.8], [0.9, 0.9]])
    assert protocols.decision_ceiling(flags, separable) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    flags = rng.integers(0, 2, size=(40, 2))
    probabilities = np.clip(0.3 * flags + rng.uniform(0, 0.7, size=(40, 2)), 0, 1)
    probabilities[:, 0] = 1 - probabilities[:, 0]  # crackles ranked backwards: calling none may be best
    candidates = [np.r_[np.unique(probabilities[:, i]), 1.01] for i in range(2)]
    best = max(
        _score_by_hand(flags, (probabilities >= [c, w]).astype(int))
        for c in candidates[0]
        for w in candidates[1]
    )
    assert protocols.decision_ceiling(flags, probabilities) == pytest.approx(best)


def test_ceilings_are_read_per_fold_and_seed_from_the_out_of_fold_predictions(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "fold": [0, 0, 1, 1],
            "seed": 0,
            "label": ["normal", "crackle", "normal", "wheeze"],
            "crackle": [0.2, 0.7, 0.9, 0.1],  # fold 1: the normal cycle has the higher crackle score
            "wheeze": [0.1, 0.1, 0.3, 0.6],
        }
    )
    (tmp_path / "seed_0").mkdir()
    rows.to_csv(tmp_path / "seed_0" / "out_of_fold_predictions.csv", index=False)
    result = {"per_fold": [{"fold": 0, "seed": 0}, {"fold": 1, "seed": 0}, {"fold": 0, "seed": 1}]}
    ceilings = protocols.ceiling_runs("leave_one_device_out", result, tmp_path)
    assert [(c["fold"], c["seed"]) for c in ceilings] == [(0, 0), (1, 0)]  # seed 1 has no predictions
    assert [c["icbhi_score"] for c in ceilings] == pytest.approx([1.0, 1.0])  # fold 1: wheeze separates
    kauh = {
        "per_fold": [
            {
                "fold": 0,
                "seed": 0,
                "recordings": {"targets": [[0, 0, 1], [1, 0, 0]], "probabilities": [[0.6, 0.2], [0.4, 0.1]]},
            }
        ]
    }
    (ceiling,) = protocols.ceiling_runs("icbhi_to_kauh", kauh, tmp_path / "absent")
    assert ceiling["icbhi_score"] == pytest.approx(0.5)  # crackles ranked backwards: at best all normal
