"""The fitting procedure on one set of labelled recordings: candidates per label, chosen out of sample.

:func:`fit_procedure` is what ``fit-site`` does with the recordings it is given, and what nested
cross-validation repeats on each outer fold's training units (:mod:`respira.sites.fitting`):

1. inner patient-wise folds over the training units (:func:`unit_folds`);
2. per label, each head candidate (:data:`HEAD_CANDIDATES`) fitted on the other inner folds at every
   penalty (:func:`respira.sites.heads.ridge_paths`) and scored on the fold left out: the penalty whose
   out-of-fold recording scores rank the label best (AUC; ties to the larger penalty) is kept, and a
   Platt scaling of those out-of-fold recording scores makes the head's logit a probability's;
3. every pair (crackle candidate, wheeze candidate) is scored per recording on the out-of-fold
   probabilities, its thresholds cross-fitted over the inner folds (the model's own for ``as_is``;
   the others tuned jointly for the ICBHI-style score, :func:`respira.metrics.thresholds.tune_thresholds`),
   and the best pair is chosen (ties to the simpler: :data:`CANDIDATES` order) among those that beat
   the model as is in at least :data:`EVIDENCE` of paired patient-bootstrap resamples of the training
   units, corrected for the number of pairs compared (else the model as is: a win a few patients' noise
   could give does not replace it);
4. the chosen heads are refitted on all the training recordings at their penalty, and the thresholds
   tuned on all the out-of-fold probabilities.

The result holds, besides the chosen pair, each candidate used for both labels, so one fit scores every
candidate too.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.errors import SplitError
from ..data.folds import patient_kfold
from ..metrics.multilabel import roc_auc
from ..metrics.recording_level import patient_resample_counts
from ..metrics.thresholds import tune_thresholds
from .heads import PENALTIES, LinearScore, balanced_weights, platt_scaling, ridge_paths
from .sample import SiteSample
from .scores import (
    aggregate_rows,
    icbhi_score,
    recording_classes,
    recording_probabilities,
    weighted_icbhi_scores,
)

__all__ = [
    "CANDIDATES",
    "EVIDENCE",
    "HEAD_CANDIDATES",
    "FittedRule",
    "Procedure",
    "fit_procedure",
    "unit_folds",
]

CANDIDATES: tuple[str, ...] = ("as_is", "thresholds", "anchored_head", "site_head")
"""Per label, from the simplest: the model as is, its head with re-tuned thresholds, a head anchored on
the model's logit, a site head on the embeddings alone."""
HEAD_CANDIDATES: tuple[str, ...] = ("anchored_head", "site_head")
EVIDENCE: float = 0.95
"""The share of patient-bootstrap resamples of the training units in which a pair must beat the model as
is (inner out-of-fold scores, paired) to be chosen over it, before the correction for the number of
pairs compared: a small sample's noisy win keeps the model."""
_RESAMPLES = 1000
_HEAD_THRESHOLD = 0.5  # a Platt-scaled head's threshold when the data cannot tune one
_TIE = 1e-9


def unit_folds(sample: SiteSample, folds: int, seed: int) -> np.ndarray:
    """Each recording's fold, ``0 .. k - 1`` (``k = min(folds, units)``): every unit in one fold, the
    folds stratified by the recordings' four classes (every class in every fold where the units allow;
    :func:`respira.data.folds.patient_kfold`), seeded."""
    count = min(int(folds), len(set(sample.units)))
    if count < 2:
        raise ValueError(f"cross-validation needs at least 2 units, got {count}")
    index = pd.DataFrame({"unit": sample.units, "label": sample.classes})
    try:
        assignment = patient_kfold(index, count, seed=seed, group_by="unit", require_all="label")
    except SplitError:
        assignment = patient_kfold(index, count, seed=seed, group_by="unit", require_all=None)
    return assignment.to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class FittedRule:
    """How a fitted procedure decides: per label the model's logit (``None``) or a head
    (:class:`~respira.sites.heads.LinearScore` on the raw embedding), and the (crackle, wheeze)
    thresholds."""

    heads: tuple[LinearScore | None, LinearScore | None]
    thresholds: tuple[float, float]

    def logits(self, sample: SiteSample) -> np.ndarray:
        """``[windows, 2]`` logits of the sample's windows."""
        columns = [
            sample.base_logits[:, label] if head is None else head(sample.embeddings.astype(np.float64))
            for label, head in enumerate(self.heads)
        ]
        return np.stack(columns, axis=1)

    def probabilities(self, sample: SiteSample) -> np.ndarray:
        """``[recordings, 2]`` recording probabilities through the detector's aggregation."""
        return recording_probabilities(
            self.logits(sample), sample.recording, len(sample.recordings), sample.aggregation, sample.top_k
        )


@dataclass(frozen=True)
class Procedure:
    """:func:`fit_procedure`'s result: the ``chosen`` candidate per label and the ``rules`` of
    ``"chosen"`` and of each candidate used for both labels; ``trained_on``: the recordings (positions
    in the sample given) it was fitted on; ``penalties``: per head candidate and label the penalty index
    kept; ``inner_scores``: each pair's inner out-of-fold score."""

    chosen: tuple[str, str]
    rules: dict[str, FittedRule]
    trained_on: np.ndarray
    penalties: dict[str, list[int | None]] = field(default_factory=dict)
    inner_scores: dict[str, float] = field(default_factory=dict)


def _tuned(
    labels: np.ndarray, probabilities: np.ndarray, fixed: Sequence[float | None], fallback: Sequence[float]
) -> tuple[float, float]:
    try:
        return tune_thresholds(labels, probabilities, fixed=fixed)
    except ValueError:  # no normal or no abnormal recording to tune on
        return float(fallback[0]), float(fallback[1])


@dataclass
class _HeadFit:
    """One head candidate for one label: its out-of-fold recording probabilities and final head."""

    probabilities: np.ndarray
    head: LinearScore
    penalty: int


def _fit_heads(train: SiteSample, folds: np.ndarray, label: int) -> dict[str, _HeadFit]:
    """Both head candidates for ``label`` (none when the training recordings hold one class only)."""
    target = train.labels[:, label]
    if target.min() == target.max():
        return {}
    windows_fold = folds[train.recording]
    x, z = train.embeddings, train.base_logits[:, label]
    window_target = np.where(target[train.recording] == 1, 1.0, -1.0)
    count = len(train.recordings)
    out_of_fold = {name: np.zeros((x.shape[0], PENALTIES.size)) for name in HEAD_CANDIDATES}
    for fold in np.unique(folds):
        inside = windows_fold != fold
        recordings_in = np.flatnonzero(folds != fold)
        if target[recordings_in].min() == target[recordings_in].max():
            continue  # no head can be fitted on this part: its fold keeps scores of 0
        local = np.searchsorted(recordings_in, train.recording[inside])
        weights = balanced_weights(local, target[recordings_in])
        paths = ridge_paths(x[inside], window_target[inside], weights, z[inside])
        for name, path in zip(HEAD_CANDIDATES, reversed(paths), strict=True):
            out_of_fold[name][~inside] = path.scores(x[~inside], z[~inside])
    full = ridge_paths(x, window_target, balanced_weights(train.recording, target), z)
    assert train.base_head is not None
    model_row = (train.base_head[0][label], float(train.base_head[1][label]))
    fits = {}
    for name, path in zip(HEAD_CANDIDATES, reversed(full), strict=True):
        raw = aggregate_rows(out_of_fold[name], train.recording, count, train.aggregation, train.top_k)
        aucs = np.array([roc_auc(target, raw[:, j]) for j in range(raw.shape[1])])
        aucs = np.where(np.isnan(aucs), -np.inf, aucs)
        penalty = int(np.flatnonzero(aucs >= aucs.max() - _TIE)[-1])  # ties: the larger penalty
        slope, intercept = platt_scaling(raw[:, penalty], target)
        logits = slope * out_of_fold[name][:, penalty] + intercept
        probabilities = recording_probabilities(
            logits[:, None], train.recording, count, train.aggregation, train.top_k
        )[:, 0]
        head = path.at(penalty, model_row if name == "anchored_head" else None).scaled(slope, intercept)
        fits[name] = _HeadFit(probabilities, head, penalty)
    return fits


def _select(part: SiteSample, predicted: dict[tuple[str, str], np.ndarray], seed: int) -> tuple[str, str]:
    """The pair of best inner out-of-fold score (ties to the simpler) among those that beat the model as
    is convincingly: in at least :data:`EVIDENCE` of the patient-bootstrap resamples of the training
    units (paired: the same resample scores both), the shortfall from 1 shared among the pairs compared
    (Bonferroni: fifteen chances to win by luck are not one); the model as is when none does."""
    as_is = ("as_is", "as_is")
    # not stratified: with a few units most class signatures are one unit's, which stratification would
    # hold fixed in every resample, leaving no spread to judge a win by
    counts = patient_resample_counts(part.units, resamples=_RESAMPLES, seed=seed)
    weights = counts.astype(np.float64)
    baseline = weighted_icbhi_scores(part.classes, predicted[as_is], weights)
    ranked = sorted(predicted, key=lambda pair: (-icbhi_score(part.classes, predicted[pair]), _rank(pair)))
    needed = 1.0 - (1.0 - EVIDENCE) / max(len(predicted) - 1, 1)
    for pair in ranked:
        if pair == as_is:
            return pair
        gain = weighted_icbhi_scores(part.classes, predicted[pair], weights) - baseline
        if np.mean(gain > 0) >= needed:
            return pair
    return as_is


def _rank(pair: tuple[str, str]) -> tuple[int, int]:
    ranks = [CANDIDATES.index(name) for name in pair]
    return sum(ranks), max(ranks)


def fit_procedure(
    sample: SiteSample,
    train: np.ndarray | None = None,
    *,
    inner_folds: int = 4,
    seed: int = 0,
    candidates: Sequence[str] = CANDIDATES,
) -> Procedure:
    """Fit the procedure (module docstring) on the recordings at positions ``train`` of ``sample``
    (default: all), using only them; ``candidates``: those to consider (``as_is`` always is)."""
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        raise ValueError(f"unknown candidate(s) {unknown}; expected some of {list(CANDIDATES)}")
    chosen_names = [name for name in CANDIDATES if name in candidates or name == "as_is"]
    trained_on = np.arange(len(sample.recordings)) if train is None else np.asarray(train, dtype=np.int64)
    part = sample.subset(trained_on)
    labels = part.labels
    folds = unit_folds(part, inner_folds, seed)
    base = recording_probabilities(
        part.base_logits, part.recording, len(part.recordings), part.aggregation, part.top_k
    )
    # per candidate and label: (out-of-fold recording probabilities, head or None for the model's logit)
    options: dict[str, list[tuple[np.ndarray, LinearScore | None] | None]] = {
        "as_is": [(base[:, 0], None), (base[:, 1], None)],
        "thresholds": [(base[:, 0], None), (base[:, 1], None)],
    }
    penalties: dict[str, list[int | None]] = {}
    heads = [_fit_heads(part, folds, label) if part.base_head is not None else {} for label in range(2)]
    for name in HEAD_CANDIDATES:
        fits = [heads[label].get(name) for label in range(2)]
        if name in chosen_names and any(f is not None for f in fits):  # else no row of its own either
            options[name] = [None if f is None else (f.probabilities, f.head) for f in fits]
            penalties[name] = [None if f is None else f.penalty for f in fits]

    def fixed_of(pair: tuple[str, str]) -> list[float | None]:
        return [part.base_thresholds[i] if pair[i] == "as_is" else None for i in range(2)]

    def fallback_of(pair: tuple[str, str]) -> list[float]:
        return [
            part.base_thresholds[i] if pair[i] in ("as_is", "thresholds") else _HEAD_THRESHOLD
            for i in range(2)
        ]

    def stacked(pair: tuple[str, str]) -> np.ndarray:
        return np.stack([options[pair[i]][i][0] for i in range(2)], axis=1)  # type: ignore[index]

    inner_scores: dict[str, float] = {}
    inner_predicted: dict[tuple[str, str], np.ndarray] = {}
    usable = [name for name in chosen_names if name in options]
    for pair in itertools.product(usable, repeat=2):
        if any(options[pair[i]][i] is None for i in range(2)):
            continue
        probabilities = stacked(pair)
        predicted = np.zeros(len(part.recordings), dtype=np.int64)
        for fold in np.unique(folds):
            held = folds == fold
            thresholds = _tuned(labels[~held], probabilities[~held], fixed_of(pair), fallback_of(pair))
            predicted[held] = recording_classes(probabilities[held], thresholds)
        inner_predicted[pair] = predicted
        inner_scores[f"{pair[0]}/{pair[1]}"] = icbhi_score(part.classes, predicted)
    best = _select(part, inner_predicted, seed)

    def rule(pair: tuple[str, str]) -> FittedRule:
        thresholds = _tuned(labels, stacked(pair), fixed_of(pair), fallback_of(pair))
        heads = tuple(options[pair[i]][i][1] for i in range(2))  # type: ignore[index]
        return FittedRule(heads, thresholds)  # type: ignore[arg-type]

    rules = {"chosen": rule(best)}
    for name in usable:  # a label a head cannot be fitted for (one class only) keeps the model's head
        rules[name] = rule(tuple(name if options[name][i] is not None else "thresholds" for i in range(2)))
    return Procedure(best, rules, trained_on, penalties, inner_scores)
