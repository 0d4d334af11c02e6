"""Make a model serve a site: fit it on a few labelled patients of that site, judged out of sample.

- :mod:`respira.sites.sample`: a site's labelled recordings (:class:`LabelledRecording`) and the
  encoder's view of their windows, computed once (:class:`SiteSample`);
- :mod:`respira.sites.embedding`: :func:`embed_recordings`, one encoder pass per recording giving
  both the raw embeddings and the model's logits of the windows ``predict`` cuts;
- :mod:`respira.sites.fitting`: :func:`fit_site`, per label the model as is, re-tuned thresholds, a
  site head or a head anchored on the model's, chosen and scored by nested patient-wise
  cross-validation (:class:`SiteFit`), and :func:`learning_curve` (the procedure itself:
  :mod:`respira.sites.procedure`; the heads: :mod:`respira.sites.heads`; the scores:
  :mod:`respira.sites.scores`).
"""

from __future__ import annotations

from .embedding import embed_recordings, linear_head, site_head_refusal
from .fitting import ALL, LearningCurve, SiteFit, fit_site, learning_curve
from .sample import LabelledRecording, SiteSample

__all__ = [
    "ALL",
    "LabelledRecording",
    "LearningCurve",
    "SiteFit",
    "SiteSample",
    "embed_recordings",
    "fit_site",
    "learning_curve",
    "linear_head",
    "site_head_refusal",
]
