"""Precompute pooled encoder embeddings for a dataset, so a frozen-encoder head trains in seconds."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..utils.precision import full_float32
from .respira.audio_decoding import decode_audio
from .respira.audio_dsp import pad_batch

if TYPE_CHECKING:
    import datasets

    from .respira import RespiraForAudioClassification


def compute_embeddings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    batch_size: int = 32,
    audio_column: str = "audio",
    device: str | torch.device | None = None,
    track: Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]] = iter,
) -> datasets.Dataset:
    """``dataset`` without its audio, plus an ``embeddings`` column (float32, the model's pooled output)."""
    embeddings = embed_audio(
        model, dataset, batch_size=batch_size, audio_column=audio_column, device=device, track=track
    )
    return with_embeddings(dataset.remove_columns(audio_column), embeddings)


def embed_audio(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    batch_size: int = 32,
    audio_column: str = "audio",
    device: str | torch.device | None = None,
    track: Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]] = iter,
) -> np.ndarray:
    """The ``[rows, hidden]`` embeddings :func:`compute_embeddings` adds."""
    import datasets

    rate = model.config.sampling_rate
    feature = dataset.features[audio_column]
    if not isinstance(feature, datasets.Audio):
        raise ValueError(f"column {audio_column!r} is a {type(feature).__name__}, not datasets.Audio")
    if feature.sampling_rate != rate:
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=rate))
    rows = (
        decode_audio(audio, rate)
        for start in range(0, len(dataset), batch_size)
        for audio in dataset[start : start + batch_size][audio_column]
    )
    return embed_waveforms(model, track(rows), batch_size=batch_size, device=device)


def embed_waveforms(
    model: RespiraForAudioClassification,
    waveforms: Iterable[np.ndarray],
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """``[n, hidden]`` float32 pooled embeddings of 1-D waveforms at the model's sampling rate."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval().to(device)
    chunks = []
    iterator = iter(waveforms)
    try:
        while batch := list(itertools.islice(iterator, batch_size)):
            padded, mask = pad_batch(batch)
            with torch.no_grad(), full_float32():
                output = model.respira(padded.to(device), attention_mask=mask.to(device), return_dict=True)
            chunks.append(output.embeddings.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(chunks) if chunks else np.zeros((0, model.config.hidden_size), np.float32)


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
