"""What ``respira evaluate`` and :func:`respira.evaluate` run: a model, its data and split chosen from its
run record and the options, scored by :mod:`respira.evaluation`
(:func:`respira.scoring.evaluate.score_model`).

- :mod:`.evaluate`: the options (one dataclass, for the command line and the API), ICBHI's cycles and
  event detection scored against a corpus's reference events (``--task events``);
- :mod:`.external`: a corpus scored per recording (KAUH) or per event and recording (SPRSound).
"""
