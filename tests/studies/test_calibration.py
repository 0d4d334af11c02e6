"""Thresholds re-tuned on a labelled sample (studies/_calibration.py, what the studies of leave-one-site-out
and site adaptation measure with): the score, the held-out learning curve, each patient decided at
thresholds tuned on the others, the check against all-normal."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from respira.metrics.thresholds import choose_thresholds

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
from _calibration import (
    LabelledSample,
    check_sample,
    cross_validated,
    decision_ceiling,
    largest_scored_point,
    learning_curve,
    retuning_wins,
    sample_score,
    written_below_baseline,
)


def shifted_sample(patients: int = 5) -> LabelledSample:
    """Every patient has 2 normal and 2 crackle cycles; the model's crackle posteriors are 0.4 on crackles
    and 0.1 elsewhere, so at 0.5 it calls everything normal (score 0.5) and any threshold in (0.1, 0.4]
    is perfect (score 1)."""
    targets = np.tile([[0, 0], [0, 0], [1, 0], [1, 0]], (patients, 1))
    probabilities = np.where(targets == 1, 0.4, 0.1).astype(float)
    return LabelledSample(probabilities, targets, np.repeat(np.arange(patients), 4), "cycle")


def test_the_score_is_the_icbhi_score_of_the_decided_classes():
    targets = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    probabilities = np.array([[0.2, 0.2], [0.9, 0.1], [0.9, 0.9], [0.9, 0.9]])
    # normal right (Sp 1); crackle right, wheeze called both (a miss), both right: Se 2/3
    assert sample_score(targets, probabilities, [0.5, 0.5]) == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(sample_score(targets[:1], probabilities[:1], [0.5, 0.5]))  # no abnormal cycle


def test_the_learning_curve_scores_held_out_patients_with_thresholds_tuned_on_the_others():
    sample = shifted_sample()
    curve = learning_curve(sample, [0.5, 0.5], repeats=3)
    assert [row["patients"] for row in curve] == [1, 2, 3, 4]
    for row in curve:
        assert row["calibrated_mean"] == pytest.approx(1.0)
        assert row["model_mean"] == pytest.approx(0.5)
        assert row["calibrated_subsets"] == 3


def overfitting_sample() -> LabelledSample:
    """3 patients, each with one normal and one crackle cycle, whose crackle posteriors sit at another level
    in each patient: on the whole sample a crackle threshold of 0.35 scores 0.67 (Se 2/3, Sp 2/3), but a
    threshold tuned on two patients decides the third wrong, while the model's 0.5 calls every cycle
    normal (score 0.5)."""
    targets = np.tile([[0, 0], [1, 0]], (3, 1))
    crackle = np.array([0.1, 0.35, 0.3, 0.45, 0.4, 0.2])
    probabilities = np.column_stack([crackle, np.zeros(6)])
    return LabelledSample(probabilities, targets, np.repeat(np.arange(3), 2), "cycle")


def test_cross_validation_decides_each_patient_at_thresholds_tuned_on_the_others():
    held_out = cross_validated(shifted_sample(), [0.5, 0.5])
    assert held_out == pytest.approx({"calibrated": 1.0, "model": 0.5})  # every patient alike: perfect
    sample = overfitting_sample()
    manual = []
    for patient in range(3):
        own = sample.patients == patient
        tuned = choose_thresholds(sample.targets[~own], sample.probabilities[~own], fallback=[0.5, 0.5])
        manual.append((sample.probabilities[own, 0] >= tuned.thresholds[0]).astype(int))
    predicted = np.concatenate(manual)  # crackle flags; wheeze never
    specificity = np.mean(predicted[sample.targets[:, 0] == 0] == 0)
    sensitivity = np.mean(predicted[sample.targets[:, 0] == 1] == 1)
    assert cross_validated(sample, [0.5, 0.5])["calibrated"] == pytest.approx((specificity + sensitivity) / 2)
    assert cross_validated(sample, [0.5, 0.5])["calibrated"] < 0.5


def test_the_reported_held_out_point_is_the_largest_with_a_defined_score():
    nan = float("nan")
    curve = [
        {"patients": 1, "calibrated_mean": 0.6, "model_mean": 0.5},
        {"patients": 2, "calibrated_mean": 0.7, "model_mean": 0.5},
        {"patients": 3, "calibrated_mean": nan, "model_mean": nan},  # the one patient left: one class only
    ]
    assert largest_scored_point(curve)["patients"] == 2
    assert largest_scored_point(curve[2:]) is None and largest_scored_point([]) is None


def test_the_sample_check_says_what_is_missing_in_one_line():
    with pytest.raises(ValueError, match=r"at least 2 patients .* this sample has 1"):
        check_sample(shifted_sample(1).targets, shifted_sample(1).patients, "cycle")
    sample = shifted_sample()
    for keep, counts in (
        (sample.targets[:, 0] == 1, "0 normal and 10 abnormal"),
        (sample.targets[:, 0] == 0, "10 normal and 0 abnormal"),
    ):
        with pytest.raises(
            ValueError, match=f"^calibration needs both normal and abnormal .* cycles: .* {counts}$"
        ):
            check_sample(sample.targets[keep], sample.patients[keep], "cycle")


def test_thresholds_that_lose_out_of_sample_are_flagged_below_all_normal():
    # overfitting_sample: the model's 0.5 calls every cycle normal (0.5, a tie with all-normal) and the
    # re-tuned thresholds score below 0.5 with each patient left out: whichever is written is flagged
    sample = overfitting_sample()
    held_out = cross_validated(sample, [0.5, 0.5])
    assert not retuning_wins(held_out)
    kept = written_below_baseline(sample, held_out, applied=False)
    assert (kept.key, kept.value, kept.baseline) == ("cross_validated.model", 0.5, "all-normal")
    forced = written_below_baseline(sample, held_out, applied=True)
    assert forced.key == "cross_validated.calibrated" and forced.value == held_out["calibrated"] < 0.5
    shifted = shifted_sample()
    assert retuning_wins(cross_validated(shifted, [0.5, 0.5]))
    assert written_below_baseline(shifted, cross_validated(shifted, [0.5, 0.5]), applied=True) is None


def _score_by_hand(flags: np.ndarray, decided: np.ndarray) -> float:
    """The ICBHI score from flags: Sp on normal cycles (both flags 0), Se = exact class on the others."""
    normal = flags.sum(axis=1) == 0
    exact = (decided == flags).all(axis=1)
    return (exact[normal].mean() + exact[~normal].mean()) / 2


def test_the_decision_ceiling_is_the_best_score_over_every_pair_of_thresholds() -> None:
    flags = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    separable = np.array([[0.1, 0.1], [0.9, 0.2], [0.2, 0.8], [0.9, 0.9]])
    assert decision_ceiling(flags, separable) == pytest.approx(1.0)
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
    assert decision_ceiling(flags, probabilities) == pytest.approx(best)
