"""Make a model serve a site: everything respira does with one site's own recordings, in one room.

- :mod:`respira.sites.sample`: a site's labelled recordings (:class:`LabelledRecording`) and the
  encoder's view of their windows, computed once (:class:`SiteSample`);
- :mod:`respira.sites.site_samples`: reading them from a folder (``--dataset labelled|kauh|sprsound|icbhi``);
- :mod:`respira.sites.embedding`: :func:`embed_recordings`, one encoder pass per recording giving
  both the raw embeddings and the model's logits of the windows ``predict`` cuts;
- :mod:`respira.sites.fitting`: :func:`~respira.sites.fitting.fit_site` (not re-exported here:
  ``respira.sites.fit_site`` is the command's module), per label the model as is, re-tuned thresholds, a
  site head or a head anchored on the model's, chosen and scored by nested patient-wise
  cross-validation (:class:`SiteFit`), and :func:`learning_curve` (the procedure itself:
  :mod:`respira.sites.procedure`; the heads: :mod:`respira.sites.heads`; the scores:
  :mod:`respira.sites.scores`);
- :mod:`respira.sites.fit_site`: ``respira fit-site`` / :func:`respira.fit_site`, which writes the fitted
  model folder (:mod:`respira.sites.site_folder`) only when it is shown to beat the model as is and
  calling every recording normal out of sample (:func:`respira.pretrained.sites.site_fit_verdict`);
- :mod:`respira.sites.suggest`: ``respira suggest`` / :func:`respira.suggest`, which recordings of an
  archive (:mod:`respira.sites.archive`: read, checked and embedded once, cached) to label next, chosen
  by :mod:`respira.sites.suggestion`'s strategy;
- :mod:`respira.sites.quality`: the quality verdict, a head that learns when a recording is too poor to
  judge (``respira quality``).

The room sits beside :mod:`respira.training` (neither imports the other), above the detector, the Hub
folder code and the metrics it uses; only the commands and the package face import it.
"""

from __future__ import annotations

from .embedding import embed_recordings, linear_head, site_head_refusal
from .fitting import ALL, LearningCurve, SiteFit, learning_curve
from .sample import LabelledRecording, SiteSample

__all__ = [
    "ALL",
    "LabelledRecording",
    "LearningCurve",
    "SiteFit",
    "SiteSample",
    "embed_recordings",
    "learning_curve",
    "linear_head",
    "site_head_refusal",
]
