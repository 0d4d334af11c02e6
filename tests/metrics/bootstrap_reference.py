"""respira's former hand-written patient bootstrap (percentile interval), kept as a test reference.

``respira.metrics.recording_level.patient_bootstrap`` now draws patients within their strata;
``tests/metrics/test_recording_level.py`` checks that it gives this function's intervals to within
resampling noise, and the results history (docs/history/speed.md, "Library swaps") timed both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def old_patient_bootstrap(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    patient_ids: Sequence[Any],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile interval of each value of ``statistic`` over ``resamples`` draws of the patients with
    replacement (each drawn patient brings all its recordings), over the replicates where it is defined."""
    unique, inverse = np.unique(np.asarray(patient_ids), return_inverse=True)
    members = [np.flatnonzero(inverse == group) for group in range(unique.size)]
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(resamples):
        drawn = rng.integers(0, unique.size, size=unique.size)
        indices = np.concatenate([members[group] for group in drawn])
        for name, value in statistic(indices).items():
            values.setdefault(name, []).append(float(value))
    tail = 100 * (1 - confidence) / 2
    intervals = {}
    for name, series in values.items():
        defined = np.asarray(series)[~np.isnan(series)]
        if defined.size == 0:
            intervals[name] = [float("nan"), float("nan")]
        else:
            low, high = np.percentile(defined, [tail, 100 - tail])
            intervals[name] = [float(low), float(high)]
    return intervals
