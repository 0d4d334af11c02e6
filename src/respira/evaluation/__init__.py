"""Evaluation: what runs a model over a corpus and scores it, writing a report folder: cycles
(:mod:`.cycles`), recordings (:mod:`.external_validation`), an event-labelled corpus (:mod:`.event_corpus`),
detected events (:mod:`.event_detection_report`). What ``respira evaluate`` runs is :mod:`respira.scoring`."""
