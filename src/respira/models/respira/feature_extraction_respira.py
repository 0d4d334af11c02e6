"""Feature extractor of respira models: batches raw waveforms (the model featurizes on its device)."""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor

from .audio_decoding import (
    DEFAULT_LOWPASS_ORDER,
    DEFAULT_SAMPLING_RATE,
    as_waveform,
    check_level,
    check_rate,
    lowpass,
    resample,
)


class RespiraFeatureExtractor(SequenceFeatureExtractor):
    """Pads raw mono waveforms into ``input_values`` + ``attention_mask`` at ``sampling_rate``."""

    model_input_names = ["input_values", "attention_mask"]  # noqa: RUF012 (transformers API)
    resamples_input = True  # read by pipeline("audio-classification")

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        lowpass_cutoff: float | None = None,
        lowpass_order: int = DEFAULT_LOWPASS_ORDER,
        **kwargs: Any,
    ) -> None:
        self.lowpass_cutoff = float(lowpass_cutoff) if lowpass_cutoff else None
        self.lowpass_order = int(lowpass_order)
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
        """One or a batch of mono waveforms → resampled, low-passed (with ``lowpass_cutoff``) and padded."""
        batched = (isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 2) or (
            isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and np.ndim(raw_speech[0]) > 0
        )
        if isinstance(raw_speech, (list, tuple)) and len(raw_speech) == 0:
            raise ValueError("no waveforms to extract features from (an empty batch)")
        rows = raw_speech if batched else [raw_speech]
        waveforms = [as_waveform(w, f"waveform {index}") for index, w in enumerate(rows)]
        for index, waveform in enumerate(waveforms):
            check_level(waveform, f"waveform {index}")
        if sampling_rate is not None:
            if sampling_rate != self.sampling_rate:
                waveforms = [resample(w, sampling_rate, self.sampling_rate) for w in waveforms]  # checks it
            check_rate(sampling_rate, "the waveforms")
        if self.lowpass_cutoff is not None:
            waveforms = [
                lowpass(w, self.sampling_rate, self.lowpass_cutoff, self.lowpass_order) for w in waveforms
            ]
        longest, limit = max(w.shape[0] for w in waveforms), kwargs.get("max_length")
        if padding == "max_length" and limit is not None and longest > limit and not kwargs.get("truncation"):
            raise ValueError(
                f"a waveform of {longest} samples is longer than max_length={limit}; "
                "pass truncation=True to crop it"
            )
        return self.pad(
            BatchFeature({"input_values": waveforms}),
            padding=padding,
            return_tensors=return_tensors,
            **kwargs,
        )


def feature_extractor_for(config: Any) -> RespiraFeatureExtractor:
    """The feature extractor of a model config: its sampling rate and input low-pass."""
    return RespiraFeatureExtractor(
        sampling_rate=int(config.sampling_rate),
        lowpass_cutoff=getattr(config, "lowpass_cutoff", None),
        lowpass_order=getattr(config, "lowpass_order", DEFAULT_LOWPASS_ORDER),
    )
