"""respira.metrics.recording_level against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from respira.metrics.recording_level import (
    binary_scores,
    bootstrap_replicates,
    flatten_scores,
    patient_bootstrap,
    patient_resample_counts,
    recording_decisions,
    recording_level_scores,
    recording_strata,
)
from respira.models.respira.windows import aggregate_windows, describe_aggregation

# (crackle, wheeze, normal) targets and (crackle, wheeze) recording probabilities; thresholds 0.5 / 0.4
TARGETS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]])
PROBABILITIES = np.array([[0.9, 0.1], [0.6, 0.3], [0.2, 0.45], [0.3, 0.2], [0.55, 0.1], [0.1, 0.4]])
THRESHOLDS = (0.5, 0.4)


def test_aggregation_rules() -> None:
    windows = [[0.1, 0.9], [0.5, 0.2], [0.3, 0.4]]
    np.testing.assert_allclose(aggregate_windows(windows, "max"), [0.5, 0.9])
    np.testing.assert_allclose(aggregate_windows(windows, "topk_mean", top_k=2), [0.4, 0.65])
    np.testing.assert_allclose(aggregate_windows(windows, "topk_mean", top_k=5), [0.3, 0.5])
    np.testing.assert_allclose(aggregate_windows([0.2, 0.7], "max"), [0.7])
    assert "maximum" in describe_aggregation("max")
    assert "2 largest" in describe_aggregation("topk_mean", 2)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregate_windows(windows, "median")
    with pytest.raises(ValueError, match="top_k"):
        aggregate_windows(windows, "topk_mean")
    with pytest.raises(ValueError, match="windows >= 1"):
        aggregate_windows(np.zeros((0, 2)), "max")


def test_decisions_use_at_least_the_threshold() -> None:
    np.testing.assert_array_equal(
        recording_decisions(PROBABILITIES, THRESHOLDS), [[1, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]]
    )


def test_scores_computed_by_hand() -> None:
    scores = recording_level_scores(TARGETS, PROBABILITIES, THRESHOLDS)
    assert scores["crackle"] == pytest.approx(
        {"sensitivity": 1.0, "specificity": 0.75, "auc": 1.0, "positives": 2, "negatives": 4}
    )
    assert scores["wheeze"] == pytest.approx(
        {"sensitivity": 0.5, "specificity": 0.75, "auc": 7 / 8, "positives": 2, "negatives": 4}
    )
    assert scores["normal"] == pytest.approx(
        {"sensitivity": 1 / 3, "specificity": 1.0, "auc": 8 / 9, "positives": 3, "negatives": 3}
    )
    assert scores["icbhi"] == pytest.approx(
        {
            "specificity": 1 / 3,
            "sensitivity": 2 / 3,  # the both-recording predicted crackle only is a miss
            "icbhi_score": 0.5,
            "binary_sensitivity": 1.0,
            "binary_icbhi_score": 2 / 3,
            "normal_recordings": 3,
            "abnormal_recordings": 3,
        }
    )
    flat = flatten_scores(scores)
    assert flat["wheeze.auc"] == pytest.approx(7 / 8) and "crackle.positives" not in flat


def test_undefined_scores_are_nan() -> None:
    result = binary_scores([1, 1], [1, 0], [0.9, 0.2])
    assert result["sensitivity"] == 0.5
    assert math.isnan(result["specificity"]) and math.isnan(result["auc"])


def test_bootstrap_resamples_patients_with_their_recordings() -> None:
    # patient "a": three crackle recordings detected; patient "b": one crackle recording missed
    detected = np.array([1, 1, 1, 0])
    patients = ["a", "a", "a", "b"]

    def sensitivity(indices: np.ndarray) -> dict[str, float]:
        return {"sensitivity": float(detected[indices].mean())}

    values = bootstrap_replicates(sensitivity, patients, resamples=2000, seed=0)["sensitivity"]
    outcomes, counts = np.unique(values, return_counts=True)
    np.testing.assert_allclose(outcomes, [0.0, 0.75, 1.0])  # bb, ab, aa: never a recording alone
    np.testing.assert_allclose(counts / counts.sum(), [0.25, 0.5, 0.25], atol=0.04)
    first = patient_bootstrap(sensitivity, patients, resamples=200, seed=3)
    assert first == patient_bootstrap(sensitivity, patients, resamples=200, seed=3)
    assert first["sensitivity"][0] == 0.0 and first["sensitivity"][1] == 1.0


def test_bootstrap_interval_of_a_perfect_detector_is_degenerate_and_nan_safe() -> None:
    def statistic(indices: np.ndarray) -> dict[str, float]:
        return {"always": 1.0, "never": float("nan")}

    intervals = patient_bootstrap(statistic, [1, 1, 2, 3], resamples=50, seed=0)
    assert intervals["always"] == [1.0, 1.0]
    assert all(math.isnan(value) for value in intervals["never"])
    with pytest.raises(ValueError, match="confidence"):
        patient_bootstrap(statistic, [1], confidence=1.5)


def _clustered_detector(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 patients with 3 recordings each: per-patient detection rates, so recordings of one patient are
    strongly correlated (a recording-level bootstrap would give intervals about √3 too narrow)."""
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(40), 3)
    positive = np.repeat(rng.random(40) < 0.6, 3)
    detected = (rng.random(120) < np.repeat(rng.beta(2, 1, 40), 3)).astype(float)
    detected[~positive] = np.nan
    return patients, positive, detected


def test_scipy_patient_bootstrap_gives_the_former_intervals_within_resampling_noise() -> None:
    from .bootstrap_reference import old_patient_bootstrap

    patients, positive, detected = _clustered_detector()

    def statistic(indices: np.ndarray) -> dict[str, float]:
        chosen = detected[indices][positive[indices]]
        missed = np.sum(chosen == 0)
        return {"sensitivity": float(np.mean(chosen)), "missed_share": missed / indices.size}

    new = patient_bootstrap(statistic, patients, resamples=4000, seed=1)
    old = old_patient_bootstrap(statistic, patients, resamples=4000, seed=2)
    for name in new:
        np.testing.assert_allclose(new[name], old[name], atol=0.015)  # measured: within 0.004
        assert new[name][1] - new[name][0] > 0.1
    assert new == patient_bootstrap(statistic, patients, resamples=4000, seed=1)
    assert new != patient_bootstrap(statistic, patients, resamples=4000, seed=3)


def test_a_50_percent_interval_is_the_quartiles_of_the_replicates() -> None:
    # 30 patients with two recordings each; a mean is defined in every resample
    values = np.random.default_rng(6).exponential(size=60)
    patients = np.repeat(np.arange(30), 2)

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return {"mean": float(values[indices].mean())}

    replicates = bootstrap_replicates(statistic, patients, resamples=2000, seed=7)["mean"]
    assert not np.isnan(replicates).any()
    half = patient_bootstrap(statistic, patients, resamples=2000, seed=7, confidence=0.5)
    np.testing.assert_allclose(half["mean"], np.percentile(replicates, [25, 75]), rtol=1e-12)
    wide = patient_bootstrap(statistic, patients, resamples=2000, seed=7)
    np.testing.assert_allclose(wide["mean"], np.percentile(replicates, [2.5, 97.5]), rtol=1e-12)
    from .bootstrap_reference import old_patient_bootstrap  # hand-written draws of patients

    reference = old_patient_bootstrap(statistic, patients, resamples=4000, seed=8, confidence=0.5)
    np.testing.assert_allclose(half["mean"], reference["mean"], atol=0.02)


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small random sample: 2-8 patients of 1-4 recordings, (crackle, wheeze, normal) targets with at
    least one normal and one abnormal recording, and random recording probabilities."""
    while True:
        patients = np.repeat(np.arange(rng.integers(2, 9)), rng.integers(1, 5))
        extra = rng.integers(0, patients.max() + 1, rng.integers(0, 4))  # some patients with more
        patients = np.sort(np.concatenate([patients, extra]))
        flags = (rng.random((patients.size, 2)) < rng.uniform(0.1, 0.6)).astype(np.int64)
        targets = np.column_stack([flags, (flags.sum(axis=1) == 0).astype(np.int64)])
        if 0 < targets[:, 2].sum() < patients.size:
            return patients, targets, rng.random((patients.size, 2))


def test_every_interval_lies_within_what_its_components_allow() -> None:
    # property over seeded random cases: with the classes as strata, every resample has normal and abnormal
    # recordings, so the ICBHI-style score of each replicate is (Se + Sp) / 2 and its interval lies within
    # the range those replicates allow; every per-label rate keeps its positives and negatives
    for case in range(40):
        rng = np.random.default_rng(case)
        patients, targets, probabilities = _random_case(rng)
        strata = recording_strata(targets)

        def statistic(indices: np.ndarray, truth=targets, scores=probabilities) -> dict[str, float]:
            return flatten_scores(recording_level_scores(truth[indices], scores[indices], THRESHOLDS))

        settings = {"resamples": 60, "seed": case, "strata": strata}
        replicates = bootstrap_replicates(statistic, patients, **settings)
        intervals = patient_bootstrap(statistic, patients, **settings)
        se, sp = replicates["icbhi.sensitivity"], replicates["icbhi.specificity"]
        assert not np.isnan(se).any() and not np.isnan(sp).any(), case
        np.testing.assert_allclose(replicates["icbhi.icbhi_score"], (se + sp) / 2)
        low, high = intervals["icbhi.icbhi_score"]
        assert np.min((se + sp) / 2) - 1e-12 <= low <= high <= np.max((se + sp) / 2) + 1e-12, case
        for label, column in (("crackle", 0), ("wheeze", 1), ("normal", 2)):
            present = set(targets[:, column].tolist())
            assert not np.isnan(replicates[f"{label}.sensitivity"]).any() or 1 not in present, case
            assert not np.isnan(replicates[f"{label}.specificity"]).any() or 0 not in present, case
        for name, (low, high) in intervals.items():
            assert math.isnan(low) or 0.0 <= low <= high <= 1.0, (case, name)


def test_strata_are_patients_class_signatures_and_single_patient_strata_are_kept() -> None:
    # patient 0: normal only; 1, 2: abnormal only; 3: both. Strata {normal}, {abnormal}, {both}: the first
    # and last hold one patient each, so every resample holds patients 0 and 3 once and two of 1, 2
    patients = [0, 0, 1, 2, 3, 3]
    classes = ["n", "n", "a", "a", "n", "a"]

    def statistic(indices: np.ndarray) -> dict[str, float]:
        drawn = np.asarray(patients)[indices]
        return {f"count_{p}": float(np.sum(drawn == p)) for p in range(4)}

    values = bootstrap_replicates(statistic, patients, resamples=200, seed=0, strata=classes)
    np.testing.assert_array_equal(values["count_0"], 2)  # its two recordings, once
    np.testing.assert_array_equal(values["count_3"], 2)
    np.testing.assert_array_equal(values["count_1"] + values["count_2"], 2)
    assert set(values["count_1"].tolist()) == {0.0, 1.0, 2.0}
    unstratified = bootstrap_replicates(statistic, patients, resamples=200, seed=0)
    assert (unstratified["count_0"] == 0).any()
    with pytest.raises(ValueError, match="one value per recording"):
        patient_bootstrap(statistic, patients, strata=classes[:3])
    np.testing.assert_array_equal(recording_strata([[1, 0, 0], [0, 0, 1], [1, 1, 0]]), [4, 1, 6])


def test_resample_counts_draw_whole_patients_within_their_class_signature() -> None:
    patients = ["a", "a", "b", "c", "c", "d", "e"]
    strata = [0, 0, 1, 0, 0, 1, 1]  # signatures: a, c normal; b, d, e abnormal
    counts = patient_resample_counts(patients, resamples=400, seed=5, strata=strata)
    assert counts.shape == (400, 7)
    np.testing.assert_array_equal(counts[:, 0], counts[:, 1])  # a patient brings all its recordings
    np.testing.assert_array_equal(counts[:, 3], counts[:, 4])
    assert (counts[:, 0] + counts[:, 3] == 2).all()  # two normal patients drawn, whichever
    assert (counts[:, 2] + counts[:, 5] + counts[:, 6] == 3).all()
    assert len({tuple(row) for row in counts}) > 5
    again = patient_resample_counts(patients, resamples=400, seed=5, strata=strata)
    np.testing.assert_array_equal(counts, again)
