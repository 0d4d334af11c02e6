"""A training run: the recipe checked, every seed (and fold) trained, thresholds cross-fitted, the run
folder written."""
