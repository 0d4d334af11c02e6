"""Per-recording scores: the detector's aggregation and decision rule."""

from __future__ import annotations

import numpy as np

from respira.models.respira.windows import aggregate_windows
from respira.sites.scores import aggregate_rows, recording_probabilities


def test_recording_probabilities_are_the_detectors_aggregation():
    rng = np.random.default_rng(0)
    recording = rng.permutation(np.repeat(np.arange(7), [1, 2, 3, 4, 5, 6, 7]))
    logits = rng.normal(size=(recording.size, 2))
    for rule, top_k in (("max", None), ("topk_mean", 3)):
        probabilities = recording_probabilities(logits, recording, 7, rule, top_k)
        for index in range(7):
            own = 1 / (1 + np.exp(-logits[recording == index]))
            np.testing.assert_allclose(probabilities[index], aggregate_windows(own, rule, top_k), atol=1e-12)
    assert aggregate_rows(logits, recording, 7, "max", None).shape == (7, 2)
