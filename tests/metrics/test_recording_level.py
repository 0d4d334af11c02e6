"""respira.metrics.recording_level against values computed by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from respira.metrics.icbhi import icbhi_scores
from respira.metrics.multilabel import roc_auc
from respira.metrics.recording_level import (
    _weighted_auc,
    binary_scores,
    bootstrap_replicates,
    flatten_scores,
    paired_differences,
    paired_gain,
    patient_bootstrap,
    patient_resample_counts,
    recording_decisions,
    recording_level_intervals,
    recording_level_scores,
    recording_strata,
    resample_weights,
    scores_with_intervals,
)
from respira.models.respira.labels import flags_to_classes
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


RESAMPLES = 60


def _drawn_bootstrap(targets, probabilities, patients, thresholds, seed: int) -> dict[str, list[float]]:
    """The intervals of each resample's recordings scored one resample at a time."""

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], thresholds))

    strata = recording_strata(targets)
    return patient_bootstrap(statistic, patients, resamples=RESAMPLES, seed=seed, strata=strata)


def test_recording_level_intervals_are_those_of_each_resample_scored_alone() -> None:
    """Every resample scored at once from its counts gives the bootstrap's floats, bit for bit (tied and
    repeated probabilities, resamples without a positive or a normal recording): the same metrics files."""
    rng = np.random.default_rng(11)
    for trial in range(6):
        n = int(rng.integers(2, 30))
        flags = rng.integers(0, 2, (n, 2))
        targets = np.column_stack([flags, flags.sum(axis=1) == 0])
        probabilities = np.round(rng.random((n, 2)), int(rng.integers(1, 3)))  # ties
        patients = rng.integers(0, max(2, n // 3), n)
        thresholds = (float(rng.choice([0.3, 0.5])), float(rng.choice([0.4, 0.7])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = _drawn_bootstrap(targets, probabilities, patients, thresholds, trial)
        got = recording_level_intervals(
            targets, probabilities, thresholds, patients, resamples=300, seed=trial
        )
        assert list(got) == list(expected) or set(got) == set(expected)
        for name, interval in expected.items():
            assert np.array_equal(got[name], interval, equal_nan=True), (trial, name, got[name], interval)
    with pytest.raises(ValueError, match="confidence"):
        recording_level_intervals(TARGETS, PROBABILITIES, THRESHOLDS, np.arange(6), confidence=1.0)


def test_a_weighted_auc_is_the_auc_of_the_recordings_repeated() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(2, 40))
        target, scores = rng.integers(0, 2, n), np.round(rng.random(n), 1)  # ties
        weights = rng.integers(0, 4, (10, n)).astype(np.float64)
        for row, auc in zip(weights, _weighted_auc(target, scores, weights), strict=True):
            repeated = np.repeat(np.arange(n), row.astype(int))
            expected = roc_auc(target[repeated], scores[repeated]) if repeated.size else math.nan
            assert auc == expected or (math.isnan(auc) and math.isnan(expected)), (auc, expected)


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

        scored: dict[bytes, dict[str, float]] = {}  # patient_bootstrap redraws the replicates' samples

        def statistic(
            indices: np.ndarray, truth=targets, scores=probabilities, seen=scored
        ) -> dict[str, float]:
            if indices.tobytes() not in seen:
                seen[indices.tobytes()] = flatten_scores(
                    recording_level_scores(truth[indices], scores[indices], THRESHOLDS)
                )
            return seen[indices.tobytes()]

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


# ---------------------------------------------------------------------------------------------------
# scores_with_intervals: every resample scored at once from its counts
# ---------------------------------------------------------------------------------------------------


def _classes(probabilities: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """The four-class index of each recording, as the detector decides it."""
    return flags_to_classes(recording_decisions(probabilities, thresholds))


def test_resample_weights_are_the_sample_then_each_resamples_counts() -> None:
    patients, strata = ["a", "a", "b", "c", "c", "d"], [0, 0, 1, 0, 0, 1]
    weights = resample_weights(patients, resamples=50, seed=4, strata=strata)
    assert weights.shape == (51, 6) and weights.dtype == np.float64
    np.testing.assert_array_equal(weights[0], np.ones(6))
    np.testing.assert_array_equal(
        weights[1:], patient_resample_counts(patients, resamples=50, seed=4, strata=strata)
    )


def test_scores_agree_with_recording_level_scores_and_their_interval_holds_them():
    rng = np.random.default_rng(1)
    labels = (rng.random((60, 2)) < 0.35).astype(int)
    probabilities = np.clip(labels * 0.4 + rng.random((60, 2)) * 0.6, 0, 1)
    predicted = _classes(probabilities, (0.5, 0.55))
    units = [f"p{i // 3}" for i in range(60)]
    result = scores_with_intervals(
        labels, units, [(np.ones(60, bool), predicted, probabilities)], resamples=300
    )
    targets = np.column_stack([labels, (labels.sum(axis=1) == 0).astype(int)])
    reference = recording_level_scores(targets, probabilities, (0.5, 0.55))
    assert np.isclose(result["icbhi_score"], reference["icbhi"]["icbhi_score"])
    assert np.isclose(result["specificity"], reference["icbhi"]["specificity"])
    assert np.isclose(result["sensitivity"], reference["icbhi"]["sensitivity"])
    assert np.isclose(result["crackle_auc"], reference["crackle"]["auc"])
    assert np.isclose(result["wheeze_auc"], reference["wheeze"]["auc"])
    for key in ("icbhi_score", "crackle_auc"):
        assert result[f"{key}_low"] < result[key] < result[f"{key}_high"]
    assert result["scored_units"] == 20


def test_a_part_scores_only_its_own_recordings():
    labels = np.array([[0, 0], [1, 0], [0, 0], [1, 0]])
    predicted = np.array([0, 1, 1, 0])  # right on the first two, wrong on the last two
    units = ["a", "b", "c", "d"]
    first = scores_with_intervals(
        labels, units, [(np.array([1, 1, 0, 0], bool), predicted, None)], resamples=20
    )
    assert first["icbhi_score"] == 1.0 and first["scored_units"] == 2
    both = scores_with_intervals(
        labels,
        units,
        [(np.array([1, 1, 0, 0], bool), predicted, None), (np.array([0, 0, 1, 1], bool), predicted, None)],
        resamples=20,
    )
    assert both["icbhi_score"] == 0.5  # the mean of the two parts' scores
    assert np.isnan(both["crackle_auc"])


def test_a_gain_is_paired_over_the_same_patient_resamples():
    rng = np.random.default_rng(2)
    labels = (rng.random((60, 2)) < 0.35).astype(int)
    units = [f"p{i // 3}" for i in range(60)]
    truth = _classes(labels.astype(float), (0.5, 0.5))
    noisy = np.where(rng.random(60) < 0.3, 0, truth)
    same = paired_gain(labels, units, noisy, noisy, resamples=200)
    assert (same["gain"], same["gain_low"], same["gain_high"]) == (0.0, 0.0, 0.0)
    gain = paired_gain(labels, units, truth, noisy, resamples=200)
    assert gain["gain"] == 1.0 - icbhi_scores(truth, noisy, warn=False)["icbhi_score"] > 0
    assert 0 < gain["gain_low"] <= gain["gain"] <= gain["gain_high"]


def test_the_interval_resamples_patients_so_copies_of_a_recording_add_no_certainty():
    """Issue 58, item 11: resampling recordings instead of patients narrows the intervals that the serve
    rule reads. A patient's recordings drawn together, ten copies of each patient's one recording
    weigh as that recording: the interval is the one of a recording per patient, to the last digit."""
    rng = np.random.default_rng(2)
    labels = (rng.random((24, 2)) < 0.4).astype(int)
    probabilities = np.clip(labels * 0.3 + rng.random((24, 2)) * 0.7, 0, 1)
    predicted = _classes(probabilities, (0.5, 0.5))
    units = [f"p{i}" for i in range(24)]
    one = scores_with_intervals(labels, units, [(np.ones(24, bool), predicted, probabilities)], resamples=200)
    copies = np.repeat(np.arange(24), 10)
    ten = scores_with_intervals(
        labels[copies],
        [units[i] for i in copies],
        [(np.ones(240, bool), predicted[copies], probabilities[copies])],
        resamples=200,
    )
    for key in ("icbhi_score", "crackle_auc", "wheeze_auc"):
        assert (ten[f"{key}_low"], ten[key], ten[f"{key}_high"]) == pytest.approx(
            (one[f"{key}_low"], one[key], one[f"{key}_high"])
        )
    assert one["icbhi_score_high"] - one["icbhi_score_low"] > 0.2  # 24 patients: wide, as it should be


def test_a_labels_own_gain_is_its_own_score_paired_on_the_same_resamples():
    """A label's own gain (fit-site's per-label rule): its sensitivity on the recordings with it and its
    specificity on those without, of its own flags, against the model as is, on the resamples every other
    interval of the fit draws (stratified by the four classes)."""
    rng = np.random.default_rng(3)
    labels = (rng.random((60, 2)) < 0.4).astype(int)
    units = [f"p{i // 3}" for i in range(60)]
    right = labels[:, 0]
    wrong = np.where(rng.random(60) < 0.4, 1 - right, right)
    gain = paired_gain(labels, units, right, wrong, resamples=200, label=0)

    def own(flags: np.ndarray) -> float:
        with_it = labels[:, 0] == 1
        return (np.mean(flags[with_it] == 1) + np.mean(flags[~with_it] == 0)) / 2

    assert gain["gain"] == pytest.approx(own(right) - own(wrong)) and gain["gain"] > 0
    assert 0 < gain["gain_low"] <= gain["gain"] <= gain["gain_high"]
    # wheeze's flags play no part in crackle's own gain
    other = paired_gain(labels, units, right, wrong, resamples=200, label=1)
    assert other["gain"] != gain["gain"]


def test_a_resample_without_a_normal_recording_is_left_out_and_counted():
    """Issue 84: all-normal read 50.0 (33.3–50.0) where a draw's held-out recordings could be resampled
    without a normal one: that resample was scored on sensitivity alone (0). It is undefined: left out."""
    labels = np.array([[0, 0], [1, 0], [1, 0]] * 4)  # per block of three patients: a normal, two crackles
    units = ["n1", "a1", "a2", "n2", "a3", "a4", "n3", "a5", "a6", "n4", "a7", "a8"]
    normal = np.zeros(12, np.int64)
    first, second = np.arange(12) < 3, np.arange(12) >= 3  # the first part holds one normal patient
    parts = [(first, normal, None), (second, normal, None)]
    scores = scores_with_intervals(labels, units, parts, resamples=300)
    assert (scores["icbhi_score_low"], scores["icbhi_score"], scores["icbhi_score_high"]) == (0.5, 0.5, 0.5)
    assert 0 < scores["icbhi_score_undefined"] < 300  # n1 left out of a resample: the first part lacks one
    assert 0 < scores["specificity_undefined"] < scores["icbhi_score_undefined"]  # or without an abnormal


def test_paired_differences_share_the_resamples_of_every_score():
    rng = np.random.default_rng(3)
    labels = (rng.random((60, 2)) < 0.35).astype(int)
    units = [f"p{i // 3}" for i in range(60)]
    probabilities = np.clip(labels * 0.5 + rng.random((60, 2)) * 0.5, 0, 1)
    noisy = np.clip(labels * 0.1 + rng.random((60, 2)) * 0.9, 0, 1)
    everything = np.ones(60, bool)
    ours = [(everything, _classes(probabilities, (0.5, 0.5)), probabilities)]
    theirs = [(everything, _classes(noisy, (0.5, 0.5)), noisy)]
    gains = paired_differences(labels, units, ours, theirs, resamples=200)
    alone = scores_with_intervals(labels, units, ours, resamples=200)
    other = scores_with_intervals(labels, units, theirs, resamples=200)
    for key in ("icbhi_score", "crackle_auc", "wheeze_auc"):
        assert gains[key]["gain"] == pytest.approx(alone[key] - other[key])
        assert 0 < gains[key]["gain_low"] <= gains[key]["gain"] <= gains[key]["gain_high"]
    same = paired_differences(labels, units, ours, ours, resamples=200)["crackle_auc"]
    assert (same["gain_low"], same["gain_high"]) == (0.0, 0.0)
