"""The trivial baselines (all-normal, class-prior) on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from respira.metrics import icbhi_scores, trivial_baselines
from respira.metrics.baselines import class_prior

# normal ×4, crackle ×3, wheeze ×2, both ×1; patients: p1 mixed, p2 abnormal only, p3 normal only
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 3, 0]
PATIENTS = ["p1", "p1", "p1", "p1", "p2", "p2", "p2", "p2", "p2", "p3"]


def test_all_normal_and_class_prior_by_hand() -> None:
    baselines = trivial_baselines(LABELS, patient_ids=PATIENTS)
    assert baselines["baseline_all_normal_specificity"] == 1.0
    assert baselines["baseline_all_normal_sensitivity"] == 0.0
    assert baselines["baseline_all_normal_icbhi_score"] == 0.5
    # per patient: p1 (Sp 1, Se 0) 0.5, p2 (abnormal only, Se 0) 0, p3 (normal only, Sp 1) 1 -> 0.5
    assert baselines["baseline_all_normal_patient_icbhi_score"] == pytest.approx(0.5)
    # class prior of the split: (0.4, 0.3, 0.2, 0.1); Se = (3·0.3 + 2·0.2 + 1·0.1) / 6
    assert class_prior(LABELS).tolist() == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert baselines["baseline_class_prior_specificity"] == pytest.approx(0.4)
    assert baselines["baseline_class_prior_sensitivity"] == pytest.approx(1.4 / 6)
    assert baselines["baseline_class_prior_icbhi_score"] == pytest.approx((0.4 + 1.4 / 6) / 2)
    # the all-normal numbers are the official metric of an all-normal prediction
    official = icbhi_scores(LABELS, np.zeros(len(LABELS), dtype=int), warn=False)
    assert baselines["baseline_all_normal_icbhi_score"] == official["icbhi_score"]


def test_class_prior_is_the_expected_score_of_random_draws() -> None:
    prior = class_prior(LABELS)
    expected = trivial_baselines(LABELS)
    rng = np.random.default_rng(0)
    draws = [
        icbhi_scores(LABELS, rng.choice(4, size=len(LABELS), p=prior), warn=False)["icbhi_score"]
        for _ in range(4000)
    ]
    assert expected["baseline_class_prior_icbhi_score"] == pytest.approx(np.mean(draws), abs=0.01)


def test_a_patient_score_of_an_all_normal_predictor_can_look_good() -> None:
    # mostly normal-only patients: the all-normal per-patient score is far above 0.5
    labels = [0, 0, 0, 0, 0, 0, 1, 0]
    patients = ["a", "a", "b", "b", "c", "c", "d", "d"]
    baselines = trivial_baselines(labels, patient_ids=patients)
    assert baselines["baseline_all_normal_patient_icbhi_score"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert baselines["baseline_all_normal_icbhi_score"] == 0.5


def test_degenerate_splits() -> None:
    only_normal = trivial_baselines([0, 0, 0])
    assert math.isnan(only_normal["baseline_all_normal_sensitivity"])
    assert only_normal["baseline_all_normal_icbhi_score"] == 1.0  # the mean of the defined terms
    assert math.isnan(only_normal["baseline_class_prior_sensitivity"])
    only_abnormal = trivial_baselines([1, 2, 3])
    assert only_abnormal["baseline_all_normal_icbhi_score"] == 0.0
    assert math.isnan(only_abnormal["baseline_class_prior_specificity"])
    with pytest.raises(ValueError, match="empty"):
        trivial_baselines([])


def test_a_headline_that_does_not_beat_its_best_baseline_is_flagged() -> None:
    from respira.metrics.baselines import BelowBaseline, below_baseline, flags_by_key, icbhi_below_baselines

    metrics = {  # issue 43: a per-patient score of 0.474 beside an all-normal 0.714
        "icbhi_score": 0.6,
        "patient_icbhi_score": 0.474,
        "baseline_all_normal_icbhi_score": 0.5,
        "baseline_class_prior_icbhi_score": 0.45,
        "baseline_all_normal_patient_icbhi_score": 0.714,
    }
    (entry,) = icbhi_below_baselines(metrics)
    assert (entry.key, entry.value, entry.baseline, entry.baseline_value) == (
        "patient_icbhi_score", 0.474, "all-normal", 0.714
    )  # fmt: skip
    assert entry.line().startswith(
        "per-patient ICBHI score 47.4 does not beat the all-normal baseline's 71.4"
    )  # in %, as every score a person reads
    assert flags_by_key([entry.to_dict()]) == {"patient_icbhi_score": "BELOW BASELINE (all-normal 71.4)"}
    assert BelowBaseline(**entry.to_dict()) == entry
    # data without an abnormal (normal) example: the score is specificity (sensitivity) alone, no baseline
    for side, undefined in (("sensitivity", float("nan")), ("specificity", None)):
        assert icbhi_below_baselines({**metrics, side: undefined}) == []
    assert icbhi_below_baselines({**metrics, "sensitivity": 0.3, "specificity": 0.9}) == [entry]
    # the best baseline is the one to beat; a tie does not beat it; undefined values are skipped
    assert below_baseline("s", "s", 0.48, {"all_normal": 0.5, "class_prior": 0.47}).baseline == "all-normal"
    assert below_baseline("s", "s", 0.5, {"all_normal": 0.5}) is not None
    assert below_baseline("s", "s", 0.51, {"all_normal": 0.5, "class_prior": float("nan")}) is None
    assert below_baseline("s", "s", float("nan"), {"all_normal": 0.5}) is None
    assert below_baseline("s", "s", 0.1, {"all_normal": None}) is None
    # lower is better (an error rate): 5.2 is not below the no-events baseline's 1.0
    error = below_baseline("ER", "er", 5.2, {"no_events": 1.0, "all_positive": 7.0}, lower_is_better=True)
    assert (error.baseline, error.baseline_value) == ("no-events", 1.0)
    assert "is not below the no-events baseline's 1.000" in error.line()
    assert below_baseline("ER", "er", 0.8, {"no_events": 1.0}, lower_is_better=True) is None
    assert (
        icbhi_below_baselines(
            {"test_icbhi_score": 0.4, "test_baseline_all_normal_icbhi_score": 0.5}, prefix="test_"
        )[0].key
        == "test_icbhi_score"
    )
