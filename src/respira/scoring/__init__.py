"""What ``respira evaluate`` and :func:`respira.evaluate` run."""
