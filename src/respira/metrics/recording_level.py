"""Recording-level scores of a window-level detector (a label present at or above its threshold, *normal*
when neither is), with confidence intervals from a bootstrap of patients stratified by class signature:
:func:`patient_bootstrap` recomputes any statistic on each resample's recordings,
:func:`recording_level_intervals` (the scores above) and :func:`scores_with_intervals` score every resample
at once from its counts (:func:`resample_weights`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..models.respira.audio_decoding import check_whole
from ..models.respira.decision import present
from ..models.respira.labels import MULTI_LABEL_NAMES, flags_to_classes
from .icbhi import _ratio, _ratios, icbhi_parts, icbhi_scores
from .multilabel import roc_auc

SCORE_KEYS: tuple[str, ...] = ("icbhi_score", "specificity", "sensitivity", "crackle_auc", "wheeze_auc")
"""The scores of a candidate, each with ``_low`` / ``_high`` bounds in :func:`scores_with_intervals`."""


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


def recording_level_replicates(
    targets: Any, probabilities: Any, thresholds: Sequence[float], weights: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`flatten_scores` of :func:`recording_level_scores` for each row of ``weights`` ``[resamples,
    N]`` (row ``r`` counting recording ``i`` ``weights[r, i]`` times), every row at once: the same floats
    as scoring each resample's recordings, its counts and pairs being whole (or half) numbers."""
    truth = np.asarray(targets, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    decided = recording_decisions(probs, thresholds)
    guesses = np.column_stack([decided, decided.sum(axis=1) == 0]).astype(np.int64)
    ranked = np.column_stack([probs, 1.0 - probs.max(axis=1)])
    replicates: dict[str, np.ndarray] = {}
    for index, name in enumerate(("crackle", "wheeze", "normal")):
        label, guess = truth[:, index], guesses[:, index]
        replicates[f"{name}.sensitivity"] = _ratios(weights @ (label & guess), weights @ label)
        replicates[f"{name}.specificity"] = _ratios(weights @ (1 - (label | guess)), weights @ (1 - label))
        replicates[f"{name}.auc"] = _weighted_auc(label, ranked[:, index], weights)
    four_class = icbhi_scores(flags_to_classes(truth[:, :2]), flags_to_classes(decided), weights=weights)
    return replicates | {f"icbhi.{key}": four_class[key] for key in ICBHI_KEYS}


def recording_level_intervals(
    targets: Any,
    probabilities: Any,
    thresholds: Sequence[float],
    patient_ids: Sequence[Any],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, list[float]]:
    """:func:`patient_bootstrap` of :func:`recording_level_scores` (flattened; patients resampled within
    :func:`recording_strata`), every resample scored at once from its counts: the same intervals."""
    _check_confidence(confidence)
    counts = patient_resample_counts(
        patient_ids, resamples=resamples, seed=seed, strata=recording_strata(targets)
    )
    replicates = recording_level_replicates(targets, probabilities, thresholds, counts.astype(np.float64))
    return {name: percentile_interval(values, confidence) for name, values in replicates.items()}


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
    _check_confidence(confidence)
    replicates = bootstrap_replicates(statistic, patient_ids, resamples=resamples, seed=seed, strata=strata)
    return {name: percentile_interval(values, confidence) for name, values in replicates.items()}


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> list[float]:
    """``[low, high]``: the ``confidence`` percentile interval of the defined (not NaN) ``replicates``."""
    tail = 100 * (1 - confidence) / 2
    defined = replicates[~np.isnan(replicates)]
    bounds = np.percentile(defined, [tail, 100 - tail]) if defined.size else [np.nan, np.nan]
    return [float(bound) for bound in bounds]


def _defined_parts(truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> tuple[Any, Any, Any]:
    """Specificity, strict sensitivity and the ICBHI score per row of ``weights``
    (:func:`~respira.metrics.icbhi.icbhi_scores`), the score NaN in a resample that lacks what the sample
    has (a normal or an abnormal recording): undefined, never scored on what is left."""
    specificity, sensitivity, score = icbhi_parts(truth, predicted, weights=weights)
    lacking = (np.isnan(specificity) & ~np.isnan(specificity[0])) | (
        np.isnan(sensitivity) & ~np.isnan(sensitivity[0])
    )
    return specificity, sensitivity, np.where(lacking, np.nan, score)


def _weighted_auc(target: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of ``scores`` for 0/1 ``target`` per row of ``weights`` (ties count a half): each
    positive's weight times the weight of the negatives below its score and half those at it, summed
    through the scores once sorted (whole and half counts: exact, as :func:`roc_auc` of the resample)."""
    positive, negative = target == 1, target == 0
    if not positive.any() or not negative.any() or not np.isfinite(scores).all():
        return np.full(weights.shape[0], np.nan)
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    pos, neg = weights[:, order] * positive[order], weights[:, order] * negative[order]
    below = np.concatenate([np.zeros((weights.shape[0], 1)), np.cumsum(neg, axis=1)], axis=1)
    under = below[:, np.searchsorted(ordered, ordered, side="left")]
    tied = below[:, np.searchsorted(ordered, ordered, side="right")] - under
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (under + 0.5 * tied)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def resampled_scores(
    labels: np.ndarray,
    units: Sequence[Any],
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """``[1 + resamples]`` values of each of :data:`SCORE_KEYS`: the sample itself, then each patient
    bootstrap resample, each the mean over ``parts`` (``(scored mask, four classes, probabilities or
    None)`` of every recording). A resample that lacks what the sample has (a normal or an abnormal
    recording scored, a label's positive or negative) is NaN: undefined, never scored on what is left."""
    truth = flags_to_classes(labels)
    weights = resample_weights(units, resamples=resamples, seed=seed, strata=truth)
    per_part: dict[str, list[np.ndarray]] = {key: [] for key in SCORE_KEYS}
    for scored, predicted, probabilities in parts:
        masked = weights * np.asarray(scored, dtype=np.float64)[None, :]
        measured = _defined_parts(truth, np.asarray(predicted), masked)
        for key, values in zip(("specificity", "sensitivity", "icbhi_score"), measured, strict=True):
            per_part[key].append(values)
        for index, name in enumerate(MULTI_LABEL_NAMES):
            per_part[f"{name}_auc"].append(
                np.full(weights.shape[0], np.nan)
                if probabilities is None
                else _weighted_auc(labels[:, index], probabilities[:, index], masked)
            )
    return {key: np.mean(per_part[key], axis=0) for key in SCORE_KEYS}


def scores_with_intervals(
    labels: np.ndarray,
    units: Sequence[Any],
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Per-recording scores with patient-bootstrap intervals (keys :data:`SCORE_KEYS`, ``KEY_low`` /
    ``KEY_high``, ``KEY_undefined``: the resamples left out, ``scored_recordings`` and ``scored_units``), each
    the mean over ``parts`` (:func:`resampled_scores`); each resample is shared by all parts."""
    values = resampled_scores(labels, units, parts, resamples=resamples, seed=seed)
    result: dict[str, float] = {}
    for key in SCORE_KEYS:
        result.update(with_interval(key, values[key]))
    scored_any = np.any([np.asarray(scored, dtype=bool) for scored, _, _ in parts], axis=0)
    result["scored_recordings"] = int(scored_any.sum())
    result["scored_units"] = len({str(unit) for unit, keep in zip(units, scored_any, strict=True) if keep})
    return result


def resample_weights(
    patient_ids: Sequence[Any], *, resamples: int = 1000, seed: int = 0, strata: Sequence[Any] | None = None
) -> np.ndarray:
    """``[1 + resamples, recordings]``: the sample itself (ones), then each resample's counts
    (:func:`patient_resample_counts`, paired by seed): the ``weights`` of
    :func:`~respira.metrics.icbhi.icbhi_scores`."""
    counts = patient_resample_counts(patient_ids, resamples=resamples, seed=seed, strata=strata)
    return np.concatenate([np.ones((1, counts.shape[1])), counts.astype(np.float64)])


def with_interval(key: str, values: np.ndarray) -> dict[str, float]:
    """``{key, key_low, key_high, key_undefined}``: ``values[0]``, the 95 % percentile interval of the
    defined resamples, and how many were not (none counted where the sample itself is undefined)."""
    low, high = percentile_interval(values[1:])
    undefined = int(np.isnan(values[1:]).sum()) if not np.isnan(values[0]) else 0
    return {key: float(values[0]), f"{key}_low": low, f"{key}_high": high, f"{key}_undefined": undefined}


def paired_differences(
    labels: np.ndarray,
    units: Sequence[Any],
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    other: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    keys: Sequence[str] = SCORE_KEYS,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per key, ``parts``' score minus ``other``'s over the same recordings and patients, with a paired
    patient-bootstrap interval (the resamples :func:`scores_with_intervals` draws; a resample undefined for
    either is left out and counted): ``{key: {"gain", "gain_low", "gain_high", "gain_undefined"}}``."""
    ours = resampled_scores(labels, units, parts, resamples=resamples, seed=seed)
    theirs = resampled_scores(labels, units, other, resamples=resamples, seed=seed)
    return {key: with_interval("gain", ours[key] - theirs[key]) for key in keys}


def paired_gain(
    labels: np.ndarray,
    units: Sequence[Any],
    predicted: np.ndarray,
    baseline: np.ndarray,
    *,
    key: str = "gain",
    resamples: int = 1000,
    seed: int = 0,
    label: int | None = None,
) -> dict[str, float]:
    """The ICBHI-style score of ``predicted`` minus that of ``baseline`` over every recording, with a paired
    patient-bootstrap interval (:func:`paired_differences`), its keys named ``key``; ``label`` (0 crackle,
    1 wheeze): that label's own score instead, of its 0/1 flags (sensitivity on the recordings with it,
    specificity on those without, their mean), over the same resamples, undefined ones left out alike."""
    if label is not None:
        weights = resample_weights(units, resamples=resamples, seed=seed, strata=flags_to_classes(labels))
        flags = np.asarray(labels)[:, label]
        ours = _defined_parts(flags, np.asarray(predicted), weights)[2]
        return with_interval(key, ours - _defined_parts(flags, np.asarray(baseline), weights)[2])
    everything = np.ones(len(predicted), dtype=bool)
    ours, theirs = [(everything, np.asarray(predicted), None)], [(everything, np.asarray(baseline), None)]
    gain = paired_differences(
        labels, units, ours, theirs, keys=("icbhi_score",), resamples=resamples, seed=seed
    )["icbhi_score"]
    return {name.replace("gain", key, 1): value for name, value in gain.items()}
