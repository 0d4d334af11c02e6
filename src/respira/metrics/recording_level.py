"""Recording-level scores of a window-level detector (a label present at or above its threshold, *normal*
when neither is), with confidence intervals from a bootstrap of patients stratified by class signature.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..models.respira.decision import present
from ..models.respira.labels import flags_to_classes
from ..models.respira.number_checks import check_whole
from .icbhi import _ratio, icbhi_scores
from .multilabel import roc_auc

ICBHI_KEYS = ("specificity", "sensitivity", "icbhi_score", "binary_sensitivity", "binary_icbhi_score")


def recording_decisions(probabilities: Any, thresholds: Sequence[float]) -> np.ndarray:
    """``[N, 2]`` (crackle, wheeze) 0/1 decisions: probability >= that label's threshold."""
    return present(probabilities, thresholds).astype(np.int64)


def binary_scores(targets: Any, predicted: Any, scores: Any) -> dict[str, float]:
    """``sensitivity``, ``specificity``, ``auc`` and class counts of 0/1 ``predicted`` against ``targets``."""
    truth = np.asarray(targets, dtype=np.int64)
    guess = np.asarray(predicted, dtype=np.int64)
    positives = int(truth.sum())
    negatives = int(truth.size - positives)
    return {
        "sensitivity": _ratio(int((guess[truth == 1] == 1).sum()), positives),
        "specificity": _ratio(int((guess[truth == 0] == 0).sum()), negatives),
        "auc": roc_auc(truth, scores),
        "positives": positives,
        "negatives": negatives,
    }


def recording_level_scores(
    targets: Any, probabilities: Any, thresholds: Sequence[float]
) -> dict[str, dict[str, float]]:
    """Scores per label, ``normal`` and ``icbhi`` of ``probabilities`` ``[N, 2]`` against ``targets`` ``[N,
    3]``."""
    truth = np.asarray(targets, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if truth.ndim != 2 or truth.shape[1] != 3 or probs.shape != (truth.shape[0], 2) or truth.shape[0] == 0:
        raise ValueError(
            f"expected targets [N >= 1, 3] and probabilities [N, 2], got {truth.shape} and {probs.shape}"
        )
    decided = recording_decisions(probs, thresholds)
    predicted_normal = (decided.sum(axis=1) == 0).astype(np.int64)
    scores = {
        "crackle": binary_scores(truth[:, 0], decided[:, 0], probs[:, 0]),
        "wheeze": binary_scores(truth[:, 1], decided[:, 1], probs[:, 1]),
        "normal": binary_scores(truth[:, 2], predicted_normal, 1.0 - probs.max(axis=1)),
    }
    classes = flags_to_classes(truth[:, :2])
    four_class = icbhi_scores(classes, flags_to_classes(decided), warn=False)
    scores["icbhi"] = {key: four_class[key] for key in ICBHI_KEYS}
    scores["icbhi"]["normal_recordings"] = int((classes == 0).sum())
    scores["icbhi"]["abnormal_recordings"] = int((classes != 0).sum())
    return scores


def unmeasurable(normal: int, abnormal: int) -> str | None:
    """What the recordings cannot measure, one clause (sensitivity without abnormal, etc.), or ``None``."""
    lacking = unmeasured(normal, abnormal)
    if lacking is None:
        return None
    return (
        f"{normal} normal and {abnormal} abnormal (crackle or wheeze) recordings: {lacking} (the score "
        "weighs specificity on normal recordings and sensitivity on abnormal ones)"
    )


def unmeasured(normal: int, abnormal: int) -> str | None:
    """:func:`unmeasurable`'s words, short, for a table cell (``None`` when both are measurable)."""
    lacking = [score for score, count in (("sensitivity", abnormal), ("specificity", normal)) if not count]
    return f"{' and '.join(lacking)} cannot be measured" if lacking else None


def flatten_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{"crackle": {"auc": x}}`` → ``{"crackle.auc": x}`` for the fractional scores (counts left out)."""
    return {
        f"{group}.{key}": float(value)
        for group, values in scores.items()
        for key, value in values.items()
        if not key.endswith(("positives", "negatives", "recordings"))
    }


def recording_strata(targets: Any) -> np.ndarray:
    """Each recording's (crackle, wheeze, normal) flags as one code, for :func:`patient_bootstrap`."""
    return np.asarray(targets, dtype=np.int64) @ np.array([4, 2, 1])


def _patient_draws(
    patient_ids: Sequence[Any], resamples: int, seed: int, strata: Sequence[Any] | None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Each recording's patient position, each patient's recordings, and per stratum (the patients of one
    class signature, by first appearance) the ``[resamples, patients]`` positions drawn with replacement."""
    check_whole(resamples, "resamples")
    _, inverse = np.unique(np.asarray(patient_ids), return_inverse=True)
    members = [np.flatnonzero(inverse == group) for group in range(int(inverse.max(initial=-1)) + 1)]
    if not members:
        raise ValueError("patient_ids is empty: nothing to resample")
    signatures: dict[tuple[str, ...], list[int]] = {}
    values = None if strata is None else np.asarray(strata, dtype=object)
    if values is not None and values.shape != inverse.shape:
        raise ValueError(
            f"strata must give one value per recording ({inverse.size}), got shape {values.shape}"
        )
    for position, rows in enumerate(members):
        signature = () if values is None else tuple(sorted({repr(value) for value in values[rows].tolist()}))
        signatures.setdefault(signature, []).append(position)
    rng = np.random.default_rng(seed)
    groups = [np.asarray(group) for group in signatures.values()]
    return (
        inverse,
        members,
        [group[rng.integers(0, group.size, size=(resamples, group.size))] for group in groups],
    )


def patient_resample_counts(
    patient_ids: Sequence[Any], *, resamples: int = 1000, seed: int = 0, strata: Sequence[Any] | None = None
) -> np.ndarray:
    """``[resamples, recordings]``: how often each recording is drawn per patient-bootstrap resample."""
    inverse, members, draws = _patient_draws(patient_ids, resamples, seed, strata)
    per_patient = np.zeros((resamples, len(members)), dtype=np.int64)
    for drawn in draws:
        np.add.at(per_patient, (np.arange(resamples)[:, None], drawn), 1)
    return per_patient[:, inverse]


def bootstrap_replicates(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    patient_ids: Sequence[Any],
    *,
    resamples: int = 1000,
    seed: int = 0,
    strata: Sequence[Any] | None = None,
) -> dict[str, np.ndarray]:
    """``statistic`` (recording indices → named floats) over ``resamples`` patient-level bootstrap samples."""
    _, members, draws = _patient_draws(patient_ids, resamples, seed, strata)
    drawn = np.concatenate(sorted(draws, key=lambda positions: positions.shape[1] == 1), axis=1)
    with warnings.catch_warnings():  # NaN replicates are left out of the intervals by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = [statistic(np.concatenate([members[position] for position in sample])) for sample in drawn]
    return {name: np.asarray([float(row[name]) for row in rows]) for name in rows[0]}


def patient_bootstrap(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    patient_ids: Sequence[Any],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    strata: Sequence[Any] | None = None,
) -> dict[str, list[float]]:
    """Percentile interval ``[low, high]`` of each value of ``statistic`` over the patient bootstrap."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    replicates = bootstrap_replicates(statistic, patient_ids, resamples=resamples, seed=seed, strata=strata)
    return {name: percentile_interval(values, confidence) for name, values in replicates.items()}


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> list[float]:
    """``[low, high]``: the ``confidence`` percentile interval of the defined (not NaN) ``replicates``."""
    tail = 100 * (1 - confidence) / 2
    defined = replicates[~np.isnan(replicates)]
    bounds = np.percentile(defined, [tail, 100 - tail]) if defined.size else [np.nan, np.nan]
    return [float(bound) for bound in bounds]
