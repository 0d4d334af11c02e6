"""What ``respira evaluate`` and :func:`respira.evaluate` run (above ``training``, whose split loading
ICBHI's cycles use; the rest of an evaluation is :mod:`respira.evaluation`)."""
