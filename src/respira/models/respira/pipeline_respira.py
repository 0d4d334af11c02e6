"""``pipeline("audio-classification")`` for audio dicts at any rate, resampled by respira's feature extractor.

transformers' :class:`~transformers.AudioClassificationPipeline` resamples a ``{"raw"/"array": ...,
"sampling_rate": ...}`` input at another rate with torchaudio, which respira does not need. This
subclass hands such an input, at its own rate, to a feature extractor that resamples itself
(:class:`RespiraFeatureExtractor`, with soxr); for every other feature extractor it is transformers'
pipeline unchanged. ``import respira`` registers it as the task's implementation, unless another
library already replaced transformers' own.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.audio_classification import AudioClassificationPipeline

TASK = "audio-classification"


class RespiraAudioClassificationPipeline(AudioClassificationPipeline):
    """transformers' audio-classification pipeline; audio dicts at another rate are resampled by the
    feature extractor when it can (``resamples_input = True``), instead of by torchaudio."""

    def preprocess(self, inputs: Any) -> Any:
        extractor = self.feature_extractor
        if not (isinstance(inputs, dict) and getattr(extractor, "resamples_input", False)):
            return super().preprocess(inputs)
        rate = inputs.get("sampling_rate")
        array = inputs.get("raw", inputs.get("array"))
        if rate is None or array is None or rate == extractor.sampling_rate:
            return super().preprocess(inputs)  # the usual checks and messages
        if hasattr(array, "detach"):  # a torch tensor
            array = array.detach().cpu().numpy()
        processed = extractor(np.asarray(array), sampling_rate=rate, return_tensors="pt")
        if self.dtype is not None:
            processed = processed.to(dtype=self.dtype)
        return processed


def register_audio_classification_pipeline() -> None:
    """Make :class:`RespiraAudioClassificationPipeline` the ``audio-classification`` implementation.

    Only transformers' own implementation is replaced (another library's registration is left
    alone); registering again is harmless.
    """
    current = PIPELINE_REGISTRY.supported_tasks[TASK]
    impl = current["impl"]
    own = "transformers.pipelines.audio_classification.AudioClassificationPipeline"
    if impl is RespiraAudioClassificationPipeline or impl not in (own, AudioClassificationPipeline):
        return
    registry_logger = logging.getLogger("transformers.pipelines.base")
    level = registry_logger.level
    registry_logger.setLevel(logging.ERROR)  # "already registered. Overwriting": intended
    try:
        PIPELINE_REGISTRY.register_pipeline(
            TASK,
            pipeline_class=RespiraAudioClassificationPipeline,
            pt_model=current.get("pt"),
            default=current.get("default"),
            type=current.get("type"),
        )
    finally:
        registry_logger.setLevel(level)


__all__ = ["RespiraAudioClassificationPipeline", "register_audio_classification_pipeline"]
