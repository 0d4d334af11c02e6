"""Make a model serve a site: everything respira does with one site's own recordings.

``respira fit-site`` (:mod:`~respira.sites.fit_site`): a site's labelled sample embedded once
(:mod:`~respira.sites.sample`), per label the model as is, re-tuned thresholds or a site
head (:mod:`~respira.sites.procedure`, :mod:`~respira.sites.heads`) chosen and judged by nested patient-wise
cross-validation (:mod:`~respira.sites.out_of_sample`, :mod:`~respira.sites.scores`), the fitted folder
written (:mod:`~respira.sites.site_folder`) only when it is shown to serve. ``respira suggest``
(:mod:`~respira.sites.suggest`): which recordings of an archive to label next.
:mod:`~respira.sites.options`: both commands' options, which the parser reads alone (the other names are
imported on first use).
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "LabelledRecording": "sample",
    "LearningCurve": "out_of_sample",
    "SiteFit": "out_of_sample",
    "SiteSample": "sample",
    "embed_recordings": "sample",
    "learning_curve": "out_of_sample",
    "linear_head": "sample",
    "site_head_refusal": "sample",
}

__all__ = [
    "LabelledRecording",
    "LearningCurve",
    "SiteFit",
    "SiteSample",
    "embed_recordings",
    "learning_curve",
    "linear_head",
    "site_head_refusal",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
