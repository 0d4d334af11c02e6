"""The model's pooled embeddings and the linear head that reads them: those of a dataset's cycles, cached so
a frozen-encoder head trains in seconds (:func:`compute_embeddings`), those of recordings' windows
(:class:`WindowEmbeddings`, :meth:`respira.Detector.embed`), and the head itself (:func:`linear_head`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..models.respira.decision import flag_order, is_multi_label
from .forward import computing_in_place, run_dataset, run_each

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification


def compute_embeddings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    audio_column: str = "audio",
    **options: Any,
) -> datasets.Dataset:
    """``dataset`` without its audio, plus an ``embeddings`` column (float32, the model's pooled output);
    ``options``: :func:`embed_audio`'s."""
    embeddings = embed_audio(model, dataset, audio_column=audio_column, **options)
    return with_embeddings(dataset.remove_columns(audio_column), embeddings)


def embed_audio(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    batch_size: int = 32,
    audio_column: str = "audio",
    track: Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]] = iter,
) -> np.ndarray:
    """The ``[rows, hidden]`` embeddings :func:`compute_embeddings` adds."""
    with computing_in_place(model):
        rows = run_dataset(
            model, dataset, "embeddings", batch_size=batch_size, audio_column=audio_column, track=track
        )
    return _stacked(model, rows)


def embed_waveforms(
    model: RespiraForAudioClassification, waveforms: Iterable[np.ndarray], *, batch_size: int = 32
) -> np.ndarray:
    """``[n, hidden]`` float32 pooled embeddings of 1-D waveforms at the model's sampling rate."""
    with computing_in_place(model):
        return _stacked(model, run_each(model, waveforms, "embeddings", batch_size))


def _stacked(model: Any, rows: list[np.ndarray]) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, model.config.hidden_size), np.float32)


def with_embeddings(dataset: datasets.Dataset, embeddings: np.ndarray) -> datasets.Dataset:
    """``dataset`` plus ``embeddings`` ``[rows, dim]`` as a fixed-length float32 column read as numpy."""
    import datasets
    import pyarrow as pa

    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(dataset):
        raise ValueError(f"expected embeddings of shape [{len(dataset)}, dim], got {embeddings.shape}")
    column = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1])
    feature = datasets.List(datasets.Value("float32"), length=embeddings.shape[1])
    result = dataset.add_column("embeddings", column, feature=feature)
    return result.with_format("numpy", columns=["embeddings"], output_all_columns=True)


@dataclass(frozen=True)
class WindowEmbeddings:
    """What :meth:`respira.Detector.embed` gives: each window's pooled ``embeddings`` ``[windows, hidden]``
    (float32, before ``head_norm``), its ``recording`` index and the model's ``logits`` ``[windows, labels]``
    (float64, in flag order: crackle, wheeze), and each recording's ``durations`` (seconds)."""

    embeddings: np.ndarray
    recording: np.ndarray
    logits: np.ndarray
    durations: np.ndarray

    @classmethod
    def of(cls, outputs: Sequence[Sequence[Any]], durations: Sequence[float], order: Any) -> WindowEmbeddings:
        """From each recording's ``(embedding, logits)`` window outputs, its duration, and the flag order."""
        pairs = [pair for windows in outputs for pair in windows]
        return cls(
            np.stack([e for e, _ in pairs]).astype(np.float32),
            np.repeat(np.arange(len(outputs), dtype=np.int64), [len(windows) for windows in outputs]),
            np.stack([z for _, z in pairs])[:, order].astype(np.float64),
            np.array(durations, dtype=np.float64),
        )


def site_head_refusal(model: Any) -> str | None:
    """Why ``model`` cannot take a site head (one line), or ``None`` when it can."""
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
    """The model's (crackle, wheeze) head on embeddings before ``head_norm`` (folded in): ``(W [2, hidden],
    b [2])`` float64, or ``None`` when :func:`site_head_refusal` refuses the model."""
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
