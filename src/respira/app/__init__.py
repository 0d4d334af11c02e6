"""The detector's web pages (:mod:`.web_page`, :mod:`.serving`) and the labelling page (:mod:`.labelling`)."""
