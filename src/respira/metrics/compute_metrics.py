"""``compute_metrics`` for ``transformers.Trainer``: ICBHI scores of single- and multi-label models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.decision import decide_flags, validate_thresholds
from ..models.respira.labels import (
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    NUM_CLASSES,
    PROBLEM_TYPES,
    SINGLE_LABEL,
    classes_to_flags,
    flags_to_classes,
)
from .baselines import trivial_baselines
from .icbhi import icbhi_scores, per_patient_icbhi
from .multilabel import label_probabilities, multilabel_scores, roc_auc
from .thresholds import check_objective, choose_thresholds, sigmoid

if TYPE_CHECKING:
    from transformers import EvalPrediction


def _first(value: Any) -> Any:
    """The first element of a tuple of arrays (extra model outputs, extra label columns)."""
    while isinstance(value, tuple) and value and not np.isscalar(value[0]):
        value = value[0]
    return value


def _scores(
    eval_pred: EvalPrediction,
    problem_type: str | None,
    thresholds: Sequence[float] | None,
    patient_ids: np.ndarray | None,
    objective: str = "fixed",
) -> dict[str, float]:
    logits = np.asarray(_first(eval_pred.predictions), dtype=np.float64)
    labels = np.asarray(_first(eval_pred.label_ids))
    widths = {SINGLE_LABEL: NUM_CLASSES, MULTI_LABEL: len(MULTI_LABEL_NAMES)}
    kind = problem_type or next((k for k, width in widths.items() if logits.shape[1:] == (width,)), None)
    if logits.ndim != 2 or kind is None or logits.shape[1] != widths[kind]:
        raise ValueError(
            f"logits must have shape [N, {NUM_CLASSES}] (single-label normal/crackle/wheeze/both) or [N, "
            f"{len(MULTI_LABEL_NAMES)}] (multi-label crackle/wheeze) as problem_type says, got {logits.shape}"
        )
    true_classes = labels if labels.ndim == 1 else np.asarray(flags_to_classes(labels))
    if kind == SINGLE_LABEL:
        if thresholds is not None:
            raise ValueError("thresholds apply to multi-label (crackle, wheeze) models only")
        from scipy.special import softmax

        predicted_classes = logits.argmax(axis=1)
        scores = icbhi_scores(true_classes, predicted_classes)
        per_label = label_probabilities(softmax(logits, axis=1))
        true_flags = classes_to_flags(true_classes)
        for index, name in enumerate(MULTI_LABEL_NAMES):  # threshold-free, comparable with multi-label
            scores[f"auc_{name}"] = roc_auc(true_flags[:, index], per_label[:, index])
    else:
        flags = labels if labels.ndim == 2 else classes_to_flags(labels)
        probabilities = sigmoid(logits)
        choice = choose_thresholds(flags, probabilities, objective, fallback=validate_thresholds(thresholds))
        scores = multilabel_scores(flags, probabilities, choice.thresholds)
        if objective != "fixed":
            scores["thresholds_tuned"] = float(sum(choice.tuned))
        predicted_classes = decide_flags(probabilities, choice.thresholds).classes
    if patient_ids is not None:
        scores.update(per_patient_icbhi(true_classes, predicted_classes, patient_ids))
    scores.update(trivial_baselines(true_classes, patient_ids=patient_ids))
    return {key: float(value) for key, value in scores.items()}


def make_compute_metrics(
    *,
    problem_type: str | None = None,
    thresholds: Sequence[float] | None = None,
    patient_ids: Sequence[Any] | np.ndarray | None = None,
    threshold_objective: str = "fixed",
) -> Callable[[EvalPrediction], dict[str, float]]:
    """A ``compute_metrics`` for ``transformers.Trainer``; ``problem_type=None`` reads it from the logits,
    a ``threshold_objective`` other than ``"fixed"`` tunes the thresholds on the evaluated data itself, and
    ``patient_ids`` (one per example) add the :func:`respira.metrics.per_patient_icbhi` keys. Labels:
    ``[N]`` or ``[N, 2]``."""
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES} or None, got {problem_type!r}")
    check_objective(threshold_objective)
    thresholds = None if thresholds is None else validate_thresholds(thresholds)
    ids = None if patient_ids is None else np.asarray(patient_ids)

    def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
        return _scores(eval_pred, problem_type, thresholds, ids, threshold_objective)

    return compute_metrics


def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    """Default ``compute_metrics``: problem type from the logits, thresholds 0.5, no patients."""
    return _scores(eval_pred, None, None, None)
