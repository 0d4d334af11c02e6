"""Scores for multi-label (crackle, wheeze) models, whose flags map to the ICBHI classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..models.respira.decision import DEFAULT_THRESHOLD, present, validate_thresholds
from ..models.respira.labels import (
    MULTI_LABEL_NAMES,
    NUM_CLASSES,
    binary_flags,
    classes_to_flags,
    flags_to_classes,
)
from .icbhi import _mean_defined, _ratio, _warn_undefined, icbhi_scores

DEFAULT_THRESHOLDS: tuple[float, float] = (DEFAULT_THRESHOLD, DEFAULT_THRESHOLD)


def binary_targets_and_scores(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """1-D 0/1 int64 ``targets`` and float64 ``scores`` of equal length, scores finite; else ValueError."""
    truth = binary_flags(np.asarray(targets).reshape(-1), "targets")
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if truth.size != values.size:
        raise ValueError(f"targets and scores have different lengths: {truth.size} != {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain a non-finite value")
    return truth, values


def validate_multilabel(targets: Any, probabilities: Any) -> tuple[np.ndarray, np.ndarray]:
    """``targets`` as 0/1 int64 ``[N, 2]``, ``probabilities`` as float64 of that shape; else ValueError."""
    target_array = np.asarray(targets)
    prob_array = np.asarray(probabilities, dtype=np.float64)
    n_labels = len(MULTI_LABEL_NAMES)
    if target_array.ndim != 2 or target_array.shape[1] != n_labels:
        raise ValueError(f"targets must have shape [N, {n_labels}], got {target_array.shape}")
    if prob_array.shape != target_array.shape:
        raise ValueError(
            f"probabilities must have the shape of targets {target_array.shape}, got {prob_array.shape}"
        )
    if target_array.shape[0] == 0:
        raise ValueError("targets and probabilities are empty: there is nothing to score")
    target_array = binary_flags(target_array, "targets")
    if np.any(outside := ~((prob_array >= 0) & (prob_array <= 1))):  # NaN too
        bad = prob_array[outside][0]
        raise ValueError(f"probabilities must lie in [0, 1] (apply a sigmoid to logits first), got {bad!r}")
    return target_array, prob_array


def label_probabilities(class_probabilities: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The ``[N, 2]`` (crackle, wheeze) probabilities of four-class ones: crackle = crackle + both."""
    probabilities = np.asarray(class_probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES:
        raise ValueError(f"class probabilities must have shape [N, {NUM_CLASSES}], got {probabilities.shape}")
    return probabilities @ classes_to_flags(np.arange(NUM_CLASSES)).astype(np.float64)


def roc_auc(targets: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (ties count half); ``nan`` when ``targets`` hold one class."""
    target_array, score_array = binary_targets_and_scores(targets, scores)
    return float(_rank_aucs(target_array, score_array[:, None])[0])


def roc_aucs(targets: Sequence[int] | np.ndarray, scores: np.ndarray) -> np.ndarray:
    """:func:`roc_auc` of each column of ``scores`` ``[N, columns]`` against the ``N`` ``targets``."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"scores must have shape [N, columns], got {values.shape}")
    target_array, _ = binary_targets_and_scores(targets, values[:, :1])
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain a non-finite value")
    return _rank_aucs(target_array, values)


def _rank_aucs(target_array: np.ndarray, score_array: np.ndarray) -> np.ndarray:
    n_pos = int(target_array.sum())
    n_neg = len(target_array) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(score_array.shape[1], np.nan)
    from scipy.stats import rankdata

    # tied scores share their mean rank; the ranks are halves, so their sums are exact in any order
    rank_sum = rankdata(score_array, axis=0)[target_array == 1].sum(axis=0)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def ranked_counts(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores, descending, and the true / false positives when each is the threshold (>=)."""
    truth, values = binary_targets_and_scores(targets, scores)
    order = np.argsort(-values, kind="mergesort")
    ordered, labels = values[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), ordered.size - 1]  # the last row of each distinct score
    true_positives = np.cumsum(labels)[last]
    return ordered[last], true_positives, last + 1 - true_positives


def average_precision(targets: Any, scores: Any) -> float:
    """Average precision (scikit-learn's ``average_precision_score``); ``nan`` without a positive."""
    _, tps, fps = ranked_counts(targets, scores)
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    return float(np.sum(np.diff(np.r_[0, tps]) / tps[-1] * tps / (tps + fps)))


def multilabel_scores(
    targets: Any,
    probabilities: Any,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    warn: bool = True,
) -> dict[str, float]:
    """Scores of (crackle, wheeze) probabilities against 0/1 targets, both ``[N, 2]``.

    A label is present when its probability is ``>= threshold``. Keys: per label ``precision_<l>``,
    ``recall_<l>``, ``f1_<l>``, ``auc_<l>``; ``macro_*`` and ``micro_*`` precision, recall and F1;
    ``threshold_crackle`` / ``threshold_wheeze``; the ICBHI scores of the mapped classes, the four-class
    per-class values prefixed ``class_``. Undefined values as in :func:`respira.metrics.icbhi.icbhi_scores`.
    """
    target_array, prob_array = validate_multilabel(targets, probabilities)
    threshold_values = validate_thresholds(thresholds)
    predicted = present(prob_array, threshold_values).astype(np.int64)

    tps, fps, fns = (
        np.sum(target_array * predicted, axis=0),
        np.sum((1 - target_array) * predicted, axis=0),
        np.sum(target_array * (1 - predicted), axis=0),
    )
    per_label = {
        "precision": [_ratio(tp, tp + fp) for tp, fp in zip(tps, fps, strict=True)],
        "recall": [_ratio(tp, tp + fn) for tp, fn in zip(tps, fns, strict=True)],
        "f1": [_ratio(2 * tp, 2 * tp + fp + fn) for tp, fp, fn in zip(tps, fps, fns, strict=True)],
    }
    scores: dict[str, float] = {}
    for index, name in enumerate(MULTI_LABEL_NAMES):
        scores |= {f"{kind}_{name}": values[index] for kind, values in per_label.items()}
        scores[f"auc_{name}"] = roc_auc(target_array[:, index], prob_array[:, index])
    scores |= {f"macro_{kind}": _mean_defined(values) for kind, values in per_label.items()}
    tp, fp, fn = int(tps.sum()), int(fps.sum()), int(fns.sum())
    scores["micro_precision"] = _ratio(tp, tp + fp)
    scores["micro_recall"] = _ratio(tp, tp + fn)
    scores["micro_f1"] = _ratio(2 * tp, 2 * tp + fp + fn)
    for name, value in zip(MULTI_LABEL_NAMES, threshold_values, strict=True):
        scores[f"threshold_{name}"] = value

    true_classes = flags_to_classes(target_array)
    predicted_classes = flags_to_classes(predicted)
    for key, value in icbhi_scores(true_classes, predicted_classes, warn=False).items():
        per_class = key.startswith(
            ("precision_", "recall_", "f1_", "macro_f1")
        )  # would meet the per-label keys
        scores["class_" + key if per_class else key] = value
    if warn:
        _warn_undefined(scores)
    return scores
