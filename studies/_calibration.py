"""Thresholds re-tuned on a site's labelled sample, judged on the patients left out (``respira fit-site
--candidates as_is thresholds``): ``leave_one_site_out.py`` measures with these; no module of respira uses
them.

A :class:`LabelledSample` holds a model's ``[N, 2]`` (crackle, wheeze) probabilities on labelled examples
(cycles or recordings), their targets and their patients. Then

* :func:`sample_score`: the ICBHI score, (specificity + sensitivity) / 2 over the four classes the two
  flags make (:func:`respira.models.respira.decision.decide_flags`);
* :func:`cross_validated`: each patient's examples decided at thresholds tuned on the other patients
  (:func:`~respira.metrics.thresholds.choose_thresholds`), against the model's thresholds on the same
  examples; :func:`retuning_wins` judges them;
* :func:`decision_ceiling`: the best score any threshold rule could reach with a ranking.

``respira fit-site`` (:mod:`respira.sites.fit_site`) does this per recording inside nested patient-wise
cross-validation, beside a site head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from respira.metrics import icbhi_scores
from respira.metrics.thresholds import choose_thresholds
from respira.models.respira.decision import decide_flags
from respira.models.respira.labels import flags_to_classes

__all__ = ["LabelledSample", "cross_validated", "decision_ceiling", "retuning_wins", "sample_score"]


@dataclass(frozen=True)
class LabelledSample:
    """A model's ``[N, 2]`` (crackle, wheeze) probabilities on a labelled sample, its 0/1 targets and
    the patient of each example (``unit``: ``cycle`` or ``recording``)."""

    probabilities: np.ndarray
    targets: np.ndarray
    patients: np.ndarray
    unit: str


def sample_score(targets: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float]) -> float:
    """ICBHI score of the flags decided at ``thresholds`` (NaN when the sample lacks normal or abnormal)."""
    labels = np.atleast_1d(flags_to_classes(np.asarray(targets)))
    predicted = decide_flags(probabilities, thresholds).classes
    normal, abnormal = int(np.sum(labels == 0)), int(np.sum(labels != 0))
    if normal == 0 or abnormal == 0:
        return math.nan
    return float(icbhi_scores(labels, predicted, warn=False)["icbhi_score"])


def _tuned(sample: LabelledSample, chosen: np.ndarray, fallback: Sequence[float]) -> tuple[float, float]:
    return choose_thresholds(
        sample.targets[chosen], sample.probabilities[chosen], fallback=fallback
    ).thresholds


def cross_validated(sample: LabelledSample, fallback: Sequence[float]) -> dict[str, float]:
    """Leave one patient out: each patient's examples decided at thresholds tuned on the sample's other
    patients. ``calibrated``: the ICBHI score of those out-of-sample decisions; ``model``: the score at
    ``fallback`` (the model's thresholds) on the same examples: whether re-tuning on a sample like this one
    beats the model's thresholds on patients it did not see."""
    labels = np.atleast_1d(flags_to_classes(np.asarray(sample.targets)))
    predicted = np.zeros_like(labels)
    for patient in np.unique(sample.patients):
        own = sample.patients == patient
        predicted[own] = decide_flags(sample.probabilities[own], _tuned(sample, ~own, fallback)).classes
    return {
        "calibrated": float(icbhi_scores(labels, predicted, warn=False)["icbhi_score"]),
        "model": sample_score(sample.targets, sample.probabilities, fallback),
    }


def retuning_wins(held_out: Mapping[str, float]) -> bool:
    """Whether thresholds re-tuned on the sample beat the model's out of sample (:func:`cross_validated`'s
    scores)."""
    return held_out["calibrated"] > held_out["model"]


def decision_ceiling(flags: Any, probabilities: Any) -> float:
    """The ICBHI score of ``probabilities`` ``[N, 2]`` (crackle, wheeze) at the thresholds that maximise
    it on these very ``flags`` ``[N, 2]``: what the best threshold rule could reach with this ranking
    (re-tuned thresholds included). A ceiling, never a result."""
    from respira.metrics import icbhi_scores
    from respira.metrics.thresholds import tune_thresholds
    from respira.models.respira.labels import flags_to_classes

    flags, probabilities = np.asarray(flags, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    thresholds = tune_thresholds(flags, probabilities)
    decided = (probabilities >= np.asarray(thresholds)).astype(np.int64)
    return float(icbhi_scores(flags_to_classes(flags), flags_to_classes(decided), warn=False)["icbhi_score"])
