"""Precompute pooled encoder embeddings for a dataset, so a frozen-encoder head trains in seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    import datasets

    from .respira import RespiraForAudioClassification


def _decode(audio: object) -> np.ndarray:
    """Mono float32 samples of a decoded ``datasets.Audio`` value (AudioDecoder or dict)."""
    if isinstance(audio, dict):
        samples = np.asarray(audio["array"], dtype=np.float32)
    else:
        samples = audio.get_all_samples().data.numpy()
    return samples.mean(axis=0) if samples.ndim == 2 else samples


def pad_batch(waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad mono waveforms into ``[batch, longest]`` with an attention mask of real samples."""
    longest = max(w.shape[0] for w in waveforms)
    batch = torch.zeros(len(waveforms), longest)
    mask = torch.zeros(len(waveforms), longest, dtype=torch.long)
    for row, waveform in enumerate(waveforms):
        batch[row, : waveform.shape[0]] = torch.from_numpy(waveform)
        mask[row, : waveform.shape[0]] = 1
    return batch, mask


def compute_embeddings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    batch_size: int = 32,
    audio_column: str = "audio",
    device: str | torch.device | None = None,
) -> datasets.Dataset:
    """``dataset`` without its audio, plus an ``embeddings`` column (float32, the model's pooled output).

    Audio is decoded at the model's sampling rate (the column is cast if needed) and embedded in
    eval mode without gradients, batch by batch. Every other column is kept, so labels and metadata
    travel with the embeddings; train a head on them with ``model(embeddings=..., labels=...)``.
    """
    import datasets

    device = torch.device(device) if device is not None else next(model.parameters()).device
    rate = model.config.sampling_rate
    feature = dataset.features[audio_column]
    if not isinstance(feature, datasets.Audio):
        raise ValueError(f"column {audio_column!r} is a {type(feature).__name__}, not datasets.Audio")
    if feature.sampling_rate != rate:
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=rate))
    was_training = model.training
    model.eval().to(device)
    chunks = []
    try:
        for start in range(0, len(dataset), batch_size):
            rows = dataset[start : start + batch_size][audio_column]
            waveforms, mask = pad_batch([_decode(audio) for audio in rows])
            with torch.no_grad():
                output = model.respira(waveforms.to(device), attention_mask=mask.to(device))
            chunks.append(output.embeddings.float().cpu().numpy())
    finally:
        model.train(was_training)
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, model.config.hidden_size), np.float32)
    result = dataset.remove_columns(audio_column)
    return result.add_column("embeddings", list(embeddings)).cast_column(
        "embeddings", datasets.List(datasets.Value("float32"))
    )
