"""ICBHI scoring: hand-computed cases, degenerate inputs, scikit-learn cross-checks, Trainer and evaluate."""

from __future__ import annotations

import math
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from respira.metrics import (
    ICBHI_METRIC_PATH,
    UndefinedMetricWarning,
    compute_metrics,
    confusion_matrix,
    icbhi_scores,
    make_compute_metrics,
    multilabel_scores,
    per_patient_icbhi,
    roc_auc,
    trivial_baselines,
)
from respira.metrics.icbhi import icbhi_parts, icbhi_score
from respira.metrics.multilabel import label_probabilities, roc_aucs
from respira.models.respira.labels import CLASS_NAMES, classes_to_flags

NAN = float("nan")

# Expected NaN values are asserted explicitly; pytest.warns still sees the warning where it is tested.
pytestmark = pytest.mark.filterwarnings("ignore::respira.metrics.UndefinedMetricWarning")


def assert_scores(actual: dict[str, float], expected: dict[str, float]) -> None:
    """Every expected key matches exactly (up to float rounding); NaN must be NaN."""
    for key, value in expected.items():
        assert key in actual, key
        if math.isnan(value):
            assert math.isnan(actual[key]), f"{key}: expected nan, got {actual[key]}"
        else:
            assert actual[key] == pytest.approx(value, abs=1e-12), key


def assert_same_dict(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert actual.keys() == expected.keys()
    assert_scores(actual, expected)


# ---------------------------------------------------------------------------------------------------
# Hand-computed four-class cases
# ---------------------------------------------------------------------------------------------------

# Case A: abnormal cycles predicted as the WRONG abnormal class.
LABELS_A = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
PREDS_A = [0, 0, 0, 1, 1, 2, 0, 2, 3, 3]
# Confusion matrix (rows true, cols predicted):
#   normal  [3, 1, 0, 0]   4 normal cycles, one called crackle
#   crackle [1, 1, 1, 0]   3 crackles: one normal, one right, one wheeze
#   wheeze  [0, 0, 1, 1]   2 wheezes: one right, one both
#   both    [0, 0, 0, 1]   1 both: right
CM_A = [[3, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]]
EXPECTED_A = {
    "specificity": 3 / 4,
    # strict: crackle->crackle, wheeze->wheeze, both->both = 3 hits of 6 abnormal
    "sensitivity": 3 / 6,
    "icbhi_score": (3 / 4 + 3 / 6) / 2,  # 0.625
    # binary: crackle->wheeze and wheeze->both also count: 5 of 6 (only crackle->normal misses)
    "binary_sensitivity": 5 / 6,
    "binary_icbhi_score": (3 / 4 + 5 / 6) / 2,  # 19/24
    "accuracy": 6 / 10,
    # normal: TP 3, column 4, row 4
    "precision_normal": 3 / 4,
    "recall_normal": 3 / 4,
    "f1_normal": 6 / 8,
    # crackle: TP 1, column 2 (one normal called crackle), row 3
    "precision_crackle": 1 / 2,
    "recall_crackle": 1 / 3,
    "f1_crackle": 2 / 5,  # 2TP / (2TP + FP + FN) = 2 / (2 + 1 + 2)
    # wheeze: TP 1, column 2 (one crackle called wheeze), row 2
    "precision_wheeze": 1 / 2,
    "recall_wheeze": 1 / 2,
    "f1_wheeze": 1 / 2,
    # both: TP 1, column 2 (one wheeze called both), row 1
    "precision_both": 1 / 2,
    "recall_both": 1.0,
    "f1_both": 2 / 3,
    "macro_f1": (3 / 4 + 2 / 5 + 1 / 2 + 2 / 3) / 4,  # 139/240
    "balanced_accuracy": (3 / 4 + 1 / 3 + 1 / 2 + 1) / 4,  # 31/48
}


def test_confusion_matrix_by_hand() -> None:
    cm = confusion_matrix(LABELS_A, PREDS_A)
    assert cm.shape == (4, 4)
    np.testing.assert_array_equal(cm, CM_A)
    # rows are true classes: a crackle predicted as wheeze sits in row 1, column 2
    assert confusion_matrix([1], [2])[1, 2] == 1
    assert confusion_matrix([1], [2]).sum() == 1


def test_wrong_abnormal_class_counts_for_binary_but_not_strict_sensitivity() -> None:
    scores = icbhi_scores(LABELS_A, PREDS_A)
    assert_scores(scores, EXPECTED_A)
    assert scores["sensitivity"] < scores["binary_sensitivity"]
    # every key documented, nothing else
    names = [f"{m}_{c}" for c in CLASS_NAMES for m in ("precision", "recall", "f1")]
    assert set(scores) == set(EXPECTED_A) | set(names)


def test_abnormal_swapped_classes_strict_zero_binary_one() -> None:
    # crackle<->wheeze swapped, both->crackle: no strict hit, every binary hit; normals all right
    scores = icbhi_scores([0, 1, 2, 3], [0, 2, 1, 1])
    assert_scores(
        scores,
        {"specificity": 1.0, "sensitivity": 0.0, "icbhi_score": 0.5, "binary_sensitivity": 1.0},
    )


def test_all_normal_data_sensitivity_undefined() -> None:
    # 5 normal cycles, no abnormal: 3 right, one called crackle, one called both
    with pytest.warns(UndefinedMetricWarning, match="sensitivity"):
        scores = icbhi_scores([0, 0, 0, 0, 0], [0, 0, 1, 0, 3])
    assert_scores(
        scores,
        {
            "specificity": 3 / 5,
            "sensitivity": NAN,  # no abnormal cycle: 0/0
            "binary_sensitivity": NAN,
            "icbhi_score": 3 / 5,  # mean of the defined terms = specificity
            "binary_icbhi_score": 3 / 5,
            "accuracy": 3 / 5,
            "precision_normal": 1.0,  # 3 of 3 predicted normal
            "recall_normal": 3 / 5,
            "f1_normal": 6 / 8,
            "precision_crackle": 0.0,  # predicted once, wrongly
            "recall_crackle": NAN,  # never true
            "f1_crackle": 0.0,  # 0 / (0 + 1 + 0)
            "precision_wheeze": NAN,  # neither true nor predicted
            "recall_wheeze": NAN,
            "f1_wheeze": NAN,
            "precision_both": 0.0,
            "recall_both": NAN,
            "f1_both": 0.0,
            "macro_f1": (0.75 + 0 + 0) / 3,  # over classes present in labels or predictions
            "balanced_accuracy": 3 / 5,  # only normal is present in labels
        },
    )


def test_one_class_only_specificity_undefined() -> None:
    # 4 wheeze cycles: 2 right, one called both, one called normal
    with pytest.warns(UndefinedMetricWarning, match="specificity"):
        scores = icbhi_scores([2, 2, 2, 2], [2, 3, 0, 2])
    assert_scores(
        scores,
        {
            "specificity": NAN,
            "sensitivity": 2 / 4,
            "icbhi_score": 2 / 4,  # = sensitivity
            "binary_sensitivity": 3 / 4,  # the "both" prediction is abnormal
            "binary_icbhi_score": 3 / 4,
            "accuracy": 2 / 4,
            "precision_wheeze": 1.0,
            "recall_wheeze": 2 / 4,
            "f1_wheeze": 4 / 6,
            "precision_normal": 0.0,
            "recall_normal": NAN,
            "f1_normal": 0.0,
            "precision_both": 0.0,
            "f1_both": 0.0,
            "f1_crackle": NAN,
            "macro_f1": (0 + 0 + 4 / 6) / 3,
            "balanced_accuracy": 2 / 4,
        },
    )


def test_predictions_all_both() -> None:
    labels = [0, 1, 2, 3, 3, 0]
    with pytest.warns(UndefinedMetricWarning, match="precision_normal"):
        scores = icbhi_scores(labels, [3] * 6)
    assert_scores(
        scores,
        {
            "specificity": 0 / 2,
            "sensitivity": 2 / 4,  # only the two "both" cycles are strict hits
            "icbhi_score": (0 + 2 / 4) / 2,
            "binary_sensitivity": 4 / 4,
            "binary_icbhi_score": (0 + 1) / 2,
            "accuracy": 2 / 6,
            "precision_both": 2 / 6,
            "recall_both": 1.0,
            "f1_both": 4 / 8,
            "precision_normal": NAN,  # never predicted
            "recall_normal": 0.0,
            "f1_normal": 0.0,
            "recall_crackle": 0.0,
            "f1_crackle": 0.0,
            "macro_f1": 0.5 / 4,
            "balanced_accuracy": 1 / 4,
        },
    )


def test_no_warning_when_everything_is_defined() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = icbhi_scores(LABELS_A, PREDS_A)
    assert not any(math.isnan(v) for v in scores.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        icbhi_scores([0, 0], [0, 1], warn=False)


def test_accepts_numpy_and_integral_floats() -> None:
    expected = icbhi_scores(LABELS_A, PREDS_A)
    assert icbhi_scores(np.array(LABELS_A, dtype=np.int32), np.array(PREDS_A, dtype=np.float32)) == expected


@pytest.mark.parametrize(
    ("labels", "predictions", "match"),
    [
        ([], [], "empty"),
        (np.array([], dtype=int), np.array([], dtype=int), "empty"),
        ([0, 1, 4], [0, 1, 2], r"labels.*outside 0\.\.3: 4"),
        ([0, 1, 2], [0, -1, 2], r"predictions.*outside 0\.\.3: -1"),
        ([0, 7, 2], [0, 1, 2], "7"),
        ([0, 1, 2], [0, 1], "different lengths: 3 != 2"),
        ([0, 1.5], [0, 1], "1.5"),
        ([[0, 1]], [[0, 1]], "1-D"),
        (["normal"], [0], "integer"),
    ],
)
def test_invalid_input_raises(labels: object, predictions: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        icbhi_scores(labels, predictions)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        confusion_matrix(labels, predictions)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# scikit-learn as an independent reference
# ---------------------------------------------------------------------------------------------------


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    classes = np.arange(4) if seed % 3 else rng.choice(4, size=int(rng.integers(1, 4)), replace=False)
    labels = rng.choice(classes, size=n, p=rng.dirichlet(np.ones(len(classes))))
    # predictions: mostly right, otherwise any class
    predictions = np.where(rng.random(n) < 0.5, labels, rng.integers(0, 4, size=n))
    return labels, predictions


@pytest.mark.parametrize("seed", range(8))
def test_against_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    labels, predictions = _random_case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = icbhi_scores(labels, predictions)
        np.testing.assert_array_equal(
            confusion_matrix(labels, predictions),
            metrics.confusion_matrix(labels, predictions, labels=[0, 1, 2, 3]),
        )
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            labels, predictions, labels=[0, 1, 2, 3], average=None, zero_division=np.nan
        )
        for index, name in enumerate(CLASS_NAMES):
            np.testing.assert_allclose(scores[f"precision_{name}"], precision[index], equal_nan=True)
            np.testing.assert_allclose(scores[f"recall_{name}"], recall[index], equal_nan=True)
            np.testing.assert_allclose(scores[f"f1_{name}"], f1[index], equal_nan=True)
        # sklearn averages over the classes present in labels or predictions, as documented here
        assert scores["macro_f1"] == pytest.approx(metrics.f1_score(labels, predictions, average="macro"))
        assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predictions))
        assert scores["balanced_accuracy"] == pytest.approx(
            metrics.balanced_accuracy_score(labels, predictions)
        )
        # specificity = recall of "normal"; strict Se = accuracy on abnormal cycles;
        # binary Se = recall of abnormal-vs-normal
        normal, abnormal = labels == 0, labels != 0
        expected_sp = metrics.recall_score(normal, predictions == 0) if normal.any() else NAN
        expected_se = (
            metrics.accuracy_score(labels[abnormal], predictions[abnormal]) if abnormal.any() else NAN
        )
        expected_binary = metrics.recall_score(abnormal, predictions != 0) if abnormal.any() else NAN
    np.testing.assert_allclose(scores["specificity"], expected_sp, equal_nan=True)
    np.testing.assert_allclose(scores["sensitivity"], expected_se, equal_nan=True)
    np.testing.assert_allclose(scores["binary_sensitivity"], expected_binary, equal_nan=True)
    defined = [v for v in (expected_sp, expected_se) if not math.isnan(v)]
    assert scores["icbhi_score"] == pytest.approx(sum(defined) / len(defined))
    for key, value in scores.items():
        assert math.isnan(value) or 0.0 <= value <= 1.0, key


@pytest.mark.parametrize("seed", range(8))
def test_bootstrap_weights_score_each_resample_as_its_repeated_cycles(seed: int) -> None:
    """One scorer: a row of ones is the plain score, to the last digit, and a row of counts scores the
    cycles repeated that often; the hand-computed case A alike."""
    labels, predictions = _random_case(seed)
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(5, labels.size))
    weights = np.concatenate([np.ones((1, labels.size)), counts])
    weighted = icbhi_scores(labels, predictions, weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = icbhi_scores(labels, predictions)
        repeated = [icbhi_scores(np.repeat(labels, row), np.repeat(predictions, row)) for row in counts]
    assert weighted.keys() == plain.keys()
    for key, values in weighted.items():
        assert values.shape == (6,)
        np.testing.assert_array_equal(values[0], plain[key])
        np.testing.assert_allclose(values[1:], [scores[key] for scores in repeated], rtol=1e-12)
    case_a = icbhi_scores(LABELS_A, PREDS_A, weights=np.ones((2, len(LABELS_A))))
    assert_same_dict({key: float(values[1]) for key, values in case_a.items()}, EXPECTED_A)
    with pytest.raises(ValueError, match="weights must have shape"):
        icbhi_scores(LABELS_A, PREDS_A, weights=np.ones(len(LABELS_A)))


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_with_ties_against_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(10, 200))
    targets = rng.integers(0, 2, size=n)
    # one decimal place: many ties, inside and across the two classes
    scores = np.round(np.clip(0.3 * targets + rng.normal(0.35, 0.25, size=n), 0, 1), 1)
    assert roc_auc(targets, scores) == pytest.approx(metrics.roc_auc_score(targets, scores), abs=1e-12)


def test_roc_auc_by_hand() -> None:
    # pairs (pos, neg): (.5,.1)=1, (.5,.5)=1/2 (tie), (.9,.1)=1, (.9,.5)=1 -> 3.5 / 4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    assert roc_auc([0, 1], [0.9, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(roc_auc([0, 0], [0.2, 0.5]))


@pytest.mark.parametrize("seed", range(6))
def test_roc_aucs_are_roc_auc_of_each_column_to_the_last_digit(seed: int) -> None:
    """What fit-site ranks its penalties by: every column scored at once, each the number
    :func:`roc_auc` gives it alone (ties within and across columns; one class: nan)."""
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(5, 150))
    targets = rng.integers(0, 2, size=n)
    scores = rng.normal(size=(n, 13)) + targets[:, None] * rng.uniform(0, 2, size=13)
    scores[:, ::3] = np.round(scores[:, ::3], 1)
    columns = roc_aucs(targets, scores)
    assert columns.tolist() == [roc_auc(targets, scores[:, j]) for j in range(13)]
    assert np.isnan(roc_aucs(np.ones(n, int), scores)).all()
    scores[n // 2, 4] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        roc_aucs(targets, scores)
    with pytest.raises(ValueError, match="shape"):
        roc_aucs(targets, scores[:, 0])


@pytest.mark.parametrize("seed", range(8))
def test_icbhi_score_is_icbhi_scores_own_number(seed: int) -> None:
    """Specificity, sensitivity and the score alone, plain and under bootstrap weights, are
    :func:`icbhi_scores`' to the last digit (nan where undefined), and never warn."""
    labels, predictions = _random_case(seed)
    weights = np.random.default_rng(seed).integers(0, 3, size=(7, labels.size)).astype(np.float64)
    weighted = icbhi_scores(labels, predictions, weights=weights)
    parts = icbhi_parts(labels, predictions, weights=weights)
    for key, values in zip(("specificity", "sensitivity", "icbhi_score"), parts, strict=True):
        np.testing.assert_array_equal(values, weighted[key])
    np.testing.assert_array_equal(icbhi_score(labels, predictions, weights=weights), weighted["icbhi_score"])
    plain = icbhi_scores(labels, predictions, warn=False)["icbhi_score"]
    assert np.array_equal(icbhi_parts(labels, predictions)[2], plain, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = icbhi_score(labels, predictions)
        assert icbhi_score([0, 0], [0, 0]) == 1.0  # sensitivity undefined: the mean of the defined
    assert isinstance(alone, float) and (alone == plain or (math.isnan(alone) and math.isnan(plain)))


@pytest.mark.parametrize("seed", range(4))
def test_multilabel_against_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(200 + seed)
    n = 150
    targets = (rng.random((n, 2)) < [0.4, 0.25]).astype(int)
    probabilities = np.clip(0.4 * targets + rng.random((n, 2)) * 0.6, 0, 1)
    thresholds = (0.45, 0.55)
    scores = multilabel_scores(targets, probabilities, thresholds)
    predicted = (probabilities >= thresholds).astype(int)
    for index, name in enumerate(("crackle", "wheeze")):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            targets[:, index], predicted[:, index], average="binary", zero_division=np.nan
        )
        assert scores[f"precision_{name}"] == pytest.approx(p)
        assert scores[f"recall_{name}"] == pytest.approx(r)
        assert scores[f"f1_{name}"] == pytest.approx(f)
        assert scores[f"auc_{name}"] == pytest.approx(
            metrics.roc_auc_score(targets[:, index], probabilities[:, index])
        )
    for average in ("macro", "micro"):
        p, r, f, _ = metrics.precision_recall_fscore_support(targets, predicted, average=average)
        assert scores[f"{average}_precision"] == pytest.approx(p)
        assert scores[f"{average}_recall"] == pytest.approx(r)
        assert scores[f"{average}_f1"] == pytest.approx(f)
    # ICBHI keys come from the mapped classes
    mapped = icbhi_scores(
        targets[:, 0] + 2 * targets[:, 1], predicted[:, 0] + 2 * predicted[:, 1], warn=False
    )
    for key in ("specificity", "sensitivity", "icbhi_score", "binary_sensitivity", "accuracy"):
        assert scores[key] == pytest.approx(mapped[key])
    assert scores["class_f1_both"] == pytest.approx(mapped["f1_both"], nan_ok=True)
    assert scores["class_macro_f1"] == pytest.approx(mapped["macro_f1"])
    assert scores["threshold_crackle"] == 0.45
    assert scores["threshold_wheeze"] == 0.55


# ---------------------------------------------------------------------------------------------------
# Per patient
# ---------------------------------------------------------------------------------------------------


def test_per_patient_by_hand() -> None:
    # patient A: labels 0,0,1,2 predicted 0,1,1,3 -> Sp_A = 1/2, Se_A = 1/2 (wheeze->both misses),
    #            Score_A = 1/2
    # patient B: labels 0,0,0 predicted 0,0,0     -> Sp_B = 1, Se_B undefined, Score_B = 1
    # interleaved, to check the grouping
    ids = ["A", "B", "A", "B", "A", "B", "A"]
    labels = [0, 0, 0, 0, 1, 0, 2]
    preds = [0, 0, 1, 0, 1, 0, 3]
    result = per_patient_icbhi(labels, preds, ids)
    assert result["patient_specificity"] == pytest.approx((1 / 2 + 1) / 2)
    assert result["patient_sensitivity"] == pytest.approx(1 / 2)  # patient A only
    assert result["patient_icbhi_score"] == pytest.approx((1 / 2 + 1) / 2)
    # documented: not (pSp + pSe) / 2 = 0.625
    assert result["patient_icbhi_score"] != pytest.approx(
        (result["patient_specificity"] + result["patient_sensitivity"]) / 2
    )
    assert result["num_patients"] == 2
    assert result["num_patients_specificity"] == 2
    assert result["num_patients_sensitivity"] == 1
    # pooled over cycles is different: Sp = 4/5, Se = 1/2
    pooled = icbhi_scores(labels, preds)
    assert pooled["specificity"] == pytest.approx(4 / 5)
    assert pooled["sensitivity"] == pytest.approx(1 / 2)
    # integer ids work the same
    assert per_patient_icbhi(labels, preds, [101, 102, 101, 102, 101, 102, 101]) == result


def test_per_patient_errors_and_undefined() -> None:
    with pytest.raises(ValueError, match="patient_ids"):
        per_patient_icbhi([0, 1], [0, 1], ["A"])
    with pytest.warns(UndefinedMetricWarning, match="patient_sensitivity"):
        result = per_patient_icbhi([0, 0], [0, 1], ["A", "B"])
    assert math.isnan(result["patient_sensitivity"])
    assert result["patient_specificity"] == pytest.approx(0.5)
    assert result["patient_icbhi_score"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------
# Multi-label scores and thresholds (the flags ⇄ classes mapping: tests/models/respira/test_labels.py)
# ---------------------------------------------------------------------------------------------------


# probabilities of 4 cycles; targets crackle, both, normal, normal
PROBS = np.array([[0.6, 0.3], [0.45, 0.7], [0.45, 0.55], [0.1, 0.2]])
TARGET_FLAGS = np.array([[1, 0], [1, 1], [0, 0], [0, 0]])


def test_thresholds_change_mapped_icbhi() -> None:
    # thresholds 0.5/0.5 -> flags (1,0) (0,1) (0,1) (0,0) -> crackle, wheeze, wheeze, normal
    #   Sp: normals 3 (wheeze, miss) and 4 (hit) -> 1/2; Se: crackle hit, both->wheeze miss -> 1/2
    default = multilabel_scores(TARGET_FLAGS, PROBS)
    assert_scores(
        default,
        {"specificity": 0.5, "sensitivity": 0.5, "icbhi_score": 0.5, "binary_sensitivity": 1.0},
    )
    # thresholds 0.4/0.6 -> flags (1,0) (1,1) (1,0) (0,0) -> crackle, both, crackle, normal
    #   Sp still 1/2; Se: both cycles right -> 1
    tuned = multilabel_scores(TARGET_FLAGS, PROBS, (0.4, 0.6))
    assert_scores(tuned, {"specificity": 0.5, "sensitivity": 1.0, "icbhi_score": 0.75})
    # a probability equal to its threshold is predicted present: (0.45 >= 0.45) -> both flags on for cycle 2
    at_edge = multilabel_scores(TARGET_FLAGS, PROBS, (0.45, 0.7))
    assert at_edge["recall_crackle"] == 1.0
    assert at_edge["class_recall_both"] == 1.0
    with pytest.raises(ValueError, match="sigmoid"):
        multilabel_scores(TARGET_FLAGS, PROBS * 3)
    with pytest.raises(ValueError, match="shape"):
        multilabel_scores(TARGET_FLAGS[:, :1], PROBS[:, :1])


# ---------------------------------------------------------------------------------------------------
# Trainer compute_metrics
# ---------------------------------------------------------------------------------------------------


def _eval_prediction(predictions: object, label_ids: object) -> object:
    from transformers import EvalPrediction

    return EvalPrediction(predictions=predictions, label_ids=label_ids)


def _assert_fractions(scores: dict[str, float]) -> None:
    for key, value in scores.items():
        assert isinstance(value, float), key
        assert math.isnan(value) or 0.0 <= value <= 1.0, (key, value)


def _model_scores(scores: dict[str, float], *, single_label: bool = False) -> dict[str, float]:
    """The scores without the trivial baselines every compute_metrics adds and, ``single_label``, the
    per-label AUC it adds to the ICBHI scores (both checked separately)."""
    return {
        key: value
        for key, value in scores.items()
        if not key.startswith("baseline_") and not (single_label and key.startswith("auc_"))
    }


def test_compute_metrics_four_class_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(PREDS_A), 4))
    logits[np.arange(len(PREDS_A)), PREDS_A] += 10.0  # argmax = PREDS_A
    scores = compute_metrics(_eval_prediction(logits, np.array(LABELS_A)))
    assert {"icbhi_score", "specificity", "sensitivity"} <= scores.keys()
    assert_same_dict(_model_scores(scores, single_label=True), icbhi_scores(LABELS_A, PREDS_A))
    baselines = {key: value for key, value in scores.items() if key.startswith("baseline_")}
    assert_same_dict(baselines, trivial_baselines(LABELS_A))
    assert scores["icbhi_score"] == pytest.approx(0.625)
    _assert_fractions(scores)
    # tuples: extra model outputs and extra label columns are ignored
    tupled = compute_metrics(
        _eval_prediction((logits, np.zeros((10, 3, 5))), (np.array(LABELS_A), np.zeros(10)))
    )
    assert_same_dict(tupled, scores)
    # labels given as flags
    flags = classes_to_flags(LABELS_A)
    assert_same_dict(compute_metrics(_eval_prediction(logits, flags)), scores)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_compute_metrics_two_label_logits_with_class_labels() -> None:
    class_labels = np.array([1, 3, 0, 0])  # crackle, both, normal, normal = TARGET_FLAGS
    scores = compute_metrics(_eval_prediction(_logit(PROBS), class_labels))
    assert {"icbhi_score", "specificity", "sensitivity", "auc_crackle", "f1_wheeze"} <= scores.keys()
    assert scores["icbhi_score"] == pytest.approx(0.5)  # see test_thresholds_change_mapped_icbhi
    _assert_fractions(scores)
    assert_same_dict(_model_scores(scores), multilabel_scores(TARGET_FLAGS, PROBS))
    # flag labels (floats, as for BCE) give the same numbers
    assert_same_dict(
        compute_metrics(_eval_prediction(_logit(PROBS), TARGET_FLAGS.astype(np.float32))), scores
    )
    tuned = make_compute_metrics(thresholds=(0.4, 0.6))(_eval_prediction(_logit(PROBS), class_labels))
    assert tuned["icbhi_score"] == pytest.approx(0.75)
    assert tuned["threshold_crackle"] == 0.4


def test_make_compute_metrics_per_patient_and_errors() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(len(PREDS_A), 4))
    logits[np.arange(len(PREDS_A)), PREDS_A] += 10.0
    ids = ["p1"] * 5 + ["p2"] * 5
    compute = make_compute_metrics(patient_ids=ids)
    scores = compute(_eval_prediction(logits, np.array(LABELS_A)))
    expected = per_patient_icbhi(LABELS_A, PREDS_A, ids)
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value)
    assert scores["icbhi_score"] == pytest.approx(0.625)
    assert scores["num_patients"] == 2
    with pytest.raises(ValueError, match="patient_ids"):
        make_compute_metrics(patient_ids=ids[:3])(_eval_prediction(logits, np.array(LABELS_A)))
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(_eval_prediction(np.zeros((4, 3)), np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match="multi-label"):
        make_compute_metrics(thresholds=(0.3, 0.3))(_eval_prediction(logits, np.array(LABELS_A)))
    with pytest.raises(ValueError, match="problem_type"):
        make_compute_metrics(problem_type="regression")
    with pytest.raises(ValueError, match="outside"):
        compute_metrics(_eval_prediction(logits, np.array([*LABELS_A[:-1], -100])))


# ---------------------------------------------------------------------------------------------------
# evaluate module, offline
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def offline_evaluate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    evaluate = pytest.importorskip("evaluate")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    # evaluate reads these at import time: patch its config too
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path / "modules")
    monkeypatch.setattr(sys, "path", list(sys.path))  # evaluate appends its modules cache

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    yield evaluate
    for name in [m for m in sys.modules if m == "evaluate_modules" or m.startswith("evaluate_modules.")]:
        del sys.modules[name]


def test_evaluate_metric_offline(offline_evaluate: Any, tmp_path: Path) -> None:
    assert (ICBHI_METRIC_PATH / "icbhi_metric.py").is_file()
    metric = offline_evaluate.load(str(ICBHI_METRIC_PATH), cache_dir=str(tmp_path / "cache"))
    assert type(metric).__name__ == "ICBHIMetric"
    assert_same_dict(
        metric.compute(predictions=PREDS_A, references=LABELS_A), icbhi_scores(LABELS_A, PREDS_A)
    )
    labels, predictions = _random_case(5)
    for start in range(0, len(labels), 64):
        metric.add_batch(predictions=predictions[start : start + 64], references=labels[start : start + 64])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert_same_dict(metric.compute(), icbhi_scores(labels, predictions))


def test_single_label_metrics_report_per_label_auc_of_the_classes_containing_it() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, size=120)
    logits = rng.normal(size=(120, 4)) + 1.5 * np.eye(4)[labels]
    scores = make_compute_metrics()(_eval_prediction(logits, labels))
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    flags = classes_to_flags(labels)
    crackle = probabilities[:, 1] + probabilities[:, 3]  # crackle and both
    wheeze = probabilities[:, 2] + probabilities[:, 3]
    assert scores["auc_crackle"] == pytest.approx(metrics.roc_auc_score(flags[:, 0], crackle), abs=1e-12)
    assert scores["auc_wheeze"] == pytest.approx(metrics.roc_auc_score(flags[:, 1], wheeze), abs=1e-12)
    assert scores["auc_crackle"] > 0.6  # the logits carry the labels
    np.testing.assert_allclose(label_probabilities(probabilities), np.column_stack([crackle, wheeze]))
    with pytest.raises(ValueError, match="shape"):
        label_probabilities(probabilities[:, :2])
