"""Sliding windows over a recording and their aggregation (plain numpy).

Windows of several recordings run in fixed-size batches, their outputs put back per recording.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .audio_decoding import check_whole

DEFAULT_WINDOW_SECONDS: float = 4.0
DEFAULT_HOP_SECONDS: float = 2.0
FRAME_SAMPLES_KEY = "analysis_frame_samples"  # the model.onnx metadata entry of one analysis frame
DEFAULT_BATCH_SIZE: int = 32
MAX_WINDOWS: int = 10_000  # windows per recording (of 4 s every 2 s: 5.6 hours)
AGGREGATIONS: tuple[str, ...] = ("max", "mean", "topk_mean")
DEFAULT_AGGREGATION: str = "max"
DEFAULT_TOP_K: int = 3


def window_count(num_samples: int, window_samples: int, hop_samples: int) -> int:
    """How many windows :func:`window_starts` returns (computed without building them)."""
    if window_samples < 1 or hop_samples < 1:
        raise ValueError("window and hop must be at least one sample")
    if num_samples <= window_samples:
        return 1
    return 1 + -(-(num_samples - window_samples) // hop_samples)


def window_starts(num_samples: int, window_samples: int, hop_samples: int) -> np.ndarray:
    """Start samples of sliding windows covering ``num_samples``; the last may be partial."""
    return np.arange(window_count(num_samples, window_samples, hop_samples), dtype=np.int64) * hop_samples


def window_samples(window: float, hop: float, rate: int) -> tuple[int, int]:
    """``(window, hop)`` seconds as samples at ``rate`` Hz; the hop at least 1 sample, at most the window."""
    samples = round(window * rate)
    return samples, max(1, min(round(hop * rate), samples))


def window_spans(num_samples: int, window_samples: int, hop_samples: int) -> list[tuple[int, int]]:
    """``(start, stop)`` samples of the :func:`window_starts` windows."""
    starts = window_starts(num_samples, window_samples, hop_samples)
    return [(int(start), int(min(start + window_samples, num_samples))) for start in starts]


def check_holds_a_frame(num_samples: int, frame_samples: int, rate: int, what: str = "the recording") -> None:
    """Raise a one-line ``ValueError`` when ``what`` is shorter than one analysis frame."""
    if num_samples < frame_samples:
        raise ValueError(
            f"{what} lasts {num_samples / rate * 1000:.3g} ms ({num_samples} samples at {rate} Hz), shorter "
            f"than one analysis frame of the model's featurizer ({frame_samples / rate * 1000:.3g} ms): "
            "nothing to score"
        )


def span_samples(start: float, end: float, rate: int, num_samples: int) -> tuple[int, int]:
    """``(first, stop)`` samples of ``start``–``end`` seconds, at ``round(t * rate)``, ``stop`` clipped."""
    return round(start * rate), (num_samples if end * rate >= num_samples else round(end * rate))


def cycle_spans(
    cycles: Iterable[Any], rate: int, num_samples: int, frame_samples: int
) -> tuple[list[tuple[int, int]], list[tuple[float, float]]]:
    """The samples ``[first, stop)`` and ``(start, end)`` seconds of each annotated cycle of a recording."""
    if isinstance(cycles, (str, bytes)):
        raise ValueError(f"cycles must be (start, end) pairs of seconds, got the string {cycles!r}")
    segments: list[tuple[int, int]] = []
    spans: list[tuple[float, float]] = []
    for number, cycle in enumerate(cycles, start=1):
        try:
            start, end = (float(value) for value in cycle)
        except (TypeError, ValueError):
            raise ValueError(
                f"cycle {number} must be a (start, end) pair of seconds, got {cycle!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise ValueError(f"cycle {number} ({start}-{end} s) is not a valid span (0 <= start < end)")
        first, stop = span_samples(start, end, rate, num_samples)
        if first >= num_samples:
            raise ValueError(
                f"cycle {number} ({start}-{end} s) starts after the end of the recording "
                f"({num_samples / rate:.3f} s)"
            )
        check_holds_a_frame(
            stop - first, frame_samples, rate, f"cycle {number} ({start}-{end} s) of the recording"
        )
        segments.append((first, stop))
        spans.append((start, end))
    return segments, spans


def check_aggregation(rule: str, top_k: int | None = None) -> None:
    """Raise a one-line ``ValueError`` unless ``rule`` (and ``top_k`` for ``topk_mean``) is valid."""
    if rule not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {rule!r}")
    if rule == "topk_mean":
        check_whole(top_k, "top_k")


def describe_aggregation(rule: str, top_k: int | None = None) -> str:
    """A sentence saying how window probabilities became a recording's probability."""
    check_aggregation(rule, top_k)
    which = {"max": "maximum of its", "mean": "mean of its", "topk_mean": f"mean of its {top_k} largest"}[
        rule
    ]
    fewer = "; all windows when there are fewer" if rule == "topk_mean" else ""
    return f"recording probability = {which} window probabilities (per label{fewer})"


def aggregate_windows(
    probabilities: Any, rule: str = DEFAULT_AGGREGATION, top_k: int | None = None
) -> np.ndarray:
    """One recording's ``[windows, labels]`` probabilities → ``[labels]``."""
    check_aggregation(rule, top_k)
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"expected probabilities of shape [windows >= 1, labels], got {array.shape}")
    if rule == "max":
        return array.max(axis=0)
    if rule == "mean":
        return array.mean(axis=0)
    k = min(int(top_k), array.shape[0])  # type: ignore[arg-type]
    return np.sort(array, axis=0)[-k:].mean(axis=0)


def window_batches(recordings: Iterable[Sequence[Any]], batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """``batch_size`` ``(recording index, window)`` pairs at a time across recordings (the last: fewer)."""
    batch_size = check_whole(batch_size, "batch_size")
    batch: list[tuple[int, Any]] = []
    for index, windows in enumerate(recordings):
        for window in windows:
            batch.append((index, window))
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def run_batched(recordings: Sequence[Sequence[Any]], run: Callable, batch_size: int) -> list[list[Any]]:
    """Each recording's outputs, one per window, of ``run`` over its :func:`window_batches`."""
    outputs: list[list[Any]] = [[] for _ in recordings]
    for batch in window_batches(recordings, batch_size):
        for (index, _), output in zip(batch, run([window for _, window in batch]), strict=True):
            outputs[index].append(output)
    return outputs
