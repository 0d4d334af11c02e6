"""The trivial classifiers every model must beat (all-normal, and the class-prior's expected scores), scored
on the same cycles; a headline not beating the best of them (a tie does not) is a :class:`BelowBaseline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..models.respira.audio_decoding import is_number
from ..models.respira.labels import NUM_CLASSES
from ..utils.tables import format_percent
from .icbhi import (
    NORMAL,
    _mean_defined,
    _ratio,
    icbhi_scores,
    per_patient_icbhi,
    validate_labels_and_predictions,
)

BASELINE_PREFIX = "baseline_"
"""Prefix of every baseline key."""
_HEADLINE = ("specificity", "sensitivity", "icbhi_score")


def class_prior(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """The share of each of the four classes among ``labels`` (class indices 0..3)."""
    array, _ = validate_labels_and_predictions(labels, labels, NUM_CLASSES)
    return np.bincount(array, minlength=NUM_CLASSES) / len(array)


def trivial_baselines(
    labels: Sequence[int] | np.ndarray,
    *,
    patient_ids: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, float]:
    """Scores of the all-normal and class-prior (classes drawn from ``labels``' shares) classifiers."""
    labels_array, _ = validate_labels_and_predictions(labels, labels, NUM_CLASSES)
    shares = class_prior(labels_array)
    all_normal = icbhi_scores(labels_array, np.full_like(labels_array, NORMAL), warn=False)
    result = {f"{BASELINE_PREFIX}all_normal_{key}": float(all_normal[key]) for key in _HEADLINE}
    counts = np.bincount(labels_array, minlength=NUM_CLASSES)
    n_abnormal = int(counts.sum() - counts[NORMAL])
    specificity = float(shares[NORMAL]) if counts[NORMAL] > 0 else float("nan")
    abnormal = np.arange(NUM_CLASSES) != NORMAL
    sensitivity = _ratio(float(np.dot(counts[abnormal], shares[abnormal])), n_abnormal)
    result[f"{BASELINE_PREFIX}class_prior_specificity"] = specificity
    result[f"{BASELINE_PREFIX}class_prior_sensitivity"] = sensitivity
    result[f"{BASELINE_PREFIX}class_prior_icbhi_score"] = _mean_defined([specificity, sensitivity])
    if patient_ids is not None:
        patients = per_patient_icbhi(
            labels_array, np.full_like(labels_array, NORMAL), patient_ids, warn=False
        )
        result[f"{BASELINE_PREFIX}all_normal_patient_icbhi_score"] = float(patients["patient_icbhi_score"])
    return result


_BASELINES = {
    "all_normal": ("all-normal", "every example called normal"),
    "class_prior": ("class-prior", "classes drawn at random from their shares"),
    "no_events": ("no-events", "no event detected anywhere"),
    "all_positive": ("all-positive", "every recording one event of each label, end to end"),
}
BASELINE_NAMES: dict[str, str] = {key: name for key, (name, _) in _BASELINES.items()}
"""How a baseline's key part reads."""
BASELINE_MEANINGS: dict[str, str] = dict(_BASELINES.values())  # what each baseline (by name) does
ICBHI_HEADLINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "icbhi_score": ("ICBHI score", ("all_normal", "class_prior")),
    "patient_icbhi_score": ("per-patient ICBHI score", ("all_normal",)),
}
"""The ICBHI headlines: key → what it is, its baselines (their keys: ``baseline_<baseline>_<key>``)."""


@dataclass(frozen=True)
class BelowBaseline:
    """A headline score that does not beat the best of its trivial baselines."""

    headline: str
    """What is scored, as a reader names it (``per-patient ICBHI score``, ``task 2-1 Score (inter_test)``)."""
    key: str
    """Where it is in its ``metrics.json`` (dotted through nested objects)."""
    value: float
    baseline: str
    """The baseline's name (``all-normal``, ``class-prior``, ``no-events``, ``all-positive``)."""
    baseline_value: float
    lower_is_better: bool = False

    def _shown(self, value: float) -> str:
        """A score in percent; an error rate (lower is better, may exceed 1) as the ratio it is."""
        return f"{value:.3f}" if self.lower_is_better else format_percent(value)

    def flag(self) -> str:
        """The marker a table prints beside the number."""
        better = ", lower is better" if self.lower_is_better else ""
        return f"BELOW BASELINE ({self.baseline} {self._shown(self.baseline_value)}{better})"

    def line(self) -> str:
        """One sentence: the score, the baseline it does not beat and what that baseline does."""
        verb = "is not below" if self.lower_is_better else "does not beat"
        meaning = BASELINE_MEANINGS.get(self.baseline, "a trivial classifier")
        return (
            f"{self.headline} {self._shown(self.value)} {verb} the {self.baseline} baseline's "
            f"{self._shown(self.baseline_value)} ({meaning})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def below_baseline(
    headline: str,
    key: str,
    value: Any,
    baselines: Mapping[str, Any],
    *,
    lower_is_better: bool = False,
) -> BelowBaseline | None:
    """The :class:`BelowBaseline` of ``value`` unless it beats the best defined ``baselines``."""
    defined = {BASELINE_NAMES.get(name, name): float(v) for name, v in baselines.items() if is_number(v)}
    if not is_number(value) or not defined:
        return None
    pick = min if lower_is_better else max
    name = pick(defined, key=defined.__getitem__)
    if value < defined[name] if lower_is_better else value > defined[name]:
        return None
    return BelowBaseline(headline, key, float(value), name, defined[name], lower_is_better)


def icbhi_below_baselines(
    metrics: Mapping[str, Any], *, prefix: str = "", where: str = ""
) -> list[BelowBaseline]:
    """The ICBHI headlines of flat ``metrics`` (keys after ``prefix``) that do not beat their baselines."""
    sides = (f"{prefix}sensitivity", f"{prefix}specificity")
    if any(side in metrics and not is_number(metrics[side]) for side in sides):  # a one-sided split
        return []
    found = []
    for key, (label, baselines) in ICBHI_HEADLINES.items():
        values = {name: metrics.get(f"{prefix}{BASELINE_PREFIX}{name}_{key}") for name in baselines}
        headline = f"{label} ({where})" if where else label
        entry = below_baseline(headline, f"{prefix}{key}", metrics.get(f"{prefix}{key}"), values)
        if entry is not None:
            found.append(entry)
    return found


def flags_by_key(entries: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """``metrics.json``'s ``below_baseline`` entries as key → :meth:`BelowBaseline.flag`."""
    return {entry["key"]: BelowBaseline(**entry).flag() for entry in entries or ()}
