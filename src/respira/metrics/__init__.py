"""ICBHI 2017 scoring of respiratory-cycle classifiers (definitions: ``docs/concepts/icbhi-score.md``).

Four classes, ``normal``, ``crackle``, ``wheeze`` and ``both``; all scores are fractions in [0, 1].
:func:`icbhi_scores` gives the official specificity, strict sensitivity and ``icbhi_score`` (their mean;
Rocha et al., Physiol. Meas. 40, 2019), the non-official ``binary_*`` variants, accuracy, per-class and
macro scores; :func:`per_patient_icbhi` weighs every patient the same. Multi-label (crackle, wheeze)
models are scored on the classes their flags map to (:func:`multilabel_scores`), at thresholds tuned on
held-out data (:mod:`respira.metrics.thresholds`). An empty denominator gives ``nan`` with an
:class:`UndefinedMetricWarning`; averages take their defined terms. :func:`trivial_baselines` scores the
all-normal and class-prior classifiers on the same cycles; SPRSound's challenge scores are in
:mod:`respira.metrics.sprsound`.
"""

from __future__ import annotations

from pathlib import Path

from .baselines import trivial_baselines
from .compute_metrics import compute_metrics, make_compute_metrics
from .icbhi import UndefinedMetricWarning, confusion_matrix, icbhi_scores, per_patient_icbhi
from .multilabel import multilabel_scores, roc_auc
from .thresholds import choose_thresholds, sigmoid

ICBHI_METRIC_PATH: Path = Path(__file__).resolve().parent / "icbhi_metric"
"""Folder of the ``evaluate`` metric: ``evaluate.load(str(ICBHI_METRIC_PATH))`` works offline."""

__all__ = [
    "ICBHI_METRIC_PATH",
    "UndefinedMetricWarning",
    "choose_thresholds",
    "compute_metrics",
    "confusion_matrix",
    "icbhi_scores",
    "make_compute_metrics",
    "multilabel_scores",
    "per_patient_icbhi",
    "roc_auc",
    "sigmoid",
    "trivial_baselines",
]
