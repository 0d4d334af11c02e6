"""Linear heads fitted on a site's window embeddings in closed form (:func:`ridge_paths`): the site head,
and the anchored head that also reads the model's own logit; each stays one row of a linear layer on the
raw embedding (:class:`LinearScore`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PENALTIES: np.ndarray = 10.0 ** np.linspace(-2.0, 4.0, 13)
"""Ridge penalties tried, relative to the mean eigenvalue of the weighted embedding covariance."""


@dataclass(frozen=True)
class LinearScore:
    """``score(x) = x @ weight + bias`` on raw embeddings ``x`` (float64)."""

    weight: np.ndarray
    bias: float

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings @ self.weight + self.bias

    def scaled(self, slope: float, intercept: float) -> LinearScore:
        """``slope * score + intercept``, still one linear score."""
        return LinearScore(self.weight * slope, float(self.bias * slope + intercept))


def balanced_weights(recording: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per window weights so every recording weighs the same and each class (``target``, per recording)
    half."""
    windows = np.bincount(recording, minlength=target.size).astype(np.float64)
    positives = int(target.sum())
    per_class = np.where(target == 1, 0.5 / max(positives, 1), 0.5 / max(target.size - positives, 1))
    return (per_class / np.maximum(windows, 1.0))[recording]


@dataclass(frozen=True)
class RidgePath:
    """A head fitted at every penalty of :data:`PENALTIES`: :meth:`scores` gives ``[windows, penalties]``."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # [hidden, penalties], on standardised embeddings
    intercept: np.ndarray  # [penalties]
    anchor: np.ndarray | None  # [penalties]: the coefficient of the model's logit (anchored head)

    def scores(self, embeddings: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        standard = (np.asarray(embeddings, dtype=np.float64) - self.mean) / self.scale
        scores = standard @ self.weights + self.intercept
        if self.anchor is not None:
            assert logits is not None
            scores = scores + np.asarray(logits, dtype=np.float64)[:, None] * self.anchor
        return scores

    def at(self, index: int, model_row: tuple[np.ndarray, float] | None = None) -> LinearScore:
        """The head at penalty ``index`` on the raw embedding; ``model_row``: the model's raw-space row
        ``(w0, b0)`` of the label, whose logit an anchored head reads."""
        weight = self.weights[:, index] / self.scale
        bias = float(self.intercept[index] - self.mean @ weight)
        if self.anchor is not None:
            assert model_row is not None
            weight = weight + self.anchor[index] * model_row[0]
            bias += float(self.anchor[index] * model_row[1])
        return LinearScore(weight, bias)


def ridge_paths(
    embeddings: np.ndarray, target: np.ndarray, weights: np.ndarray, logits: np.ndarray
) -> tuple[RidgePath, RidgePath]:
    """The site head and the anchored head at every penalty, from one eigendecomposition: weighted ridge
    regression of the ±1 ``target`` with an unpenalised intercept (and, anchored, the model's ``logits`` as
    a second unpenalised column, eliminated in closed form)."""
    x = np.asarray(embeddings, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-8 * max(float(scale.max()), 1e-30), scale, 1.0)
    total = float(weights.sum())
    standard = (x - mean) / scale
    centre = weights @ standard / total
    centred = standard - centre
    y = target - weights @ target / total
    z = np.asarray(logits, dtype=np.float64)
    z_centre = float(weights @ z / total)
    z = z - z_centre
    root = np.sqrt(weights)
    scaled = centred * root[:, None]
    if scaled.shape[0] >= scaled.shape[1]:
        values, vectors = np.linalg.eigh(scaled.T @ scaled)
    else:  # fewer windows than features: the kernel's eigenvectors span the same row space
        values, left = np.linalg.eigh(scaled @ scaled.T)
        keep = values > 1e-10 * max(float(values.max()), 1e-30)
        values = values[keep]
        vectors = scaled.T @ (left[:, keep] / np.sqrt(values))
    values = np.clip(values, 0.0, None)
    penalties = PENALTIES * max(float(values.sum()) / x.shape[1], 1e-12)
    inverse = 1.0 / (values[:, None] + penalties[None, :])  # [components, penalties]
    b = vectors.T @ (centred.T @ (weights * y))
    g = vectors.T @ (centred.T @ (weights * z))
    site = vectors @ (inverse * b[:, None])
    site_path = RidgePath(mean, scale, site, weights @ target / total - centre @ site, None)
    s, t = float(weights @ (z * z)), float(weights @ (z * y))
    gb, gg = (g * b) @ inverse, (g * g) @ inverse
    beta = (t - gb) / np.maximum(s - gg, 1e-12)
    anchored = site - vectors @ (inverse * g[:, None]) * beta[None, :]
    intercept = weights @ target / total - centre @ anchored - z_centre * beta
    return site_path, RidgePath(mean, scale, anchored, intercept, beta)


_NEWTON_RIDGE = np.array([1e-3, 0.0])
_HESSIAN_RIDGE = np.diag(_NEWTON_RIDGE + 1e-9)
_HESSIAN_RIDGE.flags.writeable = False


def platt_scaling(scores: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of a class-balanced 1-d logistic regression of 0/1 ``target`` on ``scores``
    (a small ridge keeps separable scores finite); the slope is never negative."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    positives = y.sum()
    if positives in (0, y.size):
        return 0.0, float(np.log((positives + 0.5) / (y.size - positives + 0.5)))
    weight = np.where(y == 1, 0.5 / positives, 0.5 / (y.size - positives))
    spread = float(s.std()) or 1.0
    z = (s - s.mean()) / spread
    design = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.zeros(2)
    for _ in range(50):
        p = 0.5 * (1.0 + np.tanh(0.5 * design @ theta))
        gradient = design.T @ (weight * (p - y)) + _NEWTON_RIDGE * theta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + _HESSIAN_RIDGE
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-9:
            break
    slope = max(float(theta[0]), 0.0) / spread
    if slope == 0.0:
        return 0.0, 0.0  # balanced classes: probability one half
    return slope, float(theta[1] - slope * s.mean())


def logit(values: np.ndarray | float) -> np.ndarray:
    """The inverse of the logistic function in float64, probabilities clipped to [1e-7, 1 - 1e-7]."""
    clipped = np.clip(np.asarray(values, dtype=np.float64), 1e-7, 1.0 - 1e-7)
    return np.log(clipped) - np.log1p(-clipped)


@dataclass(frozen=True)
class _Calibrated:
    """One label's posterior under Platt scaling and prior shift, its thresholds searched, and
    ``flags[t, i]``: recording ``i`` called at threshold ``t`` (float64 0/1)."""

    posterior: np.ndarray
    grid: np.ndarray
    flags: np.ndarray


@functools.lru_cache(maxsize=128)
def _calibrated(labels: bytes, probabilities: bytes, fixed: float | None, fallback: float) -> _Calibrated:
    """:func:`expected_thresholds`' work on one label, kept per process by its inputs' bytes (the inner
    cross-validation asks for each label's fold and candidate once per candidate of the other label)."""
    y = np.frombuffer(labels, dtype=np.float64)
    p = np.frombuffer(probabilities, dtype=np.float64)
    scores = logit(p)
    slope, intercept = platt_scaling(scores, y)
    prevalence = (y.sum() + 0.5) / (y.shape[0] + 1.0)
    shifted = slope * scores + intercept + logit(prevalence)
    posterior = 1.0 / (1.0 + np.exp(-shifted))
    if fixed is not None:
        grid = np.array([fixed])
    elif slope <= 0.0:
        grid = np.array([fallback])
    else:  # between consecutive distinct values (at most 64, by quantile), and one above all
        distinct = np.unique(p)
        cuts = np.concatenate([(distinct[:-1] + distinct[1:]) / 2, [min(1.0, distinct[-1] + 1e-6)]])
        grid = np.unique(np.quantile(cuts, np.linspace(0.0, 1.0, 64))) if cuts.size > 64 else cuts
    flags = (p[None, :] >= grid[:, None]).astype(np.float64)
    for array in (posterior, grid, flags):
        array.flags.writeable = False
    return _Calibrated(posterior, grid, flags)


def expected_thresholds(
    labels: np.ndarray, probabilities: np.ndarray, fixed: Sequence[float | None], fallback: Sequence[float]
) -> tuple[float, float]:
    """(crackle, wheeze) thresholds maximising the ICBHI-style score expected under Platt-calibrated
    posteriors; ``fixed``: thresholds to keep (``None``: search); ``fallback``: for an unranked label."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    first, second = (
        _calibrated(
            np.ascontiguousarray(y[:, label]).tobytes(),
            np.ascontiguousarray(p[:, label]).tobytes(),
            None if fixed[label] is None else float(fixed[label]),  # type: ignore[arg-type]
            float(fallback[label]),
        )
        for label in range(2)
    )
    crackle, wheeze = first.posterior, second.posterior
    normal = (1 - crackle) * (1 - wheeze)
    flags = [first.flags, second.flags]
    off = [1.0 - f for f in flags]
    called_normal = (off[0] * normal) @ off[1].T  # [crackle thresholds, wheeze thresholds]
    called_right = (
        (flags[0] * crackle * (1 - wheeze)) @ off[1].T
        + (off[0] * (1 - crackle) * wheeze) @ flags[1].T
        + (flags[0] * crackle * wheeze) @ flags[1].T
    )
    expected = called_normal / max(normal.sum(), 1e-12) + called_right / max((1 - normal).sum(), 1e-12)
    best = np.unravel_index(int(np.argmax(expected)), expected.shape)
    return float(first.grid[best[0]]), float(second.grid[best[1]])
