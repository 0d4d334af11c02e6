"""Four-class ICBHI 2017 scores; definitions and undefined values: :mod:`respira.metrics`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..models.respira.labels import CLASS_NAMES, NUM_CLASSES

NORMAL = 0  # index of the ``normal`` class; every other class is abnormal


class UndefinedMetricWarning(RuntimeWarning):
    """A metric had an empty denominator and is reported as ``nan``."""


def _as_index_array(values: Any, name: str, num_classes: int) -> np.ndarray:
    """``values`` as a 1-D int64 array of class indices in ``0..num_classes-1`` (ValueError otherwise)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {array.shape}")
    if array.size and array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    bad_mask = ~np.isin(array, np.arange(num_classes))  # out of range, not whole or not finite
    if np.any(bad_mask):
        bad_values = sorted({v.item() for v in array[bad_mask]})
        shown = ", ".join(repr(v) for v in bad_values[:5]) + (", ..." if len(bad_values) > 5 else "")
        raise ValueError(
            f"{name} contains value(s) outside 0..{num_classes - 1}: {shown} "
            f"(first at position {int(np.flatnonzero(bad_mask)[0])})"
        )
    return array.astype(np.int64)


def validate_labels_and_predictions(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    num_classes: int = NUM_CLASSES,
) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``predictions`` as equal-length int64 class indices; else ``ValueError``."""
    labels_array = _as_index_array(labels, "labels", num_classes)
    predictions_array = _as_index_array(predictions, "predictions", num_classes)
    if len(labels_array) != len(predictions_array):
        raise ValueError(
            f"labels and predictions have different lengths: {len(labels_array)} != {len(predictions_array)}"
        )
    if len(labels_array) == 0:
        raise ValueError("labels and predictions are empty: there is nothing to score")
    return labels_array, predictions_array


def confusion_matrix(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    num_classes: int = NUM_CLASSES,
) -> np.ndarray:
    """The ``[num_classes, num_classes]`` confusion matrix: rows true, columns predicted classes."""
    labels, predictions = validate_labels_and_predictions(labels, predictions, num_classes)
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or ``nan`` when the denominator is zero."""
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def _ratios(numerator: Any, denominator: Any) -> np.ndarray:
    """:func:`_ratio` of arrays, element by element."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _mean_defined(values: Sequence[Any]) -> Any:
    """Mean of the non-NaN ``values`` (floats, or arrays of one shape taken element by element); ``nan``
    where none is defined."""
    stacked = np.stack([np.asarray(value, np.float64) for value in values], axis=-1)
    defined = ~np.isnan(stacked)
    count = defined.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, np.where(defined, stacked, 0.0).sum(axis=-1) / count, np.nan)
    return float(means) if means.ndim == 0 else means


def _warn_undefined(scores: dict[str, float], keys: Sequence[str] | None = None) -> None:
    """Warn (pointing at the caller of the public function that calls this) about NaN ``scores``."""
    undefined = [k for k in (keys if keys is not None else scores) if np.isnan(scores[k])]
    if undefined:
        warnings.warn(
            f"metric(s) with an empty denominator are reported as nan: {', '.join(undefined)}",
            UndefinedMetricWarning,
            stacklevel=3,
        )


def _weighted_confusion(labels: Any, predictions: Any, weights: Any) -> np.ndarray:
    """``[resamples, classes, classes]``: the confusion matrix of each row of ``weights`` ``[resamples,
    n]``, each cycle counted as often as its weight."""
    labels, predictions = validate_labels_and_predictions(labels, predictions, NUM_CLASSES)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != labels.size:
        raise ValueError(f"weights must have shape [resamples, {labels.size}], got {weights.shape}")
    cells = np.zeros((labels.size, NUM_CLASSES * NUM_CLASSES))
    cells[np.arange(labels.size), labels * NUM_CLASSES + predictions] = 1.0
    return (weights @ cells).reshape(-1, NUM_CLASSES, NUM_CLASSES)


def _specificity_sensitivity(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Specificity and sensitivity of the confusion matrices ``cm``, with the abnormal block and count."""
    total = cm.sum(axis=(-2, -1))
    n_normal = cm[..., NORMAL, :].sum(axis=-1)
    n_abnormal = total - n_normal
    abnormal = cm[..., NORMAL + 1 :, NORMAL + 1 :]
    specificity = _ratios(cm[..., NORMAL, NORMAL], n_normal)
    sensitivity = _ratios(np.trace(abnormal, axis1=-2, axis2=-1), n_abnormal)
    return specificity, sensitivity, abnormal, n_abnormal


def _confusion_scores(cm: np.ndarray) -> dict[str, Any]:
    """The scores of the confusion matrices ``cm`` ``[..., classes, classes]``, each of shape ``[...]``."""
    total = cm.sum(axis=(-2, -1))
    specificity, sensitivity, abnormal, n_abnormal = _specificity_sensitivity(cm)
    binary_sensitivity = _ratios(abnormal.sum(axis=(-2, -1)), n_abnormal)
    scores: dict[str, Any] = {
        "specificity": specificity,
        "sensitivity": sensitivity,
        "icbhi_score": _mean_defined([specificity, sensitivity]),
        "binary_sensitivity": binary_sensitivity,
        "binary_icbhi_score": _mean_defined([specificity, binary_sensitivity]),
        "accuracy": _ratios(np.trace(cm, axis1=-2, axis2=-1), total),
    }
    tp, support, predicted = np.diagonal(cm, axis1=-2, axis2=-1), cm.sum(axis=-1), cm.sum(axis=-2)
    recalls = [_ratios(tp[..., i], support[..., i]) for i in range(NUM_CLASSES)]
    f1s = [_ratios(2 * tp[..., i], support[..., i] + predicted[..., i]) for i in range(NUM_CLASSES)]
    scores["balanced_accuracy"] = _mean_defined(recalls)
    for index, name in enumerate(CLASS_NAMES):
        scores[f"precision_{name}"] = _ratios(tp[..., index], predicted[..., index])
        scores[f"recall_{name}"] = recalls[index]
        scores[f"f1_{name}"] = f1s[index]
    scores["macro_f1"] = _mean_defined(f1s)
    return scores


def icbhi_scores(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    *,
    weights: np.ndarray | None = None,
    warn: bool = True,
) -> dict[str, Any]:
    """ICBHI 2017 scores of four-class ``predictions`` against ``labels`` (class indices 0..3), as
    :mod:`respira.metrics` defines them; ``warn=False``: no :class:`UndefinedMetricWarning`. ``weights``
    ``[resamples, n]`` (a bootstrap's counts): each score an array ``[resamples]``, row ``r`` counting
    cycle ``i`` ``weights[r, i]`` times (a row of ones: the plain score), never warning."""
    if weights is not None:
        return _confusion_scores(_weighted_confusion(labels, predictions, weights))
    cm = confusion_matrix(labels, predictions, NUM_CLASSES)
    scores = {key: float(value) for key, value in _confusion_scores(cm).items()}
    if warn:
        _warn_undefined(scores)
    return scores


def icbhi_parts(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    *,
    weights: np.ndarray | None = None,
) -> tuple[Any, Any, Any]:
    """:func:`icbhi_scores`' specificity, sensitivity and ``icbhi_score`` alone, the same numbers (arrays
    ``[resamples]`` with ``weights``), never warning: what a choice among many predictions reads."""
    if weights is not None:
        cm = _weighted_confusion(labels, predictions, weights)
    else:
        cm = confusion_matrix(labels, predictions, NUM_CLASSES)
    specificity, sensitivity, _, _ = _specificity_sensitivity(cm)
    score = _mean_defined([specificity, sensitivity])
    if weights is not None:
        return specificity, sensitivity, score
    return float(specificity), float(sensitivity), float(score)


def icbhi_score(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    *,
    weights: np.ndarray | None = None,
) -> Any:
    """:func:`icbhi_parts`' score alone."""
    return icbhi_parts(labels, predictions, weights=weights)[2]


def per_patient_icbhi(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    patient_ids: Sequence[Any] | np.ndarray,
    *,
    warn: bool = True,
) -> dict[str, float]:
    """Patient-averaged ICBHI scores (``patient_*`` and the patient counts): each patient weighs the same."""
    labels_array, predictions_array = validate_labels_and_predictions(labels, predictions, NUM_CLASSES)
    ids = np.asarray(patient_ids)
    if ids.ndim != 1:
        raise ValueError(f"patient_ids must be a 1-D sequence, got shape {ids.shape}")
    if len(ids) != len(labels_array):
        raise ValueError(f"patient_ids and labels have different lengths: {len(ids)} != {len(labels_array)}")
    unique_ids, patient_index = np.unique(ids, return_inverse=True)
    per_patient = [
        icbhi_scores(labels_array[patient_index == p], predictions_array[patient_index == p], warn=False)
        for p in range(len(unique_ids))
    ]
    specificities, sensitivities = (
        [scores[key] for scores in per_patient] for key in ("specificity", "sensitivity")
    )
    result: dict[str, float] = {
        "patient_specificity": _mean_defined(specificities),
        "patient_sensitivity": _mean_defined(sensitivities),
        "patient_icbhi_score": _mean_defined([scores["icbhi_score"] for scores in per_patient]),
        "num_patients": len(unique_ids),
        "num_patients_specificity": int(np.sum(~np.isnan(specificities))),
        "num_patients_sensitivity": int(np.sum(~np.isnan(sensitivities))),
    }
    if warn:
        _warn_undefined(result, ["patient_specificity", "patient_sensitivity"])
    return result
