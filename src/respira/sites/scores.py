"""What a site fit is judged by: the detector's own per-recording verdict and its ICBHI-style score
(specificity on normal recordings, strict sensitivity on abnormal ones, their mean), with patient-bootstrap
95 % intervals computed for every resample at once."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ..metrics.icbhi import icbhi_scores
from ..metrics.recording_level import patient_resample_counts, percentile_interval, recording_decisions
from ..metrics.thresholds import sigmoid
from ..models.respira.labels import MULTI_LABEL_NAMES, flags_to_classes
from ..models.respira.windows import aggregate_windows, check_aggregation

SCORE_KEYS: tuple[str, ...] = ("icbhi_score", "specificity", "sensitivity", "crackle_auc", "wheeze_auc")
"""The scores of a candidate, each with ``_low`` / ``_high`` bounds in :func:`scores_with_intervals`."""


def aggregate_rows(
    values: np.ndarray, recording: np.ndarray, count: int, rule: str, top_k: int | None
) -> np.ndarray:
    """``[count, columns]``: the rows of ``values`` of each recording (``recording``: each window's)
    aggregated by ``rule`` (:func:`respira.models.respira.windows.aggregate_windows`)."""
    check_aggregation(rule, top_k)
    values = np.asarray(values, dtype=np.float64)
    if rule == "max":
        result = np.full((count, values.shape[1]), -np.inf)
        np.maximum.at(result, recording, values)
        if np.isneginf(result).any():
            raise ValueError("every recording needs at least one window")
        return result
    order = np.argsort(recording, kind="stable")
    bounds = np.searchsorted(recording[order], np.arange(count + 1))
    return np.stack([aggregate_windows(values[order[a:b]], rule, top_k) for a, b in pairwise(bounds)])


def recording_probabilities(
    window_logits: np.ndarray, recording: np.ndarray, count: int, rule: str, top_k: int | None
) -> np.ndarray:
    """``[count, 2]`` recording probabilities of ``[windows, 2]`` logits, aggregated by ``rule``."""
    return aggregate_rows(sigmoid(window_logits), recording, count, rule, top_k)


def recording_classes(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """``[recordings]`` four-class index of each recording: its flags at ``thresholds`` (the one rule)."""
    return flags_to_classes(recording_decisions(probabilities, thresholds))


def _defined_parts(truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> tuple[Any, Any, Any]:
    """Specificity, strict sensitivity and the ICBHI score per row of ``weights``
    (:func:`~respira.metrics.icbhi.icbhi_scores`), the score NaN in a resample that lacks what the sample
    has (a normal or an abnormal recording): undefined, never scored on what is left."""
    scores = icbhi_scores(truth, predicted, weights=weights)
    specificity, sensitivity, score = (scores[key] for key in ("specificity", "sensitivity", "icbhi_score"))
    lacking = (np.isnan(specificity) & ~np.isnan(specificity[0])) | (
        np.isnan(sensitivity) & ~np.isnan(sensitivity[0])
    )
    return specificity, sensitivity, np.where(lacking, np.nan, score)


def _weighted_auc(target: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of ``scores`` for 0/1 ``target`` per row of ``weights`` (ties count a half)."""
    positive, negative = target == 1, target == 0
    if not positive.any() or not negative.any():
        return np.full(weights.shape[0], np.nan)
    above = np.sign(scores[positive][:, None] - scores[negative][None, :]) * 0.5 + 0.5
    pos, neg = weights[:, positive], weights[:, negative]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("rp,pn,rn->r", pos, above, neg) / (pos.sum(axis=1) * neg.sum(axis=1))


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
    weights = _weights(truth, units, resamples, seed)
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
        result.update(_with_interval(key, values[key]))
    scored_any = np.any([np.asarray(scored, dtype=bool) for scored, _, _ in parts], axis=0)
    result["scored_recordings"] = int(scored_any.sum())
    result["scored_units"] = len({str(unit) for unit, keep in zip(units, scored_any, strict=True) if keep})
    return result


def _weights(truth: np.ndarray, units: Sequence[Any], resamples: int, seed: int) -> np.ndarray:
    """``[1 + resamples, recordings]``: the sample itself, then each resample's counts (paired by seed)."""
    counts = patient_resample_counts(units, resamples=resamples, seed=seed, strata=truth).astype(np.float64)
    return np.concatenate([np.ones((1, truth.size)), counts])


def _with_interval(key: str, values: np.ndarray) -> dict[str, float]:
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
    return {key: _with_interval("gain", ours[key] - theirs[key]) for key in keys}


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
        weights = _weights(flags_to_classes(labels), units, resamples, seed)
        flags = np.asarray(labels)[:, label]
        ours = _defined_parts(flags, np.asarray(predicted), weights)[2]
        return _with_interval(key, ours - _defined_parts(flags, np.asarray(baseline), weights)[2])
    everything = np.ones(len(predicted), dtype=bool)
    ours, theirs = [(everything, np.asarray(predicted), None)], [(everything, np.asarray(baseline), None)]
    gain = paired_differences(
        labels, units, ours, theirs, keys=("icbhi_score",), resamples=resamples, seed=seed
    )["icbhi_score"]
    return {name.replace("gain", key, 1): value for name, value in gain.items()}
