"""ICBHI 2017 respiratory-sound metric for the Hugging Face ``evaluate`` library:
``evaluate.load(str(respira.metrics.ICBHI_METRIC_PATH))``. ``evaluate`` imports a copy of this file, so it
imports the installed ``respira`` package, not a relative module.
"""

import datasets
import evaluate

from respira.data.corpora import CORPORA
from respira.metrics.icbhi import icbhi_scores

_CITATION = CORPORA["icbhi"].citation

_DESCRIPTION = """\
Official ICBHI 2017 scores of four-class respiratory-cycle predictions (0 normal, 1 crackle,
2 wheeze, 3 both). Specificity = normal cycles predicted normal / normal cycles; sensitivity
(strict, official) = abnormal cycles predicted as exactly their own class / abnormal cycles;
icbhi_score = (specificity + sensitivity) / 2. Also binary_sensitivity and binary_icbhi_score (any
abnormal class counts as a hit; NOT the official metric), accuracy, balanced_accuracy, per-class
precision/recall/F1 and macro_f1. Empty denominators give NaN; averages use their defined terms.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of int): predicted class indices in 0..3.
    references (list of int): true class indices in 0..3.
Returns:
    dict of float: specificity, sensitivity, icbhi_score, binary_sensitivity, binary_icbhi_score,
    accuracy, balanced_accuracy, precision_<class>, recall_<class>, f1_<class>, macro_f1.
Examples:
    >>> metric = evaluate.load(str(ICBHI_METRIC_PATH))
    >>> metric.compute(predictions=[0, 1, 2, 0], references=[0, 1, 3, 1])["icbhi_score"]
    0.6666666666666666
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ICBHIMetric(evaluate.Metric):
    """ICBHI 2017 specificity, strict sensitivity and score (see ``respira.metrics``)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://bhichallenge.med.auth.gr/ICBHI_2017_Challenge"],
        )

    def _compute(self, predictions, references) -> dict:
        return icbhi_scores(references, predictions)
