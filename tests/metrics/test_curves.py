"""respira.metrics.curves against scikit-learn: roc_curve, precision_recall_curve, average_precision_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from respira.metrics import roc_auc
from respira.metrics.curves import average_precision, precision_recall_curve, rates_at, roc_curve


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Random labels and scores, half of them with many ties (scores rounded to one decimal)."""
    rng = np.random.default_rng(0)
    cases = []
    while len(cases) < 60:
        n = int(rng.integers(2, 80))
        targets = rng.integers(0, 2, n)
        if targets.min() == targets.max():
            continue
        scores = rng.random(n) if len(cases) % 2 else np.round(rng.random(n), 1)
        cases.append((targets, scores))
    return cases


@pytest.mark.parametrize(("targets", "scores"), _cases())
def test_curves_equal_scikit_learn(targets: np.ndarray, scores: np.ndarray) -> None:
    for ours, reference in zip(
        roc_curve(targets, scores), sk.roc_curve(targets, scores, drop_intermediate=False), strict=True
    ):
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    for ours, reference in zip(
        precision_recall_curve(targets, scores), sk.precision_recall_curve(targets, scores), strict=True
    ):
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    assert average_precision(targets, scores) == pytest.approx(
        sk.average_precision_score(targets, scores), abs=1e-12
    )
    fpr, tpr, _ = roc_curve(targets, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(targets, scores), abs=1e-12)


@pytest.mark.parametrize(("targets", "scores"), _cases()[:10])
def test_rates_call_positive_at_or_above_the_threshold(targets: np.ndarray, scores: np.ndarray) -> None:
    thresholds = np.r_[np.linspace(0, 1, 21), scores[:3]]  # some exactly at a score: at least counts
    rates = rates_at(targets, scores, thresholds)
    for index, threshold in enumerate(thresholds):
        called = (scores >= threshold).astype(int)
        assert rates["sensitivity"][index] == pytest.approx(sk.recall_score(targets, called))
        assert rates["specificity"][index] == pytest.approx(sk.recall_score(1 - targets, 1 - called))
        if called.any():
            assert rates["precision"][index] == pytest.approx(sk.precision_score(targets, called))
        else:
            assert np.isnan(rates["precision"][index])


def test_hand_computed_curve() -> None:
    targets, scores = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    fpr, tpr, thresholds = roc_curve(targets, scores)
    assert thresholds.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    # precision 1 at recall 0.5 (0.8), then 2/3 at recall 1 (0.35): AP = 0.5 * 1 + 0.5 * 2/3
    assert average_precision(targets, scores) == pytest.approx(0.5 + 1 / 3)


def test_undefined_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="positive and negative"):
        roc_curve([1, 1], [0.2, 0.4])
    with pytest.raises(ValueError, match="needs positive targets"):
        precision_recall_curve([0, 0], [0.2, 0.4])
    with pytest.raises(ValueError, match="different lengths"):
        roc_curve([0, 1], [0.2])
    with pytest.raises(ValueError, match="non-finite"):
        roc_curve([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="0/1"):
        roc_curve([0, 2], [0.2, 0.3])
    rates = rates_at([1, 1], [0.2, 0.4], [0.3])
    assert rates["sensitivity"].tolist() == [0.5] and np.isnan(rates["specificity"][0])
