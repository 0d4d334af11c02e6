"""Thresholds re-tuned on a labelled sample (studies/_calibration.py, what leave_one_site_out.py measures
with): the score, each patient decided at thresholds tuned on the others, the decision ceiling."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from respira.metrics.thresholds import choose_thresholds

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
from _calibration import (
    LabelledSample,
    cross_validated,
    decision_ceiling,
    retuning_wins,
    sample_score,
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


def test_thresholds_that_lose_out_of_sample_do_not_win():
    # overfitting_sample: the re-tuned thresholds score below the model's 0.5 with each patient left out
    assert not retuning_wins(cross_validated(overfitting_sample(), [0.5, 0.5]))
    assert retuning_wins(cross_validated(shifted_sample(), [0.5, 0.5]))


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
