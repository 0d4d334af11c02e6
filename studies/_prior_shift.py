"""Prior-shift correction of binary posteriors (Saerens, Latinne & Decaestecker, Neural Computation 2002).

A detector trained where a flag (crackle, wheeze) has prevalence ``π_s`` gives posteriors ``p`` that are
calibrated for that prevalence. At a new site with prevalence ``π_t`` the posteriors that Bayes' rule
gives are

    p' = (π_t / π_s) p / ((π_t / π_s) p + ((1 - π_t) / (1 - π_s)) (1 - p))

and ``π_t`` is unknown without labels. Saerens et al. estimate it by expectation-maximisation on the
target's unlabelled posteriors: start at ``π_s``, adjust every posterior to the current prior (E step),
take their mean as the new prior (M step), repeat until it moves less than ``tol``. The fixed point
maximises the likelihood of the target's posteriors under the shifted mixture. Two flags that are
decided independently (crackle, wheeze) get one EM each.

Deciding ``p' >= t`` is deciding ``p >= t'`` with ``t'`` from :func:`shifted_threshold`, so an adapted
model keeps its posteriors and carries the shifted thresholds (``config.decision_thresholds``; the rule
itself lives in :mod:`respira.core.decision`).

EM only has an interior fixed point when the posteriors are calibrated for ``π_s``. Posteriors that are
not (a model trained with re-weighted classes, windows scored against a cycle-level prevalence) can
drive it to a prevalence of 0 or 1, which would move the threshold to 1 or 0 and call every recording
normal or abnormal: on KAUH (docs/history/new-site.md, "A new site") both flags went to 1.0. An
estimate within :data:`BOUNDARY` of 0 or 1 is therefore not applied: the flag keeps its threshold and is
marked ``applied=False``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BOUNDARY",
    "PriorShift",
    "adjust_posteriors",
    "em_prior",
    "estimate_prior_shift",
    "shifted_threshold",
]

BOUNDARY = 0.01
"""An EM prevalence closer than this to 0 or 1 is taken as a sign of uncalibrated posteriors, not applied."""

_EPS = 1e-6
"""Posteriors and priors are kept in ``[eps, 1 - eps]`` so that no weight divides by zero."""


def _check_prior(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be a prevalence strictly between 0 and 1, got {value!r}")
    return float(value)


def adjust_posteriors(probabilities: np.ndarray, source_prior: float, target_prior: float) -> np.ndarray:
    """Posteriors ``p`` calibrated for ``source_prior`` re-weighted to ``target_prior`` (Bayes' rule)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0 - _EPS)
    positive = target_prior / source_prior * p
    negative = (1.0 - target_prior) / (1.0 - source_prior) * (1.0 - p)
    return positive / (positive + negative)


def em_prior(
    probabilities: Sequence[float] | np.ndarray,
    source_prior: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> tuple[float, int]:
    """The target prevalence Saerens et al.'s EM estimates from unlabelled posteriors, and its iterations.

    Raises ``ValueError`` for an empty sample, a posterior outside ``[0, 1]`` or a source prevalence not
    strictly between 0 and 1.
    """
    source_prior = _check_prior(source_prior, "source_prior")
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("prior-shift estimation needs at least one posterior")
    if not np.all(np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError("posteriors must be probabilities in [0, 1]")
    prior = source_prior
    for iteration in range(1, max_iter + 1):
        updated = float(np.clip(adjust_posteriors(p, source_prior, prior).mean(), _EPS, 1.0 - _EPS))
        if abs(updated - prior) < tol:
            return updated, iteration
        prior = updated
    return prior, max_iter


def shifted_threshold(threshold: float, source_prior: float, target_prior: float) -> float:
    """The threshold on the unadjusted posterior that decides as ``threshold`` does on the adjusted one.

    Inverting :func:`adjust_posteriors` at ``threshold``: ``t' = w0 t / (w1 (1 - t) + w0 t)`` with
    ``w1 = π_t / π_s`` and ``w0 = (1 - π_t) / (1 - π_s)``. Thresholds 0 and 1 stay.
    """
    if not 0.0 < threshold < 1.0:
        return float(threshold)
    w1 = target_prior / source_prior
    w0 = (1.0 - target_prior) / (1.0 - source_prior)
    return float(w0 * threshold / (w1 * (1.0 - threshold) + w0 * threshold))


@dataclass(frozen=True)
class PriorShift:
    """One flag's correction: the prevalences, EM iterations and the thresholds before and after
    (``applied=False``: the estimate reached the boundary and the threshold was kept)."""

    source_prior: float
    target_prior: float
    iterations: int
    threshold: float
    shifted_threshold: float
    applied: bool = True


def estimate_prior_shift(
    probabilities: np.ndarray, source_priors: Sequence[float], thresholds: Sequence[float]
) -> list[PriorShift]:
    """Per flag (column of ``[N, flags]`` posteriors): the EM target prevalence and shifted threshold."""
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    if array.shape[1] != len(source_priors) or len(thresholds) != len(source_priors):
        raise ValueError(
            f"{array.shape[1]} posterior columns, {len(source_priors)} source priors and "
            f"{len(thresholds)} thresholds: give one of each per flag"
        )
    shifts = []
    for column, source, threshold in zip(array.T, source_priors, thresholds, strict=True):
        target, iterations = em_prior(column, source)
        applied = BOUNDARY < target < 1.0 - BOUNDARY
        moved = shifted_threshold(float(threshold), float(source), target) if applied else float(threshold)
        shifts.append(PriorShift(float(source), target, iterations, float(threshold), moved, applied))
    return shifts
