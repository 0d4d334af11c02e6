"""Evaluation: what runs a model over a corpus (cycles, recordings, events) and writes a report folder."""
