"""Scores for multi-label (crackle, wheeze) models, and the mapping of their flags to ICBHI classes.

A multi-label model outputs two logits per cycle, for "crackle present" and "wheeze present".
With per-label thresholds the two flags map to the four ICBHI classes by
:func:`respira.labels.flags_to_classes`
(0,0 → normal, 1,0 → crackle, 0,1 → wheeze, 1,1 → both), so the official ICBHI scores are reported
for these models too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..labels import MULTI_LABEL_NAMES, flags_to_classes
from .icbhi import _mean_defined, _ratio, _warn_undefined, icbhi_scores

DEFAULT_THRESHOLDS: tuple[float, float] = (0.5, 0.5)
DEFAULT_GRID: np.ndarray = np.round(np.linspace(0.01, 0.99, 99), 2)
"""Thresholds searched by :func:`tune_thresholds`: 0.01, 0.02, ..., 0.99."""

# Mapped four-class keys that would collide with the per-label keys get this prefix.
_CLASS_PREFIX = "class_"
_UNPREFIXED_CLASS_KEYS = (
    "specificity",
    "sensitivity",
    "icbhi_score",
    "binary_sensitivity",
    "binary_icbhi_score",
    "accuracy",
    "balanced_accuracy",
)


def _check_binary(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype == bool:
        return values.astype(np.int64)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be 0/1 flags, got dtype {values.dtype}")
    bad = ~np.isin(values, (0, 1))
    if np.any(bad):
        raise ValueError(f"{name} must be 0/1 flags, got {values[bad].reshape(-1)[0].item()!r}")
    return values.astype(np.int64)


def _validate_multilabel(targets: Any, probabilities: Any) -> tuple[np.ndarray, np.ndarray]:
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
    target_array = _check_binary(target_array, "targets")
    if not np.all(np.isfinite(prob_array)):
        raise ValueError("probabilities contain a non-finite value")
    if np.any((prob_array < 0) | (prob_array > 1)):
        bad = prob_array[(prob_array < 0) | (prob_array > 1)][0]
        raise ValueError(f"probabilities must lie in [0, 1] (apply a sigmoid to logits first), got {bad!r}")
    return target_array, prob_array


def _validate_thresholds(thresholds: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(t) for t in thresholds)
    if len(values) != len(MULTI_LABEL_NAMES):
        raise ValueError(f"expected {len(MULTI_LABEL_NAMES)} thresholds (crackle, wheeze), got {len(values)}")
    for value in values:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"thresholds must lie in [0, 1], got {value!r}")
    return values  # type: ignore[return-value]


def roc_auc(targets: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``targets``, by the Mann-Whitney U statistic.

    AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋), where R₊ is the sum of the ranks of the positive examples
    among all scores, tied scores getting their average rank (so a tie between a positive and a
    negative counts one half). ``nan`` when ``targets`` hold a single class.
    """
    target_array = _check_binary(np.asarray(targets).reshape(-1), "targets")
    score_array = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(score_array) != len(target_array):
        raise ValueError(
            f"targets and scores have different lengths: {len(target_array)} != {len(score_array)}"
        )
    if not np.all(np.isfinite(score_array)):
        raise ValueError("scores contain a non-finite value")
    n_pos = int(target_array.sum())
    n_neg = len(target_array) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(score_array, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # 1-based rank of the last member of each tie group
    average_ranks = ends - (counts - 1) / 2.0
    ranks = average_ranks[inverse.reshape(-1)]
    rank_sum = float(ranks[target_array == 1].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _binary_counts(targets: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int]:
    tp = int(np.sum((targets == 1) & (predicted == 1)))
    fp = int(np.sum((targets == 0) & (predicted == 1)))
    fn = int(np.sum((targets == 1) & (predicted == 0)))
    return tp, fp, fn


def multilabel_scores(
    targets: Any,
    probabilities: Any,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    warn: bool = True,
) -> dict[str, float]:
    """Scores of (crackle, wheeze) probabilities against 0/1 targets, both ``[N, 2]``.

    A label is predicted present when its probability is ``>= threshold``. Keys:

    - per label ``<l>`` in ``("crackle", "wheeze")``: ``precision_<l>``, ``recall_<l>``, ``f1_<l>``
      (at the threshold) and ``auc_<l>`` (threshold-free ROC-AUC, :func:`roc_auc`);
    - ``macro_precision``, ``macro_recall``, ``macro_f1`` (mean of the defined per-label values)
      and ``micro_precision``, ``micro_recall``, ``micro_f1`` (from the pooled counts of both labels);
    - ``threshold_crackle``, ``threshold_wheeze``: the thresholds used;
    - the ICBHI scores of the flags mapped to four classes by :func:`~respira.labels.flags_to_classes`:
      ``specificity``, ``sensitivity`` (official strict), ``icbhi_score``, ``binary_sensitivity``,
      ``binary_icbhi_score``, ``accuracy`` (exact match of both flags), ``balanced_accuracy``
      without prefix; the four-class per-class values with a ``class_`` prefix
      (``class_precision_<class>``, ``class_recall_<class>``, ``class_f1_<class>``,
      ``class_macro_f1``) because ``precision_crackle`` here means "crackle present".

    Undefined values follow :func:`respira.metrics.icbhi.icbhi_scores`: an empty denominator gives
    ``nan`` (with an :class:`~respira.metrics.icbhi.UndefinedMetricWarning` unless ``warn=False``),
    ``auc_<l>`` is ``nan`` when label ``l`` has a single class in ``targets``, and averages use the
    defined terms only.
    """
    target_array, prob_array = _validate_multilabel(targets, probabilities)
    threshold_values = _validate_thresholds(thresholds)
    predicted = (prob_array >= np.asarray(threshold_values)).astype(np.int64)

    scores: dict[str, float] = {}
    precisions: list[float] = []
    recalls: list[float] = []
    f1s: list[float] = []
    total_tp = total_fp = total_fn = 0
    for index, name in enumerate(MULTI_LABEL_NAMES):
        tp, fp, fn = _binary_counts(target_array[:, index], predicted[:, index])
        total_tp, total_fp, total_fn = total_tp + tp, total_fp + fp, total_fn + fn
        precision, recall, f1 = _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(f1)
        scores[f"precision_{name}"] = precision
        scores[f"recall_{name}"] = recall
        scores[f"f1_{name}"] = f1
        scores[f"auc_{name}"] = roc_auc(target_array[:, index], prob_array[:, index])
    scores["macro_precision"] = _mean_defined(precisions)
    scores["macro_recall"] = _mean_defined(recalls)
    scores["macro_f1"] = _mean_defined(f1s)
    scores["micro_precision"] = _ratio(total_tp, total_tp + total_fp)
    scores["micro_recall"] = _ratio(total_tp, total_tp + total_fn)
    scores["micro_f1"] = _ratio(2 * total_tp, 2 * total_tp + total_fp + total_fn)
    for name, value in zip(MULTI_LABEL_NAMES, threshold_values, strict=True):
        scores[f"threshold_{name}"] = value

    true_classes = flags_to_classes(target_array)
    predicted_classes = flags_to_classes(predicted)
    for key, value in icbhi_scores(true_classes, predicted_classes, warn=False).items():
        scores[key if key in _UNPREFIXED_CLASS_KEYS else _CLASS_PREFIX + key] = value
    if warn:
        _warn_undefined(scores)
    return scores


def _best_index(values: np.ndarray, distances: np.ndarray) -> int:
    """Index of the maximum of ``values`` (NaN never wins); ties go to the smallest ``distances``."""
    finite = np.where(np.isnan(values), -np.inf, values)
    best = finite.max()
    if not np.isfinite(best):
        raise ValueError("the metric is undefined at every threshold of the grid")
    candidates = np.flatnonzero(finite >= best - 1e-12)
    return int(candidates[np.argmin(distances[candidates])])


def tune_thresholds(
    targets: Any,
    probabilities: Any,
    *,
    metric: Literal["f1", "icbhi_score"] = "f1",
    grid: Sequence[float] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Choose the (crackle, wheeze) thresholds on VALIDATION data; never tune them on the test set.

    Tuning on test data leaks the test labels into the model and inflates every reported score.
    Tune on a validation split (e.g. carved patient-wise from the training set), then pass the
    thresholds to :func:`multilabel_scores` / ``make_compute_metrics(thresholds=...)`` for the test set.

    - ``metric="f1"``: each label's threshold independently maximises that label's F1.
    - ``metric="icbhi_score"``: both thresholds jointly maximise the official ICBHI score of the
      flags mapped to four classes (all pairs of grid values are tried).

    ``grid`` is the candidate thresholds (default 0.01, 0.02, ..., 0.99). Ties between thresholds with
    the same best value are broken toward the default 0.5 (for the joint search, the pair closest
    to (0.5, 0.5)), then toward the smaller threshold. Raises ``ValueError`` when the metric cannot
    be tuned: a label without positive targets (``"f1"``), or data without normal or without
    abnormal cycles (``"icbhi_score"``).
    """
    target_array, prob_array = _validate_multilabel(targets, probabilities)
    grid_array = DEFAULT_GRID if grid is None else np.asarray(grid, dtype=np.float64).reshape(-1)
    if grid_array.size == 0:
        raise ValueError("grid is empty")
    if not np.all(np.isfinite(grid_array)) or np.any((grid_array < 0) | (grid_array > 1)):
        raise ValueError("grid thresholds must be finite values in [0, 1]")
    grid_array = np.unique(grid_array)  # sorted, so ties after distance go to the smaller threshold
    distance = np.abs(grid_array - 0.5)
    # predicted[g, n, l]: label l of cycle n is predicted present at threshold grid_array[g]
    predicted = prob_array[None, :, :] >= grid_array[:, None, None]

    if metric == "f1":
        chosen: list[float] = []
        for index, name in enumerate(MULTI_LABEL_NAMES):
            positive = target_array[:, index] == 1
            if not positive.any():
                raise ValueError(f"cannot tune the {name!r} threshold for F1: the targets have no positive")
            tp = predicted[:, positive, index].sum(axis=1)
            fp = predicted[:, ~positive, index].sum(axis=1)
            fn = positive.sum() - tp
            f1 = 2.0 * tp / (2.0 * tp + fp + fn)  # denominator >= fn + tp = number of positives > 0
            chosen.append(float(grid_array[_best_index(f1, distance)]))
        return chosen[0], chosen[1]

    if metric == "icbhi_score":
        normal = (target_array[:, 0] == 0) & (target_array[:, 1] == 0)
        n_normal, n_abnormal = int(normal.sum()), int((~normal).sum())
        if n_normal == 0 or n_abnormal == 0:
            raise ValueError(
                "cannot tune thresholds for icbhi_score: the targets need both normal and abnormal cycles "
                f"(got {n_normal} normal, {n_abnormal} abnormal)"
            )
        # Specificity at (i, j): normal cycles with no crackle at grid i and no wheeze at grid j.
        no_crackle = (~predicted[:, normal, 0]).astype(np.float64)
        no_wheeze = (~predicted[:, normal, 1]).astype(np.float64)
        specificity = no_crackle @ no_wheeze.T / n_normal
        # Strict sensitivity at (i, j): abnormal cycles whose two flags are both right.
        abnormal_targets = target_array[~normal].astype(bool)
        crackle_right = (predicted[:, ~normal, 0] == abnormal_targets[None, :, 0]).astype(np.float64)
        wheeze_right = (predicted[:, ~normal, 1] == abnormal_targets[None, :, 1]).astype(np.float64)
        sensitivity = crackle_right @ wheeze_right.T / n_abnormal
        score = (specificity + sensitivity) / 2.0
        pair_distance = np.hypot(distance[:, None], distance[None, :])
        flat = _best_index(score.reshape(-1), pair_distance.reshape(-1))
        i, j = np.unravel_index(flat, score.shape)
        return float(grid_array[i]), float(grid_array[j])

    raise ValueError(f"metric must be 'f1' or 'icbhi_score', got {metric!r}")
