"""The records respira writes into the folders it makes, each typed once and checked when read: a training
run's (:mod:`.run`, ``respira_run.json``) and a site fit's (:mod:`.site_fit`, ``site_fit.json``), with what
a folder's records claim of the sites it serves (:mod:`.sites`, :mod:`.site_verdict`, :mod:`.site_claim`)."""
