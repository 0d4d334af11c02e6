"""ICBHI 2017 scoring of respiratory-cycle classifiers.

Each respiratory cycle has one of four classes, ``normal``, ``crackle``, ``wheeze`` and ``both``
(crackles and wheezes); the last three are *abnormal*. All metrics are fractions in [0, 1].

Official ICBHI 2017 metrics (Rocha et al., Physiol. Meas. 40, 2019), reported by respira as
``specificity``, ``sensitivity`` and ``icbhi_score``:

- **Specificity** (Sp) = normal cycles classified ``normal`` / all normal cycles.
- **Sensitivity** (Se, strict) = abnormal cycles classified as exactly their own class / all
  abnormal cycles. A ``crackle`` cycle classified ``wheeze`` or ``both`` counts as a miss.
- **ICBHI score** = (Sp + Se) / 2.

Non-official binary variant, reported as ``binary_sensitivity`` and ``binary_icbhi_score``, and
never to be compared with published ICBHI scores:

- **Binary sensitivity** = abnormal cycles classified as *any* abnormal class / all abnormal
  cycles (normal-vs-abnormal detection: a ``crackle`` cycle classified ``wheeze`` counts as a hit).
  It is always greater than or equal to the strict sensitivity.
- **Binary ICBHI score** = (Sp + binary sensitivity) / 2.

Also reported: ``accuracy``; ``balanced_accuracy`` (mean per-class recall); per-class
``precision_<class>``, ``recall_<class>`` and ``f1_<class>``; ``macro_f1`` (unweighted mean of the
per-class F1). Per-patient variants (:func:`per_patient_icbhi`) average each patient's Sp, Se and
score, so that every patient weighs the same.

Multi-label models predict "crackle present" and "wheeze present" with one sigmoid output each; a
label is present when its probability is at least its threshold (tuned on held-out predictions, of
the validation split or cross-fitted on the training pool, by :mod:`respira.metrics.thresholds`;
stored in the model's ``config.decision_thresholds``; 0.5 when untuned). The two flags map to a
class (no flag: normal; crackle only: crackle; wheeze only: wheeze;
both flags: both), and the official metrics above are computed from the mapped classes.

Undefined values: a ratio with an empty denominator (e.g. sensitivity on data without abnormal
cycles, precision of a class never predicted) is reported as ``nan``, never as 0 or 1, with an
:class:`UndefinedMetricWarning`. Averages (``icbhi_score``, ``binary_icbhi_score``,
``balanced_accuracy``, ``macro_f1`` and the per-patient means) are taken over their defined terms
only; e.g. on data without abnormal cycles ``icbhi_score`` equals ``specificity``.

Baselines (:mod:`respira.metrics.baselines`): the all-normal and class-prior classifiers scored on the
same cycles, reported beside every model's scores as ``baseline_*``.

SPRSound (the IEEE BioCAS 2022 challenge's paediatric database) has its own tasks and scores (SE,
SP, AS, HS, Score) in :mod:`respira.metrics.sprsound`.
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
