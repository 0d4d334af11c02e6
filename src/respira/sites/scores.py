"""What a site fit is judged by: the detector's own per-recording verdict (its windows aggregated, its
thresholds applied); the scores and their patient-bootstrap intervals:
:func:`respira.metrics.recording_level.scores_with_intervals`."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from ..metrics.recording_level import recording_decisions
from ..metrics.thresholds import sigmoid
from ..models.respira.labels import flags_to_classes
from ..models.respira.windows import aggregate_windows, check_aggregation


def aggregate_rows(
    values: np.ndarray, recording: np.ndarray, count: int, rule: str, top_k: int | None
) -> np.ndarray:
    """``[count, columns]``: the rows of ``values`` of each recording (``recording``: each window's)
    aggregated by ``rule`` (:func:`respira.models.respira.windows.aggregate_windows`)."""
    check_aggregation(rule, top_k)
    values = np.asarray(values, dtype=np.float64)
    if rule == "max":
        result = np.full((count, values.shape[1]), -np.inf)
        np.maximum.at(result, recording, values)
        if np.isneginf(result).any():
            raise ValueError("every recording needs at least one window")
        return result
    order = np.argsort(recording, kind="stable")
    bounds = np.searchsorted(recording[order], np.arange(count + 1))
    return np.stack([aggregate_windows(values[order[a:b]], rule, top_k) for a, b in pairwise(bounds)])


def recording_probabilities(
    window_logits: np.ndarray, recording: np.ndarray, count: int, rule: str, top_k: int | None
) -> np.ndarray:
    """``[count, 2]`` recording probabilities of ``[windows, 2]`` logits, aggregated by ``rule``."""
    return aggregate_rows(sigmoid(window_logits), recording, count, rule, top_k)


def recording_classes(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """``[recordings]`` four-class index of each recording: its flags at ``thresholds`` (the one rule)."""
    return flags_to_classes(recording_decisions(probabilities, thresholds))
