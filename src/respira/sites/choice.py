"""fit-site's choice, per label, between the model as is, re-tuned thresholds and a site head
(:func:`fit_procedure`, which nested cross-validation repeats per outer fold): inner patient-wise folds
pick each head's penalty (AUC) and Platt-scale it; every (rule, crackle, wheeze) candidate is scored out of
fold with cross-fitted thresholds and one chosen against the model as is; the chosen heads are refitted on
all training recordings. A label with no positive or no negative recording is left alone."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data.errors import SplitError
from ..data.folds import patient_kfold
from ..metrics.icbhi import icbhi_score
from ..metrics.multilabel import roc_aucs
from ..metrics.recording_level import resample_weights
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..models.respira.windows import DEFAULT_TOP_K, describe_aggregation
from .heads import (
    PENALTIES,
    LinearScore,
    RidgePath,
    balanced_weights,
    expected_thresholds,
    platt_scaling,
    ridge_paths,
)
from .options import CANDIDATES, GIVEN, HEAD_CANDIDATES, SELECTIONS
from .scores import aggregate_rows, recording_classes, recording_probabilities
from .site_sample import SiteSample

RecordingRule = tuple[str, int | None]
RECORDING_RULES: tuple[RecordingRule, ...] = (("max", None), ("topk_mean", DEFAULT_TOP_K), ("mean", None))
"""The recording rules a fit chooses among (:func:`respira.models.respira.windows.aggregate_windows`)."""
SELECTION: str = "one_se_units"
"""The default selection (docs/history/fit-site.md, "Thresholds from the expected score")."""
EVIDENCE: float = 0.95
"""``bonferroni``'s share of paired resamples in which an option must beat the model as is (before the
correction for the number of options)."""
_RESAMPLES = 1000
_HEAD_THRESHOLD = 0.5  # a Platt-scaled head's threshold when the data cannot tune one
_TIE = 1e-9


def unit_folds(sample: SiteSample, folds: int, seed: int) -> np.ndarray:
    """Each recording's fold, ``0 .. min(folds, units) - 1``: patient-wise, class-stratified, seeded."""
    count = min(int(folds), len(set(sample.units)))
    if count < 2:
        raise ValueError(f"cross-validation needs at least 2 units, got {count}")
    return _unit_folds(tuple(sample.units), tuple(sample.classes.tolist()), count, int(seed)).copy()


@functools.lru_cache(maxsize=64)  # keyed by every unit and class: a nested fit asks again for the same folds
def _unit_folds(units: tuple[str, ...], classes: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    index = pd.DataFrame({"unit": np.array(units, dtype=object), "label": np.array(classes, dtype=np.int64)})
    try:
        assignment = patient_kfold(index, count, seed=seed, group_by="unit", require_all="label")
    except SplitError:
        assignment = patient_kfold(index, count, seed=seed, group_by="unit", require_all=None)
    return assignment.to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class FittedRule:
    """How a fitted procedure decides: per label the model's logit (``None``) or a head, the thresholds
    and the recording rule (``None``: the model's own)."""

    heads: tuple[LinearScore | None, LinearScore | None]
    thresholds: tuple[float, float]
    aggregation: str | None = None
    top_k: int | None = None

    def logits(self, sample: SiteSample) -> np.ndarray:
        columns = [
            sample.base_logits[:, label] if head is None else head(sample.embeddings.astype(np.float64))
            for label, head in enumerate(self.heads)
        ]
        return np.stack(columns, axis=1)

    def recording_rule(self, sample: SiteSample) -> RecordingRule:
        if self.aggregation is None:
            return sample.aggregation, sample.top_k
        return self.aggregation, self.top_k

    def probabilities(self, sample: SiteSample) -> np.ndarray:
        rule, top_k = self.recording_rule(sample)
        return recording_probabilities(
            self.logits(sample), sample.recording, len(sample.recordings), rule, top_k
        )


@dataclass(frozen=True)
class Procedure:
    """:func:`fit_procedure`'s result: the rules of ``"chosen"`` and of each candidate used for both labels,
    and each option's inner score (``"crackle/wheeze"``, or ``"crackle/wheeze@rule"`` at another rule)."""

    chosen: tuple[str, str]
    rules: dict[str, FittedRule]
    penalties: dict[str, list[int | None]] = field(default_factory=dict)
    inner_scores: dict[str, float] = field(default_factory=dict)
    aggregation: str = "max"
    top_k: int | None = None


def check_selection(selection: str | None = None) -> str:
    """The selection (the default for ``None``); a one-line ``ValueError`` for an unknown one."""
    chosen = SELECTION if selection is None else selection
    if chosen not in SELECTIONS:
        raise ValueError(f"--selection must be one of {', '.join(SELECTIONS)}, got {chosen!r}")
    return chosen


def _thresholds(
    labels: np.ndarray, probabilities: np.ndarray, pair: Sequence[str], own: tuple[float, float]
) -> tuple[float, float]:
    """A candidate pair's thresholds (``as_is`` keeps the model's ``own``)."""
    fixed = [own[i] if pair[i] == "as_is" else None for i in range(2)]
    fallback = [own[i] if pair[i] in ("as_is", "thresholds") else _HEAD_THRESHOLD for i in range(2)]
    return expected_thresholds(labels, probabilities, fixed, fallback)


def unmeasurable_labels(labels: np.ndarray) -> dict[int, str]:
    """The labels (0 crackle, 1 wheeze) that ``labels`` (``[recordings, 2]`` 0/1) hold no positive or no
    negative recording of, with why: nothing can be fitted or measured on them (fit-site's card says so)."""
    positives = labels.sum(axis=0)
    why: dict[int, str] = {}
    for i, name in enumerate(MULTI_LABEL_NAMES):
        if not positives[i]:
            why[i] = f"not measurable here: no {name} recording among the labelled"
        elif positives[i] == len(labels):
            why[i] = f"not measurable here: every labelled recording has {name}"
    return why


@dataclass
class _HeadPaths:
    out_of_fold: np.ndarray  # [windows, penalties]
    full: RidgePath
    model_row: tuple[np.ndarray, float] | None


def _head_paths(train: SiteSample, folds: np.ndarray, label: int) -> dict[str, _HeadPaths]:
    """Both head candidates for ``label`` at every penalty (none on one class)."""
    target = train.labels[:, label]
    if target.min() == target.max():
        return {}
    windows_fold = folds[train.recording]
    x, z = train.embeddings, train.base_logits[:, label]
    window_target = np.where(target[train.recording] == 1, 1.0, -1.0)  # each window its recording's label
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
    return {
        name: _HeadPaths(out_of_fold[name], path, model_row if name == "anchored_head" else None)
        for name, path in zip(HEAD_CANDIDATES, reversed(full), strict=True)
    }


def _head_fit(
    train: SiteSample, paths: _HeadPaths, label: int, rule: RecordingRule
) -> tuple[np.ndarray, LinearScore, int]:
    """Out-of-fold probabilities, head and penalty at the penalty ranking ``label`` best (ties: larger)."""
    target, count = train.labels[:, label], len(train.recordings)
    raw = aggregate_rows(paths.out_of_fold, train.recording, count, *rule)
    aucs = roc_aucs(target, raw)
    aucs = np.where(np.isnan(aucs), -np.inf, aucs)
    penalty = int(np.flatnonzero(aucs >= aucs.max() - _TIE)[-1])  # ties: the larger penalty
    slope, intercept = platt_scaling(raw[:, penalty], target)
    logits = slope * paths.out_of_fold[:, penalty] + intercept
    probabilities = recording_probabilities(logits[:, None], train.recording, count, *rule)[:, 0]
    head = paths.full.at(penalty, paths.model_row).scaled(slope, intercept)
    return probabilities, head, penalty


Option = tuple[RecordingRule, str, str]


def _select(
    part: SiteSample,
    predicted: dict[Option, np.ndarray],
    baseline_key: Option,
    selection: str,
    seed: int,
    inner_folds: int = 0,
) -> Option:
    """The best inner option (ties to the simpler) that ``selection`` lets replace the baseline
    (:data:`~respira.sites.options.GIVEN`: the given procedure on every label it fits, at its best rule)."""
    if selection == GIVEN:
        return min(
            predicted,
            key=lambda key: (key[1:].count("as_is"), -_plain_score(part, predicted[key]), _rank(key)),
        )
    if selection == "one_se_units":
        units = np.asarray(part.units, dtype=object)
        kinds = (len(set(units[part.classes == 0])), len(set(units[part.classes != 0])))
        if min(kinds) < inner_folds:
            return baseline_key
    # not stratified: with a few units most class signatures are one unit's, which stratification would
    # hold fixed in every resample, leaving no spread to judge a win by
    weights = resample_weights(part.units, resamples=_RESAMPLES, seed=seed)
    scores = {key: icbhi_score(part.classes, value, weights=weights) for key, value in predicted.items()}
    ranked = sorted(predicted, key=lambda key: (-scores[key][0], _rank(key)))
    baseline = scores[baseline_key]
    needed = 1.0 - (1.0 - EVIDENCE) / max(len(predicted) - 1, 1)  # bonferroni
    for key in ranked:
        if key == baseline_key:
            return key
        gain = scores[key][1:] - baseline[1:]
        if selection == "one_se_units":
            if scores[key][0] - baseline[0] > float(np.nanstd(gain)):
                return key
        elif np.mean(gain > 0) >= needed:
            return key
    return baseline_key


def _plain_score(part: SiteSample, predicted: np.ndarray) -> float:
    """The ICBHI-style score of four-class ``predicted`` on ``part``'s recordings."""
    return icbhi_score(part.classes, predicted)


def _stand_in(name: str, fitted: bool, alone: bool) -> str:
    """What a candidate's row uses for a label: the candidate, else re-tuned thresholds where no head was
    fitted, the model as is where the label is left alone."""
    return "as_is" if alone else name if fitted else "thresholds"


def _rank(key: Option) -> tuple[int, int, int]:
    ranks = [CANDIDATES.index(name) for name in key[1:]]
    return sum(ranks), max(ranks), RECORDING_RULES.index(key[0]) if key[0] in RECORDING_RULES else 0


_Options = dict[tuple[RecordingRule, str], list[tuple[np.ndarray, LinearScore | None, int | None] | None]]
"""Per (rule, candidate) and label: (out-of-fold recording probabilities, head or None for the model's
logit, penalty)."""


def _candidate_options(
    part: SiteSample,
    folds: np.ndarray,
    rules: list[RecordingRule],
    own: RecordingRule,
    chosen_names: list[str],
) -> _Options:
    """Each candidate's out-of-fold recording probabilities per label at each recording rule (a head
    candidate only where a head could be fitted for a label)."""
    paths = [_head_paths(part, folds, label) if part.base_head is not None else {} for label in range(2)]
    options: _Options = {}
    for rule in rules:
        base = recording_probabilities(part.base_logits, part.recording, len(part.recordings), *rule)
        names = ["as_is", "thresholds"] if rule == own else ["thresholds"]
        for name in names:
            options[rule, name] = [(base[:, 0], None, None), (base[:, 1], None, None)]
        for name in HEAD_CANDIDATES:
            if name not in chosen_names:
                continue
            fits = [
                _head_fit(part, paths[label][name], label, rule) if name in paths[label] else None
                for label in range(2)
            ]
            if any(f is not None for f in fits):  # else no row of its own either
                options[rule, name] = fits
    return options


def _penalties(options: _Options, rule: RecordingRule) -> dict[str, list[int | None]]:
    """Each head candidate's penalty per label at ``rule`` (``None``: the label keeps the model's logit)."""
    return {
        name: [None if f is None else f[2] for f in options[rule, name]]
        for name in HEAD_CANDIDATES
        if (rule, name) in options
    }


def fit_procedure(
    sample: SiteSample,
    train: np.ndarray | None = None,
    *,
    inner_folds: int = 4,
    seed: int = 0,
    candidates: Sequence[str] = CANDIDATES,
    selection: str = SELECTION,
    keep: Collection[int] = (),
) -> Procedure:
    """Fit the procedure on the recordings at positions ``train`` of ``sample`` (``as_is`` always a
    candidate); the labels ``keep`` (0 crackle, 1 wheeze) stay as the model has them, as an unmeasurable
    label does (head, threshold and recording rule)."""
    chosen_names = [name for name in CANDIDATES if name in candidates or name == "as_is"]
    part = sample.subset(
        np.arange(len(sample.recordings)) if train is None else np.asarray(train, dtype=np.int64)
    )
    labels = part.labels
    folds = unit_folds(part, inner_folds, seed)
    own: RecordingRule = (part.aggregation, part.top_k)
    alone = unmeasurable_labels(labels) | dict.fromkeys(keep, "kept")  # as is, at the model's own rule
    rules = [own] if alone else [own, *(r for r in RECORDING_RULES if r != own)]
    options = _candidate_options(part, folds, rules, own, chosen_names)

    def stacked(key: Option) -> np.ndarray:
        return np.stack([options[key[0], key[1 + i]][i][0] for i in range(2)], axis=1)  # type: ignore[index]

    def name_of(key: Option) -> str:
        rule, top_k = key[0]
        return f"{key[1]}/{key[2]}" + ("" if key[0] == own else f"@{rule}{'' if top_k is None else top_k}")

    inner_scores: dict[str, float] = {}
    inner_predicted: dict[Option, np.ndarray] = {}
    for rule in rules:
        usable = [name for name in chosen_names if (rule, name) in options]
        for pair in itertools.product(usable, repeat=2):
            if any(options[rule, pair[i]][i] is None for i in range(2)):
                continue
            if any(pair[i] != "as_is" for i in alone):
                continue
            key: Option = (rule, *pair)  # type: ignore[assignment]
            probabilities = stacked(key)
            predicted = np.zeros(len(part.recordings), dtype=np.int64)
            for fold in np.unique(folds):
                held = folds == fold
                thresholds = _thresholds(labels[~held], probabilities[~held], pair, part.base_thresholds)
                predicted[held] = recording_classes(probabilities[held], thresholds)
            inner_predicted[key] = predicted
            inner_scores[name_of(key)] = icbhi_score(part.classes, predicted)
    best = _select(part, inner_predicted, (own, "as_is", "as_is"), selection, seed, int(folds.max()) + 1)

    def fitted(key: Option) -> FittedRule:
        thresholds = _thresholds(labels, stacked(key), key[1:], part.base_thresholds)
        heads = tuple(options[key[0], key[1 + i]][i][1] for i in range(2))  # type: ignore[index]
        return FittedRule(heads, thresholds, *key[0])  # type: ignore[arg-type]

    fitted_rules = {"chosen": fitted(best)}
    for name in chosen_names:  # each candidate at the rule its inner score prefers
        keys = [
            (rule, *(_stand_in(name, options[rule, name][i] is not None, i in alone) for i in range(2)))
            for rule in rules
            if (rule, name) in options
        ]
        keys = [key for key in keys if name_of(key) in inner_scores]
        if keys:
            fitted_rules[name] = fitted(
                max(keys, key=lambda k: (inner_scores[name_of(k)], -rules.index(k[0])))
            )
    penalties = _penalties(options, best[0])
    return Procedure(best[1:], fitted_rules, penalties, inner_scores, *best[0])  # type: ignore[arg-type]


def recording_rule_words(fit: Any, sample: SiteSample) -> str:
    """What the card and ``site_fit.json`` say of the recording rule the fit chose."""
    offered = ", ".join(rule if top_k is None else f"{rule} (top {top_k})" for rule, top_k in RECORDING_RULES)
    own = (sample.aggregation, sample.top_k) == (fit.aggregation, fit.top_k)
    return (
        f"{describe_aggregation(fit.aggregation, fit.top_k)}; chosen with the candidates by the same inner "
        f"cross-validation among: {offered}"
        + (" (the base model's own rule)" if own else f"; the base model's was {sample.aggregation}")
    )
