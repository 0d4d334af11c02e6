"""What a respira ``model.onnx`` is called and how its frame outputs are read (one home, torch-free)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "FRAME_NAME",
    "FRAME_TIMES_NAME",
    "INPUT_NAME",
    "LABEL_NAME",
    "OUTPUT_NAME",
    "PRESENT_NAME",
    "batches_by_length",
    "run_probabilities",
    "steps_within",
]

INPUT_NAME = "input_values"
OUTPUT_NAME = "probabilities"
PRESENT_NAME = "present"
LABEL_NAME = "label"
FRAME_NAME = "frame_probabilities"
FRAME_TIMES_NAME = "frame_times"


def batches_by_length(
    waveforms: Sequence[np.ndarray], batch_size: int
) -> Iterator[tuple[int, list[int], np.ndarray]]:
    """``(length, indices, float32 batch)`` of at most ``batch_size`` waveforms of equal length."""
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size}")
    batch_size = int(batch_size)
    by_length: dict[int, list[int]] = {}
    for index, waveform in enumerate(waveforms):
        by_length.setdefault(int(waveform.shape[0]), []).append(index)
    for length, indices in by_length.items():
        for first in range(0, len(indices), batch_size):
            rows = indices[first : first + batch_size]
            yield length, rows, np.stack([np.asarray(waveforms[i], dtype=np.float32) for i in rows])


def run_probabilities(
    session: Any, waveforms: Sequence[np.ndarray], batch_size: int, labels: int
) -> np.ndarray:
    """The ``[len(waveforms), labels]`` probabilities an onnxruntime ``session`` gives."""
    result = np.zeros((len(waveforms), labels), dtype=np.float64)
    for _, rows, batch in batches_by_length(waveforms, batch_size):
        result[rows] = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
    return result


def steps_within(times: np.ndarray, seconds: float) -> np.ndarray:
    """Which time steps (centres ``times``) lie within an input of ``seconds``; the first always does."""
    keep = np.asarray(times) < seconds
    keep[0] = True
    return keep
