"""Make a model serve a site: everything respira does with one site's own recordings, in one room.

* :mod:`respira.sites.site_samples`: a site's labelled recordings (``--dataset labelled|kauh|sprsound|icbhi``);
* :mod:`respira.sites.fit_site`: ``respira fit-site`` / :func:`respira.fit_site`: per label, the model as is,
  re-tuned thresholds or a site head, chosen and scored by nested patient-wise cross-validation, written
  as a complete model folder (:mod:`respira.sites.site_folder`) only when it beats the model as is and
  calling every recording normal out of sample;
* :mod:`respira.sites.calibration`: thresholds re-tuned on a labelled sample and scored with each patient
  left out (``respira calibrate`` is ``fit-site`` with the candidates ``as_is`` and ``thresholds``);
* :mod:`respira.sites.adaptation`: label-free adaptation to a site's unlabelled audio (``respira adapt``);
* :mod:`respira.sites.quality`: the quality verdict, a head that learns when a recording is too poor to
  judge (``respira quality``).

The room sits above the detector, the Hub folder code and the metrics it uses, and only the commands and
the package face (:mod:`respira.api`) import it.
"""
