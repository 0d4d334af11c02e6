"""The trivial classifiers every model must beat, scored on the same cycles as the model.

- **all-normal**: predicts ``normal`` for every cycle. Specificity 1, sensitivity 0, so its ICBHI score
  is 0.5 whenever the split has normal and abnormal cycles. Its *per-patient* score is not 0.5: a
  patient with only normal cycles scores 1, one with only abnormal cycles 0 (see
  :func:`~respira.metrics.icbhi.per_patient_icbhi`), so a per-patient score means something only
  beside this baseline.
- **class-prior**: draws each cycle's class at random from the class prior (the class shares of the
  evaluated split itself unless others are given). Its *expected* scores are reported
  (no random draw): specificity = prior(normal), strict sensitivity = Σ over abnormal classes c of
  share of c among the abnormal cycles × prior(c).

Keys (all fractions in [0, 1], undefined values ``nan`` as in :func:`~respira.metrics.icbhi_scores`):
``baseline_all_normal_{specificity,sensitivity,icbhi_score}``,
``baseline_class_prior_{specificity,sensitivity,icbhi_score}`` and, with patient ids,
``baseline_all_normal_patient_icbhi_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..labels import NUM_CLASSES
from .icbhi import (
    NORMAL,
    _mean_defined,
    _ratio,
    icbhi_scores,
    per_patient_icbhi,
    validate_labels_and_predictions,
)

__all__ = ["BASELINE_PREFIX", "class_prior", "trivial_baselines"]

BASELINE_PREFIX = "baseline_"
"""Prefix of every baseline key."""
_HEADLINE = ("specificity", "sensitivity", "icbhi_score")


def class_prior(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """The share of each of the four classes among ``labels`` (class indices 0..3)."""
    array, _ = validate_labels_and_predictions(labels, labels, NUM_CLASSES)
    return np.bincount(array, minlength=NUM_CLASSES) / len(array)


def trivial_baselines(
    labels: Sequence[int] | np.ndarray,
    *,
    prior: Sequence[float] | np.ndarray | None = None,
    patient_ids: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, float]:
    """Scores of the all-normal and class-prior classifiers on ``labels`` (class indices 0..3).

    ``prior``: four class shares (default: those of ``labels``); ``patient_ids``: one per cycle, adds
    ``baseline_all_normal_patient_icbhi_score``. See the module docstring for the keys.
    """
    labels_array, _ = validate_labels_and_predictions(labels, labels, NUM_CLASSES)
    shares = class_prior(labels_array) if prior is None else np.asarray(prior, dtype=np.float64)
    if shares.shape != (NUM_CLASSES,) or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"prior must be {NUM_CLASSES} non-negative class shares summing to 1, got {shares}")
    all_normal = icbhi_scores(labels_array, np.full_like(labels_array, NORMAL), warn=False)
    result = {f"{BASELINE_PREFIX}all_normal_{key}": float(all_normal[key]) for key in _HEADLINE}
    counts = np.bincount(labels_array, minlength=NUM_CLASSES)
    n_abnormal = int(counts.sum() - counts[NORMAL])
    specificity = float(shares[NORMAL]) if counts[NORMAL] > 0 else float("nan")
    abnormal = np.arange(NUM_CLASSES) != NORMAL
    sensitivity = _ratio(float(np.dot(counts[abnormal], shares[abnormal])), n_abnormal)
    result[f"{BASELINE_PREFIX}class_prior_specificity"] = specificity
    result[f"{BASELINE_PREFIX}class_prior_sensitivity"] = sensitivity
    result[f"{BASELINE_PREFIX}class_prior_icbhi_score"] = _mean_defined([specificity, sensitivity])
    if patient_ids is not None:
        patients = per_patient_icbhi(
            labels_array, np.full_like(labels_array, NORMAL), patient_ids, warn=False
        )
        result[f"{BASELINE_PREFIX}all_normal_patient_icbhi_score"] = float(patients["patient_icbhi_score"])
    return result
