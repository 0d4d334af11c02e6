"""A recording cut for the model, in sliding windows or given cycles (:func:`plan_windows`), and the rows of
their probabilities (:func:`window_rows`): ``start``, ``end`` (seconds), ``crackle``, ``wheeze`` and
``label`` (at the model's thresholds); a single-label model's also ``p_normal``, ``p_crackle``,
``p_wheeze``, ``p_both``; a recording the model cannot judge warns and its rows gain ``warning``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..models.respira.audio_decoding import (
    as_waveform,
    check_input,
    check_rate,
    check_whole,
    is_real,
    prepare_recording,
    resample,
)
from ..models.respira.decision import decided_rows
from ..models.respira.windows import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MAX_WINDOWS,
    check_holds_a_frame,
    cycle_spans,
    describe_aggregation,
    window_count,
    window_samples,
    window_spans,
)
from .forward import run

if TYPE_CHECKING:
    from ..models.respira import RespiraConfig, RespiraForAudioClassification

__all__ = [
    "MAX_WINDOWS",
    "WindowPlan",
    "analysis_frame_samples",
    "check_call_options",
    "check_window_limit",
    "check_window_options",
    "plan_windows",
    "predict_windows",
    "resampled",
    "run_windows",
    "window_rows",
]


def _smooth(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average over ``k`` rows (shorter at the ends)."""
    if k <= 1 or probabilities.shape[0] <= 1:
        return probabilities
    before, after = (k - 1) // 2, k // 2
    n = probabilities.shape[0]
    cumulative = np.concatenate([np.zeros((1, probabilities.shape[1])), np.cumsum(probabilities, axis=0)])
    rows = np.arange(n)
    low = np.clip(rows - before, 0, n)
    high = np.clip(rows + after + 1, 0, n)
    return (cumulative[high] - cumulative[low]) / (high - low)[:, None]


def run_windows(
    model: RespiraForAudioClassification, windows: Sequence[np.ndarray], batch_size: int
) -> np.ndarray:
    """Probabilities ``[windows, labels]`` of prepared waveforms, ``batch_size`` at a time."""
    return np.stack(run(model, windows, "probabilities", batch_size))


def analysis_frame_samples(model: RespiraForAudioClassification) -> int:
    """Samples in one analysis frame of the featurizer of a model or ONNX export."""
    from ..models.respira.featurizer import analysis_frame_samples as frame_samples

    return frame_samples(model if isinstance(model, torch.nn.Module) else model.config)


def check_window_options(
    model: RespiraForAudioClassification, window: float, hop: float, smoothing: int, frame: int | None = None
) -> tuple[int, int]:
    """``(window, hop)`` in samples, after checking the model can predict with them."""
    if not (is_real(window) and math.isfinite(window) and window > 0):
        raise ValueError(f"window must be a positive number of seconds, got {window}")
    if not (is_real(hop) and math.isfinite(hop) and 0 < hop <= window):
        raise ValueError(f"hop must be positive and at most the window ({window} s), got {hop}")
    check_whole(smoothing, "smoothing")
    rate = int(model.config.sampling_rate)
    frame = analysis_frame_samples(model) if frame is None else frame
    samples, hop_samples = window_samples(window, hop, rate)
    if samples < frame:
        raise ValueError(
            f"window {window} s is shorter than one analysis frame of the model's featurizer "
            f"({frame} samples = {frame / rate:g} s at {rate} Hz); use a window of at least "
            f"{frame / rate:g} s"
        )
    return samples, hop_samples


def check_call_options(model: RespiraForAudioClassification, options: Mapping[str, Any]) -> None:
    """A call's options (:attr:`respira.Detector.options`: windows, aggregation, batches) checked."""
    describe_aggregation(options["aggregation"], options["top_k"])
    check_window_options(model, options["window"], options["hop"], options["smoothing"])
    check_whole(options["batch_size"], "batch_size")
    if options["max_windows"] is not None:
        check_whole(options["max_windows"], "max_windows")


def resampled(waveform: Any, sampling_rate: Any, rate: int, name: str | None = None) -> np.ndarray:
    """A mono waveform (numpy or torch) at ``sampling_rate`` Hz checked and resampled to ``rate`` Hz;
    ``name`` names it in errors."""
    recorded = check_whole(sampling_rate, "sampling_rate")
    samples = as_waveform(waveform, *([name] if name else []))
    check_rate(recorded, *([name] if name else []))
    return resample(samples, recorded, rate)


@dataclass(frozen=True)
class WindowPlan:
    """A recording's windows (or cycles), before the model; ``samples``: the whole recording prepared;
    ``smoothing``: the windows' moving average (1 for cycles); ``labels``: the cycles' annotated labels."""

    samples: np.ndarray
    windows: list[np.ndarray]
    spans: list[tuple[float, float]]
    warning: str | None = None
    smoothing: int = 1
    labels: list[str] | None = None


def check_window_limit(
    total: int, window_samples: int, hop_samples: int, rate: int, max_windows: int | None
) -> None:
    """Refuse a recording of ``total`` samples that needs more than ``max_windows`` windows."""
    count = window_count(total, window_samples, hop_samples)
    if max_windows is not None and count > max_windows:
        raise ValueError(
            f"{window_samples / rate:g} s windows every {hop_samples / rate:g} s over {total / rate:.1f} s "
            f"of audio make {count} windows, more than the limit of {max_windows} per recording; use a "
            "longer hop (or raise max_windows)"
        )


def plan_windows(
    model: RespiraForAudioClassification,
    waveform: np.ndarray | torch.Tensor,
    *,
    cycles: Sequence[tuple[float, float]] | None = None,
    window: float = DEFAULT_WINDOW_SECONDS,
    hop: float = DEFAULT_HOP_SECONDS,
    smoothing: int = 1,
    max_windows: int | None = MAX_WINDOWS,
    name: str | None = None,
    recorded_rate: float | None = None,
    pcm_bits: int | None = None,
) -> WindowPlan:
    """A mono waveform at the model's rate checked, prepared and cut into sliding windows, or into the
    ``cycles`` given as ``(start, end)`` seconds, for :func:`run_windows` and :func:`window_rows`."""
    frame = analysis_frame_samples(model)
    rate = int(model.config.sampling_rate)
    samples = as_waveform(waveform)
    total = samples.shape[0]
    if cycles is None:
        window_length, hop_length = check_window_options(model, window, hop, smoothing, frame)
        check_holds_a_frame(total, frame, rate)
        check_window_limit(total, window_length, hop_length, rate, max_windows)
        segments = window_spans(total, window_length, hop_length)
        spans = [(start / rate, stop / rate) for start, stop in segments]
    else:
        segments, spans = cycle_spans(cycles, rate, total, frame)
        window, smoothing = None, 1
    warning = check_input(
        samples, rate, name, recorded_rate=recorded_rate, pcm_bits=pcm_bits, window_seconds=window
    )
    if not segments:
        raise ValueError("no cycles to predict")
    prepared = prepare_recording(model.config, samples)
    return WindowPlan(prepared, [prepared[a:b] for a, b in segments], spans, warning, int(smoothing))


def window_rows(config: RespiraConfig, plan: WindowPlan, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """The rows of a :func:`plan_windows` plan from its windows' :func:`run_windows` probabilities."""
    rows = decided_rows(_smooth(probabilities, plan.smoothing), plan.spans, config)
    for index, row in enumerate(rows):
        if plan.labels is not None:
            row["annotated_label"] = plan.labels[index]
        if plan.warning is not None:
            row["warning"] = plan.warning
    return rows


def predict_windows(
    model: RespiraForAudioClassification,
    waveform: np.ndarray | torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> list[dict[str, Any]]:
    """The rows of a mono waveform at the model's rate (``options``: :func:`plan_windows`')."""
    plan = plan_windows(model, waveform, **options)
    return window_rows(model.config, plan, run_windows(model, plan.windows, batch_size))
