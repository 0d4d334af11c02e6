"""Predict crackles and wheezes in recordings with a trained respira model (the ``respira predict`` engine).

Each row holds ``start``, ``end`` (seconds), ``crackle``, ``wheeze`` (probabilities) and ``label`` (at the
model's thresholds); a single-label model's rows also hold ``p_normal``, ``p_crackle``, ``p_wheeze``,
``p_both``. A recording the model cannot judge warns and its rows gain ``warning``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..metrics.thresholds import sigmoid
from ..models.respira.audio_checks import check_input
from ..models.respira.audio_decoding import as_waveform, audio_header, read_audio
from ..models.respira.audio_dsp import pad_batch, prepare_recording
from ..models.respira.batching import run_batched
from ..models.respira.decision import decided_rows
from ..models.respira.labels import PROBLEM_TYPES, SINGLE_LABEL, cycle_label
from ..models.respira.windows import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MAX_WINDOWS,
    check_holds_a_frame,
    cycle_spans,
    window_count,
    window_samples,
    window_spans,
)
from ..utils.messages import one_line
from ..utils.precision import full_float32

if TYPE_CHECKING:
    from ..models.respira import RespiraConfig, RespiraForAudioClassification

__all__ = [
    "MAX_WINDOWS",
    "WindowPlan",
    "analysis_frame_samples",
    "check_window_limit",
    "check_window_options",
    "plan_windows",
    "predict_cycles",
    "predict_files",
    "predict_windows",
    "run_windows",
    "window_rows",
]


def _problem_type(config: RespiraConfig) -> str:
    kind = config.problem_type or SINGLE_LABEL
    if kind not in PROBLEM_TYPES:
        raise ValueError(f"unsupported problem_type {kind!r}")
    return kind


def _probabilities(logits: torch.Tensor, kind: str) -> np.ndarray:
    if kind == SINGLE_LABEL:
        return logits.float().softmax(dim=-1).cpu().numpy().astype(np.float64)
    return sigmoid(logits.float().cpu().numpy())


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
    if hasattr(model, "predict_probabilities"):
        return model.predict_probabilities(list(windows), batch_size)
    kind = _problem_type(model.config)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def run(batch: list[np.ndarray]) -> list[np.ndarray]:
        values, mask = pad_batch(batch)
        output = model(input_values=values.to(device), attention_mask=mask.to(device))
        return list(_probabilities(output.logits, kind))

    try:
        with torch.inference_mode(), full_float32():
            outputs = run_batched([list(windows)], run, batch_size)[0]
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("no windows to run")
    return np.stack(outputs)


def analysis_frame_samples(model: RespiraForAudioClassification) -> int:
    """Samples in one analysis frame of the featurizer of a model or ONNX export."""
    from ..models.respira.featurizer import analysis_frame_samples as frame_samples

    return frame_samples(model if isinstance(model, torch.nn.Module) else model.config)


def check_window_options(
    model: RespiraForAudioClassification, window: float, hop: float, smoothing: int, frame: int | None = None
) -> tuple[int, int]:
    """``(window, hop)`` in samples, after checking the model can predict with them."""
    if not (isinstance(window, (int, float)) and math.isfinite(window) and window > 0):
        raise ValueError(f"window must be a positive number of seconds, got {window}")
    if not (isinstance(hop, (int, float)) and math.isfinite(hop) and 0 < hop <= window):
        raise ValueError(f"hop must be positive and at most the window ({window} s), got {hop}")
    if int(smoothing) != smoothing or smoothing < 1:
        raise ValueError(f"smoothing must be a whole number of windows >= 1, got {smoothing}")
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


@dataclass(frozen=True)
class WindowPlan:
    """A recording's sliding windows, before the model; ``samples``: the whole recording prepared."""

    samples: np.ndarray
    windows: list[np.ndarray]
    spans: list[tuple[float, float]]
    warning: str | None = None


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
    window: float = DEFAULT_WINDOW_SECONDS,
    hop: float = DEFAULT_HOP_SECONDS,
    smoothing: int = 1,
    max_windows: int | None = MAX_WINDOWS,
    name: str | None = None,
    recorded_rate: float | None = None,
    pcm_bits: int | None = None,
) -> WindowPlan:
    """:func:`predict_windows`'s work before the model: the waveform checked, prepared and cut into windows
    for :func:`run_windows` (with other recordings') and :func:`window_rows`."""
    frame = analysis_frame_samples(model)
    window_samples, hop_samples = check_window_options(model, window, hop, smoothing, frame)
    rate = int(model.config.sampling_rate)
    samples = as_waveform(waveform)
    total = samples.shape[0]
    check_holds_a_frame(total, frame, rate)
    check_window_limit(total, window_samples, hop_samples, rate, max_windows)
    warning = check_input(
        samples, rate, name, recorded_rate=recorded_rate, pcm_bits=pcm_bits, window_seconds=window
    )
    waveform = prepare_recording(model.config, samples)
    segments = window_spans(total, window_samples, hop_samples)
    return WindowPlan(
        waveform,
        [waveform[start:stop] for start, stop in segments],
        [(start / rate, stop / rate) for start, stop in segments],
        warning,
    )


def window_rows(
    config: RespiraConfig,
    plan: WindowPlan,
    probabilities: np.ndarray,
    smoothing: int = 1,
) -> list[dict[str, Any]]:
    """The rows of a :func:`plan_windows` plan from its windows' :func:`run_windows` probabilities."""
    return _warned(decided_rows(_smooth(probabilities, int(smoothing)), plan.spans, config), plan.warning)


def _warned(rows: list[dict[str, Any]], warning: str | None) -> list[dict[str, Any]]:
    if warning is not None:
        for row in rows:
            row["warning"] = warning
    return rows


def predict_windows(
    model: RespiraForAudioClassification,
    waveform: np.ndarray | torch.Tensor,
    *,
    smoothing: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> list[dict[str, Any]]:
    """Predict sliding windows over a mono waveform (``options``: :func:`plan_windows`')."""
    plan = plan_windows(model, waveform, smoothing=smoothing, **options)
    probabilities = run_windows(model, plan.windows, batch_size)
    return window_rows(model.config, plan, probabilities, smoothing)


def predict_cycles(
    model: RespiraForAudioClassification,
    waveform: np.ndarray | torch.Tensor,
    cycles: Sequence[tuple[float, float]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    name: str | None = None,
    recorded_rate: float | None = None,
    pcm_bits: int | None = None,
) -> list[dict[str, Any]]:
    """Predict given cycles (``(start, end)`` in seconds) of a mono waveform at the model's rate."""
    rate = int(model.config.sampling_rate)
    samples = as_waveform(waveform)
    segments, spans = cycle_spans(cycles, rate, samples.shape[0], analysis_frame_samples(model))
    warning = check_input(samples, rate, name, recorded_rate=recorded_rate, pcm_bits=pcm_bits)
    waveform = prepare_recording(model.config, samples)
    if not segments:
        return []
    probabilities = run_windows(model, [waveform[start:stop] for start, stop in segments], batch_size)
    return _warned(decided_rows(probabilities, spans, model.config), warning)


def predict_files(
    model: RespiraForAudioClassification,
    paths: Sequence[str | Path],
    *,
    annotations: str | Path | Mapping[str, str | Path] | None = None,
    window: float = DEFAULT_WINDOW_SECONDS,
    hop: float = DEFAULT_HOP_SECONDS,
    smoothing: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_windows: int | None = MAX_WINDOWS,
    track: Callable[[Iterable[Any]], Iterable[Any]] = iter,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Predict several audio files; return ``(rows, errors)``."""
    from ..data.text_files import check_cycles_fit, read_annotations

    if annotations is not None and not isinstance(annotations, Mapping) and len(paths) != 1:
        raise ValueError(f"an annotation file applies to exactly one audio file, got {len(paths)} files")
    windowed = annotations is None or isinstance(annotations, Mapping)
    limits = check_window_options(model, window, hop, smoothing) if windowed else (1, 1)
    rate = int(model.config.sampling_rate)
    rows: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for path in track(paths):
        name = str(path)
        try:
            annotation = annotations.get(name) if isinstance(annotations, Mapping) else annotations
            annotation = None if annotation is None else Path(annotation)
            cycles = read_annotations(annotation) if annotation is not None else None
            header = audio_header(path)
            if cycles is None:
                total = round(header.duration * rate)
                check_window_limit(total, *limits, rate, max_windows)
            waveform = read_audio(path, rate)
            checked = {"name": name, "recorded_rate": header.sampling_rate, "pcm_bits": header.pcm_bits}
            if cycles is not None:
                duration = waveform.shape[0] / rate
                check_cycles_fit((annotation, c.line, c.start, c.end, duration) for c in cycles)
                predicted = predict_cycles(
                    model, waveform, [(c.start, c.end) for c in cycles], batch_size=batch_size, **checked
                )
                for row, cycle in zip(predicted, cycles, strict=True):
                    row["annotated_label"] = cycle_label(cycle.crackle, cycle.wheeze)
            else:
                predicted = predict_windows(
                    model,
                    waveform,
                    window=window,
                    hop=hop,
                    smoothing=smoothing,
                    batch_size=batch_size,
                    max_windows=max_windows,
                    **checked,
                )
        except (OSError, ValueError) as error:
            message = one_line(error)
            if name not in message:
                message = f"{name}: {message}"
            errors.append((name, message))
            continue
        rows.extend({"file": name, **row} for row in predicted)
    return rows, errors
