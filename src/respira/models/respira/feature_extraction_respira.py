"""Feature extractor of respira models: batches raw waveforms (the model featurizes on its device)."""

from __future__ import annotations

from typing import Any

import numpy as np
import soxr
from transformers import BatchFeature, SequenceFeatureExtractor


class RespiraFeatureExtractor(SequenceFeatureExtractor):
    """Pads raw mono waveforms into ``input_values`` + ``attention_mask`` at ``sampling_rate``.

    Log-mel / fbank computation, fixed-length padding and SpecAugment live inside the model
    (batched, on its device), so this extractor only validates, resamples and pads. Audio given at
    another rate (``sampling_rate=...``) is resampled with soxr; ``pipeline("audio-classification")``
    decodes file paths of any rate and channel count to mono at this rate through ffmpeg.
    """

    model_input_names = ["input_values", "attention_mask"]  # noqa: RUF012 (transformers API)

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
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
        batched = (isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 2) or (
            isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and np.ndim(raw_speech[0]) > 0
        )
        waveforms = (
            [np.asarray(w, dtype=np.float32) for w in raw_speech]
            if batched
            else [np.asarray(raw_speech, dtype=np.float32)]
        )
        for index, waveform in enumerate(waveforms):
            if waveform.ndim != 1:
                raise ValueError(f"waveform {index} has shape {waveform.shape}; expected mono 1-D audio")
            if waveform.size == 0:
                raise ValueError(f"waveform {index} is empty (0 samples)")
            if not np.isfinite(waveform).all():
                raise ValueError(f"waveform {index} holds NaN or infinite samples")
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            waveforms = [soxr.resample(w, sampling_rate, self.sampling_rate, quality="HQ") for w in waveforms]
        # 1-D rows: with feature_size=1, `pad` pads a [samples, 1] row along both axes
        encoded = BatchFeature({"input_values": waveforms})
        padded = self.pad(
            encoded,
            padding=padding,
            return_attention_mask=self.return_attention_mask,
            return_tensors=None,
            **kwargs,
        )
        padded["input_values"] = [np.asarray(v, dtype=np.float32) for v in padded["input_values"]]
        if return_tensors is not None:
            padded = padded.convert_to_tensors(return_tensors)
        return padded


__all__ = ["RespiraFeatureExtractor"]
