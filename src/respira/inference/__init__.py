"""Inference: everything that turns recordings into a model's verdicts (public as ``respira.Detector``)."""
