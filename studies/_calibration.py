"""Thresholds re-tuned on a site's labelled sample, judged on the patients left out (what ``respira
calibrate`` measured before it became ``respira fit-site``'s thresholds-only candidates): the studies of
leave-one-site-out and site adaptation measure with these; no module of respira uses them.

A :class:`LabelledSample` holds a model's ``[N, 2]`` (crackle, wheeze) probabilities on labelled examples
(cycles or recordings), their targets and their patients. Then

* :func:`sample_score`: the ICBHI score, (specificity + sensitivity) / 2 over the four classes the two
  flags make (:func:`respira.core.decision.decide_flags`);
* :func:`cross_validated`: each patient's examples decided at thresholds tuned on the other patients
  (:func:`~respira.metrics.thresholds.choose_thresholds`), against the model's thresholds on the same
  examples; :func:`retuning_wins` and :func:`written_below_baseline` (against all-normal) judge them;
* :func:`learning_curve`: for ``n = 1 .. P - 1`` labelled patients, ``repeats`` random subsets tune the
  thresholds, scored on the sample's other patients.

``respira fit-site`` (:mod:`respira.sites.fit_site`) does this per recording inside nested patient-wise
cross-validation, beside a site head.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from respira.core.decision import decide_flags
from respira.labels import flags_to_classes
from respira.metrics import icbhi_scores, trivial_baselines
from respira.metrics.baselines import BASELINE_PREFIX, BelowBaseline, below_baseline
from respira.metrics.thresholds import choose_thresholds

__all__ = [
    "LabelledSample",
    "check_sample",
    "cross_validated",
    "largest_scored_point",
    "learning_curve",
    "retuning_wins",
    "sample_score",
    "written_below_baseline",
]


@dataclass(frozen=True)
class LabelledSample:
    """A model's ``[N, 2]`` (crackle, wheeze) probabilities on a labelled sample, its 0/1 targets and
    the patient of each example (``unit``: ``cycle`` or ``recording``)."""

    probabilities: np.ndarray
    targets: np.ndarray
    patients: np.ndarray
    unit: str


def check_sample(targets: np.ndarray, patients: np.ndarray, unit: str) -> None:
    """One-line ``ValueError`` unless a labelled sample can calibrate: examples (``unit``: cycle or
    recording) of at least 2 patients (the learning curve scores thresholds on patients it did not tune
    on), and both normal and abnormal ones (the ICBHI score needs both: specificity on the first,
    sensitivity on the second; without them no threshold is tuned and the "calibrated" model would be
    the model)."""
    count = len(np.unique(patients))
    if count < 2:
        raise ValueError(
            f"calibration needs labelled recordings of at least 2 patients (the learning curve scores "
            f"thresholds on patients it did not tune on); this sample has {count}"
        )
    normal = int((np.asarray(targets).sum(axis=1) == 0).sum())
    abnormal = len(targets) - normal
    if normal == 0 or abnormal == 0:
        raise ValueError(
            f"calibration needs both normal and abnormal (crackle or wheeze) {unit}s: the ICBHI score "
            f"weighs specificity on the first and sensitivity on the second; this sample has {normal} "
            f"normal and {abnormal} abnormal"
        )


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


def learning_curve(
    sample: LabelledSample, fallback: Sequence[float], *, repeats: int = 20, seed: int = 0
) -> list[dict[str, Any]]:
    """Per number of labelled patients ``n`` (1 .. P - 1): mean / std over ``repeats`` random patient
    subsets of the held-out ICBHI score with thresholds tuned on the subset, and with ``fallback``."""
    patients = np.unique(sample.patients)
    rng = np.random.default_rng(seed)
    rows = []
    for n in range(1, len(patients)):
        tuned_scores, base_scores = [], []
        for _ in range(repeats):
            subset = rng.choice(patients, size=n, replace=False)
            chosen = np.isin(sample.patients, subset)
            rest = ~chosen
            thresholds = _tuned(sample, chosen, fallback)
            tuned_scores.append(sample_score(sample.targets[rest], sample.probabilities[rest], thresholds))
            base_scores.append(sample_score(sample.targets[rest], sample.probabilities[rest], fallback))
        rows.append({"patients": n, **_spread("calibrated", tuned_scores), **_spread("model", base_scores)})
    return rows


def cross_validated(sample: LabelledSample, fallback: Sequence[float]) -> dict[str, float]:
    """Leave one patient out: each patient's examples decided at thresholds tuned on the sample's other
    patients. ``calibrated``: the ICBHI score of those out-of-sample decisions; ``model``: the score at
    ``fallback`` (the model's thresholds) on the same examples. Whether re-tuning on a sample like this one
    beats the model's thresholds on patients it did not see (:func:`calibrate` applies it only then)."""
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
    scores): the rule :func:`calibrate` applies them by."""
    return held_out["calibrated"] > held_out["model"]


def _all_normal(sample: LabelledSample) -> float:
    classes = np.atleast_1d(flags_to_classes(np.asarray(sample.targets)))
    return trivial_baselines(classes)[f"{BASELINE_PREFIX}all_normal_icbhi_score"]


def written_below_baseline(
    sample: LabelledSample, held_out: Mapping[str, float], applied: bool
) -> BelowBaseline | None:
    """Whether the thresholds to be written (re-tuned when ``applied``, else the model's) fail to beat the
    all-normal classifier out of sample: their score with each patient left out of the tuning
    (:func:`cross_validated`) against calling every example normal (:mod:`respira.metrics.baselines`)."""
    which = "calibrated" if applied else "model"
    whose = "re-tuned" if applied else "model's"
    return below_baseline(
        f"leave-one-patient-out ICBHI score of the {whose} thresholds",
        f"cross_validated.{which}",
        held_out[which],
        {"all_normal": _all_normal(sample)},
    )


def largest_scored_point(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The learning curve's point with the most labelled patients whose held-out score is defined (with one
    or two patients left over, they may all lack normal or abnormal examples: no ICBHI score)."""
    scored = [
        row for row in curve if not (math.isnan(row["calibrated_mean"]) or math.isnan(row["model_mean"]))
    ]
    return scored[-1] if scored else None


def _spread(name: str, values: list[float]) -> dict[str, float]:
    defined = [v for v in values if not math.isnan(v)]
    return {
        f"{name}_mean": statistics.fmean(defined) if defined else math.nan,
        f"{name}_std": statistics.stdev(defined) if len(defined) > 1 else math.nan,
        f"{name}_subsets": len(defined),
    }


def decision_ceiling(flags: Any, probabilities: Any) -> float:
    """The ICBHI score of ``probabilities`` ``[N, 2]`` (crackle, wheeze) at the thresholds that maximise
    it on these very ``flags`` ``[N, 2]``: what the best threshold rule could reach with this ranking
    (label-free adaptation and few-shot calibration included). A ceiling, never a result."""
    from respira.labels import flags_to_classes
    from respira.metrics import icbhi_scores
    from respira.metrics.thresholds import tune_thresholds

    flags, probabilities = np.asarray(flags, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    thresholds = tune_thresholds(flags, probabilities)
    decided = (probabilities >= np.asarray(thresholds)).astype(np.int64)
    return float(icbhi_scores(flags_to_classes(flags), flags_to_classes(decided), warn=False)["icbhi_score"])
