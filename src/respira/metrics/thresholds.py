"""Decision thresholds of multi-label (crackle, wheeze) models, tuned on validation data.

A multi-label model gives two probabilities per cycle; a label is present when its probability is at
least its threshold, and the two flags map to the four ICBHI classes
(:func:`respira.labels.flags_to_classes`). The thresholds are part of the model: training tunes them
on the validation split at every evaluation used for selection (so checkpoints and seeds are compared
at their own tuned thresholds), stores the selected checkpoint's in ``config.decision_thresholds``, and
everything that decides later (test scoring, ``respira evaluate``, ``predict``, ``pipeline``, the ONNX
metadata) reads them from there.

Objectives (``threshold_objective``):

- ``"icbhi_score"`` (default): both thresholds jointly maximise the official ICBHI score of the
  mapped classes (every pair of candidates is scored, vectorised: for each crackle candidate a
  cumulative sum over the cycles sorted by wheeze probability scores every wheeze candidate at once,
  so the cost is [candidates × cycles], not [candidates² × cycles]);
- ``"f1"``: each threshold maximises its label's F1;
- ``"fixed"``: no tuning (0.5, or thresholds given explicitly).

Candidates (per label, deterministic): 0.5; the midpoints between consecutive distinct probabilities
(when there are more than ``max_candidates``, 1000 by default, the ones at evenly spaced ranks, i.e.
quantiles of the probabilities); a value below the smallest probability (every cycle positive) and one
above the largest (none). Below that limit every decision a threshold can make on the data is tried, so
the optimum found is exact. Midpoints keep every validation probability strictly away from the
chosen threshold, and 0.5 being a candidate means tuning never scores below the default thresholds
on the data it tunes on.
Ties go to the candidate closest to 0.5 (for pairs: in Euclidean distance to (0.5, 0.5)), then to
the smaller threshold.

Domains: given one domain per example (a stethoscope, a site), the thresholds instead maximise the
objective's *minimum over the domains* — the pair that does best on the domain it does worst on
(``icbhi_score``: the joint score of each domain; ``f1``: each label's own minimum). A
domain on which the objective is undefined (no normal or no abnormal example; for a label, no positive
or negative) is left out of the minimum; all of them undefined is the degenerate case below.

Degenerate data: :func:`tune_thresholds` raises ``ValueError`` when the objective is undefined (no
normal or no abnormal cycle for ``icbhi_score``; a label without positives for ``f1``).
:func:`choose_thresholds` (what training uses) then falls back
to 0.5 for that label (``icbhi_score``: for both) and says which labels were tuned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..labels import MULTI_LABEL_NAMES
from .multilabel import DEFAULT_THRESHOLDS, validate_multilabel

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MAX_CANDIDATES",
    "THRESHOLD_OBJECTIVES",
    "ThresholdChoice",
    "candidate_thresholds",
    "choose_thresholds",
    "sigmoid",
    "tune_thresholds",
]

THRESHOLD_OBJECTIVES: tuple[str, ...] = ("icbhi_score", "f1", "fixed")
"""What decision thresholds are tuned for (``"fixed"``: not tuned)."""
MAX_CANDIDATES = 1000
"""Most midpoint candidates per label (plus 0.5 and the two extremes): up to 1001 distinct probabilities,
every decision a threshold can make is tried."""
_TIE = 1e-12


def sigmoid(logits: Any) -> np.ndarray:
    """The logistic function in float64, numerically stable: how every respira consumer turns
    multi-label logits into probabilities (training metrics, evaluation reports, ``predict``)."""
    values = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def candidate_thresholds(
    probabilities: Sequence[float] | np.ndarray, max_candidates: int = MAX_CANDIDATES
) -> np.ndarray:
    """Sorted candidate thresholds for one label's probabilities (see the module docstring)."""
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
    values = np.unique(np.asarray(probabilities, dtype=np.float64).reshape(-1))
    if values.size == 0:
        raise ValueError("no probabilities to choose thresholds from")
    midpoints = (values[:-1] + values[1:]) / 2.0
    if midpoints.size > max_candidates:
        ranks = np.round(np.linspace(0, midpoints.size - 1, max_candidates)).astype(np.int64)
        midpoints = midpoints[ranks]
    below = values[0] / 2.0  # every probability is >= it: all cycles positive
    above = min((values[-1] + 1.0) / 2.0, 1.0)  # above every probability < 1: none positive
    return np.unique(np.concatenate([[below, 0.5, above], midpoints]))


def _best(values: np.ndarray, distances: np.ndarray) -> int:
    """Index of the maximum of ``values`` (NaN never wins); ties go to the smallest ``distances``, then
    to the first index."""
    finite = np.where(np.isnan(values), -np.inf, values)
    best = finite.max()
    if not np.isfinite(best):
        raise ValueError("the objective is undefined at every candidate threshold")
    candidates = np.flatnonzero(finite >= best - _TIE)
    return int(candidates[np.argmin(distances[candidates])])


def _grid(grid: Sequence[float] | np.ndarray | None, probabilities: np.ndarray, max_candidates: int):
    """Per label, the sorted candidate thresholds."""
    if grid is None:
        return [candidate_thresholds(probabilities[:, index], max_candidates) for index in range(2)]
    values = np.asarray(grid, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("grid is empty")
    if not np.all(np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValueError("grid thresholds must be finite values in [0, 1]")
    values = np.unique(values)
    return [values, values]


def _per_label(target: np.ndarray, predicted: np.ndarray, metric: str, name: str) -> np.ndarray:
    """``metric`` of one label at each candidate; ``predicted[g, n]``: cycle n positive at candidate g."""
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
    """ICBHI score at every (crackle candidate i, wheeze candidate j); ``crackle[i, n]``: crackle flag of
    cycle n at candidate i.

    A cycle's share of the score depends on its two flags; with the crackle flags fixed, flagging
    wheeze on cycle n changes the score by ``gain[i, n]``, so the score at wheeze threshold t is a
    base plus the gains of the cycles whose wheeze probability is >= t: a cumulative sum over the
    cycles sorted by wheeze probability gives every wheeze threshold at once (memory [candidates, N]).
    """
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
    grid: Sequence[float] | np.ndarray | None = None,
    max_candidates: int = MAX_CANDIDATES,
    domains: Sequence[Any] | np.ndarray | None = None,
    fixed: Sequence[float | None] | None = None,
) -> tuple[float, float]:
    """The (crackle, wheeze) thresholds that maximise ``metric`` on VALIDATION data; never tune on test.

    Tuning on test data leaks the test labels into the model and inflates every reported score.
    ``metric``: ``"icbhi_score"`` (joint) or ``"f1"`` (per label); ``grid``: the candidate
    thresholds of both labels (default: from the probabilities, see the module docstring);
    ``domains``: one per example, to maximise the metric's minimum over them instead of its value on
    all examples pooled; ``fixed``: a threshold per label, ``None`` for a label to tune (a label given
    one keeps it, and the other is tuned for the joint score with it). Raises ``ValueError`` when the
    metric is undefined on these targets (on every domain) (see the module docstring).
    """
    target_array, prob_array = validate_multilabel(targets, probabilities)
    if metric not in THRESHOLD_OBJECTIVES or metric == "fixed":
        raise ValueError(f"metric must be 'icbhi_score' or 'f1', got {metric!r}")
    members = _domain_members(domains, len(target_array))
    grids = _grid(grid, prob_array, max_candidates)
    if fixed is not None:
        if len(fixed) != len(MULTI_LABEL_NAMES):
            raise ValueError(f"fixed must give one threshold (or None) per label, got {list(fixed)!r}")
        grids = [g if f is None else np.array([float(f)]) for g, f in zip(grids, fixed, strict=True)]
    predicted = [prob_array[None, :, index] >= grids[index][:, None] for index in range(2)]
    distances = [np.abs(values - 0.5) for values in grids]
    if metric == "icbhi_score":

        def joint(rows: np.ndarray) -> np.ndarray:
            return _joint_icbhi(target_array[rows], predicted[0][:, rows], prob_array[rows, 1], grids[1])

        score = _worst(joint, members)
        pair_distance = np.hypot(distances[0][:, None], distances[1][None, :])
        i, j = np.unravel_index(_best(score.reshape(-1), pair_distance.reshape(-1)), score.shape)
        return float(grids[0][i]), float(grids[1][j])
    chosen = []
    for index, name in enumerate(MULTI_LABEL_NAMES):
        values = _label_values(target_array[:, index], predicted[index], metric, name, members)
        chosen.append(float(grids[index][_best(values, distances[index])]))
    return chosen[0], chosen[1]


def _label_values(
    target: np.ndarray, predicted: np.ndarray, metric: str, name: str, members: list[np.ndarray]
) -> np.ndarray:
    """One label's ``metric`` at each candidate (:func:`_per_label`), its minimum over the domains."""
    return _worst(lambda rows: _per_label(target[rows], predicted[:, rows], metric, name), members)


def _domain_members(domains: Sequence[Any] | np.ndarray | None, size: int) -> list[np.ndarray]:
    """The rows of each domain (one group of every row when ``domains`` is ``None``)."""
    if domains is None:
        return [np.arange(size)]
    names = np.asarray([str(domain) for domain in domains])
    if names.shape != (size,):
        raise ValueError(f"domains must give one domain per example ({size}), got {names.size}")
    return [np.flatnonzero(names == name) for name in np.unique(names)]


def _worst(objective: Any, members: list[np.ndarray]) -> np.ndarray:
    """The elementwise minimum of ``objective(rows)`` over the domains where it is defined; the first
    domain's ``ValueError`` when it is defined on none."""
    values, first_error = [], None
    for rows in members:
        try:
            values.append(objective(rows))
        except ValueError as error:
            first_error = first_error or error
    if not values:
        assert first_error is not None
        raise first_error
    return np.minimum.reduce(values)


@dataclass(frozen=True)
class ThresholdChoice:
    """Thresholds chosen by :func:`choose_thresholds`: the values, and which labels were tuned."""

    thresholds: tuple[float, float]
    tuned: tuple[bool, bool]
    objective: str


def choose_thresholds(
    targets: Any,
    probabilities: Any,
    objective: str = "icbhi_score",
    *,
    fallback: Sequence[float] = DEFAULT_THRESHOLDS,
    max_candidates: int = MAX_CANDIDATES,
    domains: Sequence[Any] | np.ndarray | None = None,
) -> ThresholdChoice:
    """:func:`tune_thresholds` with the documented fallback: a label the data cannot tune keeps its
    ``fallback`` threshold (``icbhi_score`` without normal or abnormal cycles: both do). ``"fixed"``
    returns ``fallback`` untouched. ``domains``: maximise the objective's minimum over them."""
    if objective not in THRESHOLD_OBJECTIVES:
        raise ValueError(
            f"threshold_objective must be one of {', '.join(THRESHOLD_OBJECTIVES)}, got {objective!r}"
        )
    base = (float(fallback[0]), float(fallback[1]))
    if objective == "fixed":
        return ThresholdChoice(base, (False, False), objective)
    target_array, prob_array = validate_multilabel(targets, probabilities)
    if objective == "icbhi_score":
        try:
            values = tune_thresholds(
                target_array, prob_array, metric=objective, max_candidates=max_candidates, domains=domains
            )
        except ValueError:
            return ThresholdChoice(base, (False, False), objective)
        return ThresholdChoice(values, (True, True), objective)
    members = _domain_members(domains, len(target_array))
    chosen, tuned = list(base), [False, False]
    for index, name in enumerate(MULTI_LABEL_NAMES):
        grid = candidate_thresholds(prob_array[:, index], max_candidates)
        predicted = prob_array[None, :, index] >= grid[:, None]
        try:
            values = _label_values(target_array[:, index], predicted, objective, name, members)
        except ValueError:
            continue
        chosen[index] = float(grid[_best(values, np.abs(grid - 0.5))])
        tuned[index] = True
    return ThresholdChoice((chosen[0], chosen[1]), (tuned[0], tuned[1]), objective)
