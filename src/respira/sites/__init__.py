"""Make a model serve a site: ``respira fit-site`` (:mod:`~respira.sites.fit_site`) chooses per label the
model as is, re-tuned thresholds or a site head by nested patient-wise cross-validation and writes the fitted
folder only when it is shown to serve; ``respira suggest`` (:mod:`~respira.sites.suggest`) says which
recordings of an archive to label next.
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "LabelledRecording": "site_sample",
    "LearningCurve": "out_of_sample",
    "SiteFit": "out_of_sample",
    "SiteSample": "site_sample",
    "embed_recordings": "site_sample",
    "learning_curve": "out_of_sample",
    "linear_head": "site_sample",
    "site_head_refusal": "site_sample",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
