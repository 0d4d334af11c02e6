"""Make a model serve a site: everything respira does with one site's own recordings, in one room.

- :mod:`respira.sites.sample`: a site's labelled recordings (:class:`LabelledRecording`), read from a
  folder (``--dataset labelled|kauh|sprsound|icbhi``), and the encoder's view of their windows, computed
  once (:class:`SiteSample`);
- :mod:`respira.sites.embedding`: :func:`embed_recordings`, one encoder pass per recording giving
  both the raw embeddings and the model's logits of the windows ``predict`` cuts;
- :mod:`respira.sites.out_of_sample`: :func:`~respira.sites.out_of_sample.fit_sample`, per label the
  model as is, re-tuned thresholds, a site head or a head anchored on the model's, chosen and scored by nested
  patient-wise cross-validation (:class:`SiteFit`), and :func:`learning_curve` (the procedure itself:
  :mod:`respira.sites.procedure`; the heads: :mod:`respira.sites.heads`; the scores:
  :mod:`respira.sites.scores`);
- :mod:`respira.sites.fit_site`: :func:`~respira.sites.fit_site.fit_site_folder` (``respira fit-site``,
  :func:`respira.fit_site`), which writes the fitted model folder (:mod:`respira.sites.site_folder`)
  only when it is shown to beat the model as is and calling every recording normal out of sample
  (:func:`respira.pretrained.sites.site_fit_verdict`);
- :mod:`respira.sites.options`: the options of fit-site and suggest, for the command line
  and the API;
- :mod:`respira.sites.suggest`: ``respira suggest`` / :func:`respira.suggest`, which recordings of an
  archive (:mod:`respira.sites.archive`: read, checked and embedded once, cached) to label next, chosen
  by :mod:`respira.sites.suggestion`'s strategy.

The room sits beside :mod:`respira.training` (neither imports the other), above the detector, the Hub
folder code and the metrics it uses; only the commands, evaluate's room and the package face import it.
Its names are imported on first use: the command line's parser reads :mod:`respira.sites.options` alone.
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "LabelledRecording": "sample",
    "LearningCurve": "out_of_sample",
    "SiteFit": "out_of_sample",
    "SiteSample": "sample",
    "embed_recordings": "embedding",
    "learning_curve": "out_of_sample",
    "linear_head": "embedding",
    "site_head_refusal": "embedding",
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
