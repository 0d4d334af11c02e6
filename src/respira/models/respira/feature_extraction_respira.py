"""Feature extractor of respira models: batches raw waveforms (the model featurizes on its device)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor

from ...audio import DEFAULT_SAMPLING_RATE, as_waveform, pad_batch, resample


class RespiraFeatureExtractor(SequenceFeatureExtractor):
    """Pads raw mono waveforms into ``input_values`` + ``attention_mask`` at ``sampling_rate``.

    ``sampling_rate`` (default :data:`respira.audio.DEFAULT_SAMPLING_RATE`) is the rate of the model
    it is saved with. Log-mel / fbank computation, fixed-length padding and SpecAugment live inside
    the model (batched, on its device), so this extractor only validates, resamples and pads, with
    :mod:`respira.audio` (the same functions as the training collator, evaluation and prediction).
    Audio given at another rate (``sampling_rate=...``) is resampled with soxr;
    ``pipeline("audio-classification")`` decodes file paths of any rate and channel count to mono at
    this rate through ffmpeg.
    """

    model_input_names = ["input_values", "attention_mask"]  # noqa: RUF012 (transformers API)

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )

    def __call__(
        self,
        raw_speech: np.ndarray | list[float] | list[np.ndarray],
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        padding: bool | str = "longest",
        **kwargs: Any,
    ) -> BatchFeature:
        """One waveform or a batch of mono waveforms (at ``sampling_rate``, default this extractor's)
        → ``input_values`` zero-padded to the longest and an ``attention_mask`` of real samples."""
        batched = (isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 2) or (
            isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and np.ndim(raw_speech[0]) > 0
        )
        rows = raw_speech if batched else [raw_speech]
        waveforms = [as_waveform(w, f"waveform {index}") for index, w in enumerate(rows)]
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            waveforms = [resample(w, sampling_rate, self.sampling_rate) for w in waveforms]
        return self.pad(
            BatchFeature({"input_values": waveforms}),
            padding=padding,
            return_tensors=return_tensors,
            **kwargs,
        )

    def pad(
        self,
        processed_features: BatchFeature | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad ``input_values`` rows to the longest with :func:`respira.audio.pad_batch`.

        Takes a ``BatchFeature`` / dict with ``input_values`` (a list of 1-D waveforms), or a list of
        such dicts (a ``DataLoader`` batch). Only padding to the longest row is offered: respira models
        fit every cycle to ``config.target_seconds`` themselves, guided by the attention mask.
        """
        if padding not in (True, "longest") or max_length is not None or truncation or pad_to_multiple_of:
            raise ValueError(
                "RespiraFeatureExtractor pads to the longest waveform only (padding=True or 'longest'); "
                "the model fits cycles to config.target_seconds itself"
            )
        if isinstance(processed_features, Sequence):
            rows = [features["input_values"] for features in processed_features]
        else:
            rows = list(processed_features["input_values"])
        waveforms = [as_waveform(w, f"waveform {index}") for index, w in enumerate(rows)]
        values, mask = pad_batch(waveforms, self.padding_value)
        data: dict[str, Any] = {"input_values": values.numpy()}
        if return_attention_mask if return_attention_mask is not None else self.return_attention_mask:
            data["attention_mask"] = mask.numpy().astype(np.int32)
        if return_tensors is None:
            data["input_values"] = list(data["input_values"])
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = ["RespiraFeatureExtractor"]
