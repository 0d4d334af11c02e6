"""ROC and precision–recall curves of one label's scores against 0/1 targets (numpy).

The same values as scikit-learn's ``roc_curve(drop_intermediate=False)``, ``precision_recall_curve``
and ``average_precision_score``; a score is positive when **at least** the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .multilabel import binary_targets_and_scores

__all__ = ["average_precision", "precision_recall_curve", "rates_at", "roc_curve"]


def _validate(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    truth, values = binary_targets_and_scores(targets, scores)
    if truth.size == 0:
        raise ValueError("targets and scores are empty: there is no curve")
    return truth, values


def _counts(truth: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores, descending, and the true / false positives when each is the threshold."""
    order = np.argsort(-values, kind="mergesort")
    ordered, labels = values[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), ordered.size - 1]  # the last row of each distinct score
    true_positives = np.cumsum(labels)[last]
    return ordered[last], true_positives, last + 1 - true_positives


def roc_curve(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(false positive rate, true positive rate, thresholds)``, thresholds descending from ``inf``."""
    truth, values = _validate(targets, scores)
    positives = int(truth.sum())
    if positives in (0, truth.size):
        raise ValueError("a ROC curve needs positive and negative targets, got one class only")
    thresholds, tps, fps = _counts(truth, values)
    return (
        np.r_[0.0, fps / (truth.size - positives)],
        np.r_[0.0, tps / positives],
        np.r_[np.inf, thresholds],
    )


def precision_recall_curve(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)``, thresholds ascending; the curve ends at (1, 0), which has none."""
    truth, values = _validate(targets, scores)
    if not truth.any():
        raise ValueError("a precision-recall curve needs positive targets, got none")
    thresholds, tps, fps = _counts(truth, values)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(targets: Any, scores: Any) -> float:
    """The area under the step-wise precision–recall curve (no interpolation)."""
    precision, recall, _ = precision_recall_curve(targets, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def rates_at(targets: Any, scores: Any, thresholds: Any) -> dict[str, np.ndarray]:
    """``sensitivity``, ``specificity`` and ``precision`` at each of ``thresholds`` (``nan``: undefined)."""
    truth, values = _validate(targets, scores)
    cuts = np.asarray(thresholds, dtype=np.float64)
    positive = np.sort(values[truth == 1])
    negative = np.sort(values[truth == 0])
    tps = positive.size - np.searchsorted(positive, cuts, side="left")
    fps = negative.size - np.searchsorted(negative, cuts, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "sensitivity": np.where(positive.size, tps / max(positive.size, 1), np.nan),
            "specificity": np.where(negative.size, 1.0 - fps / max(negative.size, 1), np.nan),
            "precision": np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1), np.nan),
        }
