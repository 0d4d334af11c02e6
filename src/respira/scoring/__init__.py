"""What ``respira evaluate`` and :func:`respira.evaluate` run: :mod:`.evaluate` (the options, ICBHI's
cycles, ``--task events``) and :mod:`.external` (a corpus scored per recording or per event)."""
