"""A labelled sample through the encoder once: :func:`embed_recordings`.

Each recording is cut into the windows ``respira predict`` cuts (:func:`respira.screening.batches.prepare`)
and the windows run ``batch_size`` at a time across recordings through the model the detector runs; one
forward pass gives each window its pooled embedding as the head reads it (before ``head_norm``) and the
model's own logits. :func:`linear_head` is the model's head in that raw space when a site head can replace
it (:func:`site_head_refusal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..audio.dsp import pad_batch
from ..core.decision import flag_order, is_multi_label, thresholds_of
from ..screening.batches import batched, default_batch_size, prepare, reason
from ..screening.sources import Recording
from ..utils.progress import stage
from .sample import LabelledRecording, SiteSample

__all__ = ["embed_recordings", "linear_head", "site_head_refusal"]


def site_head_refusal(model: Any) -> str | None:
    """Why ``model`` cannot take a site head (one line), or ``None`` when it can: its head must be one
    linear layer on the frozen encoder's pooled embeddings (then only its own head with its own or
    re-tuned thresholds can serve a site)."""
    config = model.config
    checks = (
        (not isinstance(model, torch.nn.Module), "the model is an ONNX export, without its torch weights"),
        (not is_multi_label(config), "the model is single-label (four classes, no crackle and wheeze flags)"),
        (
            bool(getattr(config, "head_hidden_size", None)),
            "the model's head has a hidden layer (head_hidden_size)",
        ),
        (not getattr(config, "freeze_encoder", False), "the model's encoder was trained with its head"),
        (getattr(config, "pooling", None) == "autopool", "the model pools frame logits (autopool)"),
    )
    why = next((why for bad, why in checks if bad), None)
    return None if why is None else f"{why}: a site head needs a linear head on a frozen encoder"


def head_norm_statistics(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, sqrt(var + eps))`` of the model's ``head_norm`` (float64), or ``None`` without one."""
    norm = model.head_norm
    if norm is None:
        return None
    variance = norm.running_var.detach().double().cpu().numpy()
    return norm.running_mean.detach().double().cpu().numpy(), np.sqrt(variance + norm.eps)


def linear_head(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's (crackle, wheeze) head in the raw embedding space: ``(W [2, hidden], b [2])`` float64
    with ``logits == embeddings @ W.T + b`` for embeddings before ``head_norm`` (whose running mean and
    variance are folded in); ``None`` when :func:`site_head_refusal` refuses the model."""
    if site_head_refusal(model) is not None:
        return None
    layer = model.classifier[-1]
    order = flag_order(model.config)
    weight = layer.weight.detach().double().cpu().numpy()[order]
    bias = layer.bias.detach().double().cpu().numpy()[order]
    statistics = head_norm_statistics(model)
    if statistics is not None:
        weight = weight / statistics[1]
        bias = bias - weight @ statistics[0]
    return weight, bias


def embed_recordings(
    detector: Any,
    recordings: Sequence[LabelledRecording],
    *,
    batch_size: int | None = None,
    progress: bool = True,
    units_are_patients: bool = True,
) -> SiteSample:
    """The :class:`~respira.sites.sample.SiteSample` of ``recordings`` through ``detector`` (a
    :class:`respira.Detector` of a torch model): one encoder pass per window of each recording, the
    windows of ``predict`` (the detector's window and hop), batched across recordings (``batch_size``
    windows per pass; default: 8 on the CPU, 64 on a GPU). ``units_are_patients``: whether the
    recordings' units are patients (``False``: each recording is its own unit).

    Raises a one-line ``ValueError`` naming the file when a recording cannot be read, and when the
    detector's model is not a multi-label torch model or smooths its windows.
    """
    model = detector.model
    if not isinstance(model, torch.nn.Module):
        raise ValueError("fitting a site needs the model's torch weights, not an ONNX export")
    if not is_multi_label(model.config):
        raise ValueError("fitting a site needs a multi-label (crackle, wheeze) model")
    if int(detector.options["smoothing"]) != 1:
        raise ValueError("fitting a site scores windows as they are: use a detector with smoothing=1")
    if not recordings:
        raise ValueError("no recordings to embed")
    device = next(model.parameters()).device
    size = int(batch_size) if batch_size is not None else default_batch_size(str(device))
    order = flag_order(model.config)
    runner = detector.inference_model

    def run(windows: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        batch, mask = pad_batch(windows)
        with torch.inference_mode():
            output = runner(input_values=batch.to(device), attention_mask=mask.to(device))
        embeddings = output.embeddings.float().cpu().numpy()
        logits = output.logits.float().cpu().numpy()[:, order]
        return list(zip(embeddings, logits, strict=True))

    def read(item: LabelledRecording) -> Any:
        return prepare(detector, Recording(str(item.path), str(item.path), None, None))

    was_training = runner.training
    runner.eval()
    embeddings: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    durations: list[float] = []
    try:
        with stage(
            "embedding the labelled recordings", len(recordings), "recording", enabled=progress
        ) as shown:
            prepared = map(read, recordings)
            windows = batched(prepared, lambda p: p.plan.windows if p.plan is not None else [], run, size)
            for position, (item, outputs, error) in enumerate(windows):
                failure = item.row.get("error") or (reason(error, item.recording.path) if error else None)
                if failure is not None or outputs is None:
                    raise ValueError(f"{item.recording.path}: {failure or 'no windows'}")
                embeddings.append(np.stack([e for e, _ in outputs]))
                logits.append(np.stack([z for _, z in outputs]))
                owners.append(np.full(len(outputs), position, dtype=np.int64))
                durations.append(float(item.row["duration"]))
                shown.update()
    finally:
        runner.train(was_training)
    labelled = tuple(
        LabelledRecording(r.path, bool(r.crackle), bool(r.wheeze), str(r.unit), r.recording_id, duration)
        for r, duration in zip(recordings, durations, strict=True)
    )
    return SiteSample(
        embeddings=np.concatenate(embeddings).astype(np.float32),
        recording=np.concatenate(owners),
        recordings=labelled,
        base_logits=np.concatenate(logits).astype(np.float64),
        base_head=linear_head(model),
        base_thresholds=thresholds_of(model.config),
        aggregation=detector.options["aggregation"],
        top_k=detector.options["top_k"],
        units_are_patients=units_are_patients,
    )
