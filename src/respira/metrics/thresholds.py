"""Decision thresholds of multi-label (crackle, wheeze) models, tuned on validation data: ``"icbhi_score"``
(both jointly), ``"f1"`` (each label its own) or ``"fixed"``. Candidates: 0.5, the midpoints between distinct
probabilities and values beyond them all; ties go to the candidate closest to 0.5, then the smaller.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models.respira.labels import MULTI_LABEL_NAMES
from .multilabel import DEFAULT_THRESHOLDS, validate_multilabel

THRESHOLD_OBJECTIVES: tuple[str, ...] = ("icbhi_score", "f1", "fixed")
"""What decision thresholds are tuned for (``"fixed"``: not tuned)."""
MAX_CANDIDATES = 1000
"""Most midpoint candidates per label (plus 0.5 and the two extremes)."""
_TIE = 1e-12


def check_objective(objective: str) -> None:
    """``ValueError`` unless ``objective`` is one of :data:`THRESHOLD_OBJECTIVES`."""
    if objective not in THRESHOLD_OBJECTIVES:
        raise ValueError(
            f"threshold_objective must be one of {', '.join(THRESHOLD_OBJECTIVES)}, got {objective!r}"
        )


def sigmoid(logits: Any) -> np.ndarray:
    """The logistic function in float64, numerically stable."""
    values = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def candidate_thresholds(probabilities: Sequence[float] | np.ndarray) -> np.ndarray:
    """Sorted candidate thresholds for one label's probabilities (see the module docstring)."""
    values = np.unique(np.asarray(probabilities, dtype=np.float64).reshape(-1))
    if values.size == 0:
        raise ValueError("no probabilities to choose thresholds from")
    midpoints = (values[:-1] + values[1:]) / 2.0
    if midpoints.size > MAX_CANDIDATES:
        ranks = np.round(np.linspace(0, midpoints.size - 1, MAX_CANDIDATES)).astype(np.int64)
        midpoints = midpoints[ranks]
    below = values[0] / 2.0  # every probability is >= it: all cycles positive
    above = min((values[-1] + 1.0) / 2.0, 1.0)  # above every probability < 1: none positive
    return np.unique(np.concatenate([[below, 0.5, above], midpoints]))


def _best(values: np.ndarray, distances: np.ndarray) -> int:
    """Index of the maximum of ``values`` (NaN never wins); ties to the smallest ``distances``, then first."""
    finite = np.where(np.isnan(values), -np.inf, values)
    best = finite.max()
    if not np.isfinite(best):
        raise ValueError("the objective is undefined at every candidate threshold")
    candidates = np.flatnonzero(finite >= best - _TIE)
    return int(candidates[np.argmin(distances[candidates])])


def _f1(target: np.ndarray, predicted: np.ndarray, name: str) -> np.ndarray:
    """F1 of one label at each candidate; ``predicted[g, n]``: cycle n positive at candidate g."""
    positive = target == 1
    n_positive = int(positive.sum())
    tp = predicted[:, positive].sum(axis=1).astype(np.float64)
    fp = predicted[:, ~positive].sum(axis=1).astype(np.float64)
    if n_positive == 0:
        raise ValueError(f"cannot tune the {name!r} threshold for F1: the targets have no positive")
    return 2.0 * tp / (2.0 * tp + fp + (n_positive - tp))


def _joint_icbhi(
    targets: np.ndarray, crackle: np.ndarray, wheeze_probabilities: np.ndarray, wheeze_grid: np.ndarray
) -> np.ndarray:
    """ICBHI score at every (crackle, wheeze) candidate pair, by cumulative sums."""
    normal = (targets[:, 0] == 0) & (targets[:, 1] == 0)
    n_normal, n_abnormal = int(normal.sum()), int((~normal).sum())
    if n_normal == 0 or n_abnormal == 0:
        raise ValueError(
            "cannot tune thresholds for icbhi_score: the targets need both normal and abnormal cycles "
            f"(got {n_normal} normal, {n_abnormal} abnormal)"
        )
    weight = np.where(normal, 0.5 / n_normal, 0.5 / n_abnormal)  # Sp and strict Se are cycle shares
    crackle_right = crackle == (targets[:, 0] == 1)[None, :]  # normal cycles: target flags are 0
    wheeze_wanted = targets[:, 1] == 1
    # a cycle counts when both flags are right: with wheeze off when it is not wanted, on when it is
    off = np.where(crackle_right & ~wheeze_wanted[None, :], weight, 0.0)
    on = np.where(crackle_right & wheeze_wanted[None, :], weight, 0.0)
    order = np.argsort(-wheeze_probabilities, kind="stable")
    gains = np.cumsum((on - off)[:, order], axis=1)
    gains = np.concatenate([np.zeros((gains.shape[0], 1)), gains], axis=1)
    flagged = wheeze_probabilities.size - np.searchsorted(
        np.sort(wheeze_probabilities), wheeze_grid, side="left"
    )
    return off.sum(axis=1)[:, None] + gains[:, flagged]


def tune_thresholds(
    targets: Any,
    probabilities: Any,
    *,
    metric: str = "icbhi_score",
    domains: Sequence[Any] | np.ndarray | None = None,
) -> tuple[float, float]:
    """The (crackle, wheeze) thresholds that maximise ``metric`` (``"icbhi_score"`` or ``"f1"``) on validation
    data, or its minimum over ``domains``. ``ValueError`` when the metric is undefined on these targets."""
    target_array, prob_array = validate_multilabel(targets, probabilities)
    if metric not in THRESHOLD_OBJECTIVES or metric == "fixed":
        raise ValueError(f"metric must be 'icbhi_score' or 'f1', got {metric!r}")
    members = _domain_members(domains, len(target_array))
    if metric == "f1":
        crackle, wheeze = (
            _f1_threshold(target_array[:, index], prob_array[:, index], name, members)
            for index, name in enumerate(MULTI_LABEL_NAMES)
        )
        return crackle, wheeze
    grids = [candidate_thresholds(prob_array[:, index]) for index in range(2)]
    crackle_on = prob_array[None, :, 0] >= grids[0][:, None]

    def joint(rows: np.ndarray) -> np.ndarray:
        return _joint_icbhi(target_array[rows], crackle_on[:, rows], prob_array[rows, 1], grids[1])

    score = _worst(joint, members)
    pair_distance = np.hypot(np.abs(grids[0] - 0.5)[:, None], np.abs(grids[1] - 0.5)[None, :])
    i, j = np.unravel_index(_best(score.reshape(-1), pair_distance.reshape(-1)), score.shape)
    return float(grids[0][i]), float(grids[1][j])


def _f1_threshold(
    target: np.ndarray, probabilities: np.ndarray, name: str, members: list[np.ndarray]
) -> float:
    """The candidate threshold that maximises one label's F1 (its minimum over the domains)."""
    grid = candidate_thresholds(probabilities)
    predicted = probabilities[None, :] >= grid[:, None]
    values = _worst(lambda rows: _f1(target[rows], predicted[:, rows], name), members)
    return float(grid[_best(values, np.abs(grid - 0.5))])


def _domain_members(domains: Sequence[Any] | np.ndarray | None, size: int) -> list[np.ndarray]:
    """The rows of each domain (one group of every row when ``domains`` is ``None``)."""
    if domains is None:
        return [np.arange(size)]
    names = np.asarray([str(domain) for domain in domains])
    if names.shape != (size,):
        raise ValueError(f"domains must give one domain per example ({size}), got {names.size}")
    return [np.flatnonzero(names == name) for name in np.unique(names)]


def _worst(objective: Any, members: list[np.ndarray]) -> np.ndarray:
    """The elementwise minimum of ``objective`` over the domains where it is defined."""
    values, errors = [], []
    for rows in members:
        try:
            values.append(objective(rows))
        except ValueError as error:
            errors.append(error)
    if not values:
        raise errors[0]
    return np.minimum.reduce(values)


@dataclass(frozen=True)
class ThresholdChoice:
    """Thresholds chosen by :func:`choose_thresholds`: the values, and which labels were tuned."""

    thresholds: tuple[float, float]
    tuned: tuple[bool, bool]


def choose_thresholds(
    targets: Any,
    probabilities: Any,
    objective: str = "icbhi_score",
    *,
    fallback: Sequence[float] = DEFAULT_THRESHOLDS,
    domains: Sequence[Any] | np.ndarray | None = None,
) -> ThresholdChoice:
    """:func:`tune_thresholds` where possible: a label the data cannot tune keeps ``fallback``."""
    check_objective(objective)
    base = (float(fallback[0]), float(fallback[1]))
    if objective == "fixed":
        return ThresholdChoice(base, (False, False))
    target_array, prob_array = validate_multilabel(targets, probabilities)
    if objective == "icbhi_score":
        try:
            return ThresholdChoice(tune_thresholds(target_array, prob_array, domains=domains), (True, True))
        except ValueError:
            return ThresholdChoice(base, (False, False))
    members = _domain_members(domains, len(target_array))
    chosen, tuned = list(base), [False, False]
    for index, name in enumerate(MULTI_LABEL_NAMES):
        with suppress(ValueError):  # a label the data cannot tune keeps its fallback
            chosen[index] = _f1_threshold(target_array[:, index], prob_array[:, index], name, members)
            tuned[index] = True
    return ThresholdChoice((chosen[0], chosen[1]), (tuned[0], tuned[1]))
