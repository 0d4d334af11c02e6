"""Per-recording scores: the detector's aggregation and decision rule, and the vectorised bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from respira.metrics.icbhi import icbhi_scores
from respira.metrics.recording_level import recording_level_scores
from respira.models.respira.windows import aggregate_windows
from respira.sites.scores import (
    aggregate_rows,
    paired_differences,
    paired_gain,
    recording_classes,
    recording_probabilities,
    scores_with_intervals,
)


def test_recording_probabilities_are_the_detectors_aggregation():
    rng = np.random.default_rng(0)
    recording = rng.permutation(np.repeat(np.arange(7), [1, 2, 3, 4, 5, 6, 7]))
    logits = rng.normal(size=(recording.size, 2))
    for rule, top_k in (("max", None), ("topk_mean", 3)):
        probabilities = recording_probabilities(logits, recording, 7, rule, top_k)
        for index in range(7):
            own = 1 / (1 + np.exp(-logits[recording == index]))
            np.testing.assert_allclose(probabilities[index], aggregate_windows(own, rule, top_k), atol=1e-12)
    assert aggregate_rows(logits, recording, 7, "max", None).shape == (7, 2)


def test_scores_agree_with_recording_level_scores_and_their_interval_holds_them():
    rng = np.random.default_rng(1)
    labels = (rng.random((60, 2)) < 0.35).astype(int)
    probabilities = np.clip(labels * 0.4 + rng.random((60, 2)) * 0.6, 0, 1)
    predicted = recording_classes(probabilities, (0.5, 0.55))
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
    truth = recording_classes(labels.astype(float), (0.5, 0.5))
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
    predicted = recording_classes(probabilities, (0.5, 0.5))
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
    ours = [(everything, recording_classes(probabilities, (0.5, 0.5)), probabilities)]
    theirs = [(everything, recording_classes(noisy, (0.5, 0.5)), noisy)]
    gains = paired_differences(labels, units, ours, theirs, resamples=200)
    alone = scores_with_intervals(labels, units, ours, resamples=200)
    other = scores_with_intervals(labels, units, theirs, resamples=200)
    for key in ("icbhi_score", "crackle_auc", "wheeze_auc"):
        assert gains[key]["gain"] == pytest.approx(alone[key] - other[key])
        assert 0 < gains[key]["gain_low"] <= gains[key]["gain"] <= gains[key]["gain_high"]
    same = paired_differences(labels, units, ours, ours, resamples=200)["crackle_auc"]
    assert (same["gain_low"], same["gain_high"]) == (0.0, 0.0)
