"""SPRSound (IEEE BioCAS 2022 grand challenge) scores of its four tasks (:data:`SPRSOUND_TASKS`).

**SP** = Normal predicted Normal / Normal; **SE** = adventitious predicted as exactly their class /
adventitious (Poor Quality records enter neither); **AS** = (SE + SP) / 2; **HS** = 2·SE·SP / (SE + SP);
**Score** = (AS + HS) / 2. An undefined SE or SP is ``nan`` (AS and HS then the defined one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats

from ..data.sprsound import EVENT_TYPES, RECORD_LABELS
from ..models.respira.audio_decoding import is_real
from ..models.respira.labels import flags_to_classes
from .baselines import BASELINE_PREFIX
from .icbhi import _as_index_array, _ratio, _warn_undefined

NORMAL, ADVENTITIOUS, POOR_QUALITY = "Normal", "Adventitious", "Poor Quality"
SPRSOUND_TASKS: dict[str, tuple[str, ...]] = {
    "1-1": (NORMAL, ADVENTITIOUS),
    "1-2": EVENT_TYPES,
    "2-1": (NORMAL, POOR_QUALITY, ADVENTITIOUS),
    "2-2": RECORD_LABELS,
}
"""Each task's classes, in class-index order; index 0 is Normal."""

_COARSE: dict[str, dict[str, str]] = {
    "1-1": {t: NORMAL if t == NORMAL else ADVENTITIOUS for t in (*EVENT_TYPES, ADVENTITIOUS)},
    "2-1": {t: t if t in (NORMAL, POOR_QUALITY) else ADVENTITIOUS for t in (*RECORD_LABELS, ADVENTITIOUS)},
}
_RECORD_LABELS_OF_CLASSES = (NORMAL, "DAS", "CAS", "CAS & DAS")  # respira's normal, crackle, wheeze, both
_KEYS = ("se", "sp", "as", "hs", "score")


def _classes(task: str) -> tuple[str, ...]:
    if task not in SPRSOUND_TASKS:
        raise ValueError(f"unknown SPRSound task {task!r}: expected one of {', '.join(SPRSOUND_TASKS)}")
    return SPRSOUND_TASKS[task]


def _indices(task: str, values: Any, name: str) -> np.ndarray:
    """``values`` (label strings or class indices of ``task``) as int64 class indices."""
    classes = _classes(task)
    array = np.asarray(values, dtype=object if isinstance(values, (list, tuple)) else None)
    if array.dtype.kind not in "UO" or array.size == 0:
        return _as_index_array(array, name, len(classes))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of labels, got shape {array.shape}")
    lookup = {label: index for index, label in enumerate(classes)}
    out = np.empty(len(array), dtype=np.int64)
    for position, value in enumerate(array.tolist()):
        if is_real(value, whole=True) and 0 <= value < len(classes):
            out[position] = value
        elif isinstance(value, str) and value in lookup:
            out[position] = lookup[value]
        else:
            raise ValueError(
                f"{name}[{position}] = {value!r} is not a task {task} label nor index ({', '.join(classes)})"
            )
    return out


def _checked(task: str, references: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
    truth, guess = _indices(task, references, "references"), _indices(task, predictions, "predictions")
    if len(truth) != len(guess):
        raise ValueError(f"references and predictions have different lengths: {len(truth)} != {len(guess)}")
    if len(truth) == 0:
        raise ValueError("references and predictions are empty: there is nothing to score")
    return truth, guess


def _se_classes(task: str) -> np.ndarray:
    """Boolean mask over ``task``'s classes: those whose samples enter SE."""
    classes = np.asarray(_classes(task))
    return (classes != NORMAL) & (classes != POOR_QUALITY)


def _headline(se: Any, sp: Any) -> tuple[Any, Any, Any]:
    """AS, HS and Score of SE and SP (floats or broadcastable arrays; ``nan`` = undefined)."""
    se, sp = np.asarray(se, dtype=np.float64), np.asarray(sp, dtype=np.float64)
    both = ~np.isnan(se) & ~np.isnan(sp)
    average = np.where(both, (se + sp) / 2, np.where(np.isnan(se), sp, se))
    with np.errstate(invalid="ignore", divide="ignore"):
        harmonic = np.where(se + sp > 0, 2 * se * sp / (se + sp), 0.0)
    harmonic = np.where(both, harmonic, average)
    return average, harmonic, (average + harmonic) / 2


def sprsound_scores(task: str, references: Any, predictions: Any, *, warn: bool = True) -> dict[str, float]:
    """SPRSound scores (``se``, ``sp``, ``as``, ``hs``, ``score`` and the counts ``n``, ``n_normal``,
    ``n_adventitious``, ``n_poor_quality``) of ``predictions`` against ``references`` (label strings or class
    indices) on ``task``; ``ValueError`` for bad input."""
    truth, guess = _checked(task, references, predictions)
    in_se = _se_classes(task)[truth]
    normal = truth == 0
    se = _ratio(int(np.sum(guess[in_se] == truth[in_se])), int(in_se.sum()))
    sp = _ratio(int(np.sum(guess[normal] == 0)), int(normal.sum()))
    average, harmonic, score = _headline(se, sp)
    scores: dict[str, float] = {"se": se, "sp": sp, "as": float(average), "hs": float(harmonic)}
    scores["score"] = float(score)
    if warn:
        _warn_undefined(scores, ["se", "sp"])
    poor = _classes(task).index(POOR_QUALITY) if POOR_QUALITY in _classes(task) else -1
    scores.update(n=len(truth), n_normal=int(normal.sum()), n_adventitious=int(in_se.sum()))
    scores["n_poor_quality"] = int(np.sum(truth == poor))
    return scores


def score_strata(task: str, references: Any) -> np.ndarray:
    """Each reference's part in the scores: ``"sp"``, ``"se"`` or ``"none"`` (bootstrap strata)."""
    truth = _indices(task, references, "references")
    in_se = _se_classes(task)[truth]
    return np.where(truth == 0, "sp", np.where(in_se, "se", "none"))


def _pmf(counts: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and probabilities of Σ Binomial(count_c, share_c) / Σ count_c (``[nan]`` when empty)."""
    total = int(counts.sum())
    if total == 0:
        return np.array([np.nan]), np.array([1.0])
    pmf = np.array([1.0])
    for count, share in zip(counts, shares, strict=True):
        pmf = np.convolve(pmf, scipy.stats.binom.pmf(np.arange(count + 1), count, share))
    keep = pmf > 1e-15 * pmf.max()  # the dropped mass is below ~total·1e-15
    return np.flatnonzero(keep) / total, pmf[keep]


def sprsound_baselines(task: str, references: Any) -> dict[str, float]:
    """Expected scores of the all-normal and class-prior classifiers on ``references`` of ``task``."""
    truth, _ = _checked(task, references, references)
    counts = np.bincount(truth, minlength=len(_classes(task)))
    shares = counts / counts.sum()
    all_normal = sprsound_scores(task, truth, np.zeros_like(truth), warn=False)
    result = {f"{BASELINE_PREFIX}all_normal_{key}": float(all_normal[key]) for key in _KEYS}
    in_se = _se_classes(task)
    se_values, se_probs = _pmf(counts[in_se], shares[in_se])
    sp_values, sp_probs = _pmf(counts[:1], shares[:1])
    weights = se_probs[:, None] * sp_probs[None, :]
    grids = (np.broadcast_to(se_values[:, None], weights.shape), np.broadcast_to(sp_values, weights.shape))
    for key, grid in zip(_KEYS, (*grids, *_headline(*grids)), strict=True):
        expected = float(np.sum(weights * grid)) if not np.isnan(grid).all() else float("nan")
        result[f"{BASELINE_PREFIX}class_prior_{key}"] = expected
    return result


def coarsen_labels(task: str, labels: Sequence[str]) -> list[str]:
    """``labels`` as labels of the coarse ``task`` (1-1 or 2-1); labels already coarse pass."""
    if task not in _COARSE:
        raise ValueError(f"can only coarsen to task 1-1 or 2-1, got {task!r}")
    mapping = _COARSE[task]
    for position, label in enumerate(labels):
        if label not in mapping:
            raise ValueError(
                f"labels[{position}] = {label!r} cannot be coarsened to task {task} ({', '.join(mapping)})"
            )
    return [mapping[label] for label in labels]


def flags_to_sprsound(task: str, flags: Any) -> list[str]:
    """Task labels of ``[N, 2]`` (crackle, wheeze) flags."""
    if task == "1-2":
        raise ValueError(
            "task 1-2 cannot be predicted from crackle/wheeze flags (crackle and wheeze subtypes)"
        )
    _classes(task)
    labels = [_RECORD_LABELS_OF_CLASSES[index] for index in np.atleast_1d(flags_to_classes(flags)).tolist()]
    return labels if task == "2-2" else coarsen_labels("2-1", labels)  # 1-1's labels are 2-1's here
