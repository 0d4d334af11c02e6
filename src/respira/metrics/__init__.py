"""ICBHI 2017 scoring of respiratory-cycle classifiers (definitions: ``docs/concepts/icbhi-score.md``).

Four classes, ``normal``, ``crackle``, ``wheeze`` and ``both``; all metrics are fractions in [0, 1]. The
official ``specificity``, strict ``sensitivity`` and ``icbhi_score`` (Rocha et al., Physiol. Meas. 40,
2019), the non-official ``binary_*`` variants, per-class and per-patient scores; an empty denominator
gives ``nan`` with an :class:`UndefinedMetricWarning`, and averages take their defined terms only.
Multi-label flags map to the four classes at their thresholds (:mod:`respira.metrics.thresholds`);
baselines: :mod:`respira.metrics.baselines`; SPRSound's scores: :mod:`respira.metrics.sprsound`.
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
