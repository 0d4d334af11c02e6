"""The recipe: a run's options (training arguments; model, data and run fields), read from YAML and flags,
and the classifier its model options describe."""
