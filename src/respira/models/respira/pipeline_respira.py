"""``pipeline("audio-classification")`` for respira models: it decides as ``respira predict`` does.

:class:`RespiraAudioClassificationPipeline` is transformers' audio-classification pipeline with these
changes for respira models (any other model gets transformers' pipeline unchanged):

- **It decides.** By default the answer is the four ICBHI classes (``normal``, ``crackle``,
  ``wheeze``, ``both``) with the class the model decides first, scored with
  :func:`respira.core.decision.class_scores`: for a multi-label model, the classes of the two flags decided
  at the model's thresholds (``config.decision_thresholds``), with scores that sum to 1 and rank the
  decided class first, so ``top_k=1`` and the Hub widget give ``respira predict``'s answer; for a
  single-label model, its softmax. ``top_k`` keeps its transformers meaning (how many of those
  classes; ``None``: all), and so does ``function_to_apply``: given explicitly (``"sigmoid"``,
  ``"softmax"``, ``"none"``) it returns the model's own outputs (for a multi-label model the crackle
  and wheeze labels) with that function applied, undecided, as transformers does.
- **Long inputs are windowed, never cropped.** An input longer than the model's ``target_seconds``
  (which the model would crop to its start) is scored by sliding windows of
  :data:`~respira.core.windows.DEFAULT_WINDOW_SECONDS` (at most ``target_seconds``) every half window
  (``respira predict``'s 4 s every 2 s). A multi-label model's windows are aggregated as
  ``respira predict`` and external validation aggregate a recording
  (the rule its config names, :func:`respira.core.decision.aggregation_of`: by default the per-label
  maximum, of the logits, so of the probabilities too; ``mean`` and ``topk_mean`` average the
  windows' probabilities, returned as their logits). A single-label model's windows are aggregated by
  ``respira predict``'s rule for it too: each window's crackle and wheeze probabilities (the class
  sums), each flag aggregated over the windows by that rule, decided at 0.5; the answer's scores are
  :func:`respira.core.decision.flag_class_scores` of those two (the output holds their logarithm), so its
  first class is ``respira predict``'s decision.
  ``window=`` / ``hop=`` (seconds) change the windows.
  An input that would need more than :data:`~respira.core.windows.MAX_WINDOWS` windows is refused; one
  shorter than one window warns (:class:`~respira.audio.checks.ShortRecordingWarning`, as ``respira
  predict`` does: it is scored from one window the model pads), as silent or clipped inputs do.
- **Other rates without torchaudio.** A ``{"raw"/"array": ..., "sampling_rate": ...}`` input at
  another rate is resampled by the model's feature extractor (:class:`RespiraFeatureExtractor`, with
  soxr) instead of torchaudio, whenever the extractor can (``resamples_input = True``).
- **Files are read as ``respira predict`` reads them.** A local path or bytes is decoded by
  :func:`respira.audio.read_audio` (libsndfile, else torchcodec; channels averaged, soxr to the model's
  rate), so the pipeline and ``respira predict`` score the same samples; only what that cannot decode
  (:class:`~respira.audio.AudioDecodingError`: AAC where torchcodec is not installed, as in a plain
  transformers install) goes to transformers' ffmpeg reader, as do URLs.
- **Too poor to judge.** A model with a quality head (``respira quality``: ``config.quality``) also
  scores how likely the input is too poor to judge: the sigmoid of its ``quality_logits``, the mean
  over the windows for a long input (as ``respira predict`` scores a recording). When
  :func:`respira.core.decision.withheld` says so (that probability reaches ``config.quality["threshold"]``)
  the answer starts with ``{"label": "poor_quality", "score": quality}``
  (:data:`~respira.labels.WITHHELD_LABEL`) before the usual classes, so ``top_k=1`` and the Hub widget
  say the verdict is withheld (``top_k`` counts that entry too); otherwise the answer is the usual one,
  unchanged. ``function_to_apply`` given explicitly still returns the model's own outputs only.

``import respira`` registers it as the task's implementation (unless another library already
replaced transformers' own); an export with code names it in ``config.json``'s ``custom_pipelines``,
so ``pipeline(..., trust_remote_code=True)`` gets the same class where respira is not installed.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.utils import ModelOutput

from ...audio.checks import ShortRecordingWarning, length_problem
from ...audio.decoding import AudioDecodingError, read_audio
from ...audio.dsp import pad_batch
from ...core.decision import (
    aggregation_of,
    class_scores,
    decide,
    flag_class_scores,
    flag_order,
    is_multi_label,
    withheld,
)
from ...core.windows import (
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MAX_WINDOWS,
    aggregate_windows,
    check_holds_a_frame,
    window_count,
    window_starts,
)
from ...labels import CLASS_NAMES, WITHHELD_LABEL
from .featurizer import analysis_frame_samples

TASK = "audio-classification"
MODEL_TYPE = "respira"
WINDOW_BATCH_SIZE = 32
"""Windows of one long input per forward pass (``respira predict``'s default batch size)."""


def _seconds(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _is_url(inputs: str | bytes) -> bool:
    return isinstance(inputs, str) and inputs.startswith(("http://", "https://"))


@dataclass
class RespiraPipelineOutput(ModelOutput):
    """What the pipeline's forward gives per input: one row of ``logits`` (the windows' aggregated) and,
    for a model with a quality head, ``quality``, the probability that the input is too poor to judge
    (the mean over its windows)."""

    logits: torch.Tensor | None = None
    quality: torch.Tensor | None = None


class RespiraAudioClassificationPipeline(AudioClassificationPipeline):
    """transformers' audio-classification pipeline that, for respira models, decides at the model's
    thresholds, windows long inputs and resamples with soxr (see the module)."""

    def _is_respira(self) -> bool:
        return getattr(self.model.config, "model_type", None) == MODEL_TYPE

    def _sanitize_parameters(
        self, top_k: int | None = None, function_to_apply: str | None = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        window, hop = _seconds("window", kwargs.pop("window", None)), _seconds("hop", kwargs.pop("hop", None))
        preprocess, forward, postprocess = super()._sanitize_parameters(
            top_k=top_k, function_to_apply=function_to_apply, **kwargs
        )
        postprocess["top_k"] = top_k  # capped in postprocess, which knows how many answers there are
        if window is not None or hop is not None:
            if not self._is_respira():
                raise ValueError("window and hop apply to respira models only")
            limit = float(self.model.config.target_seconds)
            if window is not None and window > limit:
                raise ValueError(
                    f"window {window:g} s is longer than the model's target_seconds ({limit:g} s), "
                    "which would crop it; use a window of at most that"
                )
            if hop is not None and hop > (window or min(DEFAULT_WINDOW_SECONDS, limit)):
                raise ValueError(f"hop {hop:g} s is longer than the window; use a hop of at most the window")
            forward.update(window=window, hop=hop)
        return preprocess, forward, postprocess

    def preprocess(self, inputs: Any) -> Any:
        extractor = self.feature_extractor
        refusal: AudioDecodingError | None = None
        if self._is_respira() and isinstance(inputs, (str, bytes)) and not _is_url(inputs):
            try:
                inputs = read_audio(inputs, int(extractor.sampling_rate))
            except AudioDecodingError as error:  # transformers' ffmpeg reader, below, may still read it
                refusal = error
        if not (isinstance(inputs, dict) and getattr(extractor, "resamples_input", False)):
            try:
                return super().preprocess(inputs)
            except ValueError:  # ffmpeg could not either: read_audio's error names the file, ffmpeg's not
                if refusal is not None:
                    raise refusal from None
                raise
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

    # ------------------------------------------------------------------------------------------ forward
    def _window_samples(self, window: float | None, hop: float | None) -> tuple[int, int]:
        config = self.model.config
        rate = int(config.sampling_rate)
        seconds = window if window is not None else min(DEFAULT_WINDOW_SECONDS, float(config.target_seconds))
        step = hop if hop is not None else seconds * DEFAULT_HOP_SECONDS / DEFAULT_WINDOW_SECONDS
        window_samples = max(1, min(round(seconds * rate), int(config.target_samples)))
        return window_samples, max(1, min(round(step * rate), window_samples))

    def _check_length(self, length: int, window: float | None, hop: float | None) -> None:
        """Warn (:class:`~respira.audio.checks.ShortRecordingWarning`) for an input shorter than one
        window: its verdict comes from one window the model pads."""
        rate = int(self.model.config.sampling_rate)
        problem = length_problem(length, rate, self._window_samples(window, hop)[0] / rate)
        if problem is not None:
            warnings.warn(f"the input {problem}", ShortRecordingWarning, stacklevel=2)

    def _segments(self, length: int, window: float | None, hop: float | None) -> list[tuple[int, int]]:
        """Sample ranges the model scores for an input of ``length`` samples: all of it, or windows."""
        if length <= int(self.model.config.target_samples):
            return [(0, length)]
        window_samples, hop_samples = self._window_samples(window, hop)
        count = window_count(length, window_samples, hop_samples)
        if count > MAX_WINDOWS:
            rate = int(self.model.config.sampling_rate)
            raise ValueError(
                f"an input of {length / rate:.1f} s needs {count} windows of {window_samples / rate:g} s "
                f"every {hop_samples / rate:g} s, more than the limit of {MAX_WINDOWS}; pass a longer hop="
            )
        starts = window_starts(length, window_samples, hop_samples)
        return [(int(start), int(min(start + window_samples, length))) for start in starts]

    def _aggregate(self, logits: torch.Tensor) -> torch.Tensor:
        """One row of logits from the windows' ``[windows, labels]`` by the config's rule
        (:func:`~respira.core.decision.aggregation_of`). Multi-label: the per-label maximum of the logits, or
        the logits of the aggregated probabilities; single-label: the logarithm of the class scores of
        its aggregated flags (``respira predict``'s rule), in the model's label order. A single window's
        logits unchanged."""
        if logits.shape[0] == 1:
            return logits[0]
        config = self.model.config
        rule, top_k = aggregation_of(config)
        if is_multi_label(config):
            if rule == "max":
                return logits.max(dim=0).values
            probabilities = aggregate_windows(logits.double().sigmoid().cpu().numpy(), rule, top_k)
            return torch.from_numpy(probabilities).logit().to(device=logits.device, dtype=logits.dtype)
        window_flags = decide(logits.double().softmax(dim=-1).cpu().numpy(), config).flags
        scores = flag_class_scores(aggregate_windows(window_flags, rule, top_k)[None])[0]
        row = np.empty_like(scores)
        row[flag_order(config)] = scores  # CLASS_NAMES order -> the model's id2label order
        return torch.from_numpy(np.log(row)).to(device=logits.device, dtype=logits.dtype)

    def _forward(self, model_inputs: Any, window: float | None = None, hop: float | None = None) -> Any:
        if not self._is_respira():
            return super()._forward(model_inputs)
        values = model_inputs["input_values"]
        mask = model_inputs.get("attention_mask")
        lengths = mask.sum(dim=-1).tolist() if mask is not None else [values.shape[-1]] * values.shape[0]
        rate, frame = int(self.model.config.sampling_rate), analysis_frame_samples(self.model)
        rows, quality = [], []
        for row, length in enumerate(lengths):
            check_holds_a_frame(int(length), frame, rate, "the input")
            waveform = values[row, : int(length)].float().cpu().numpy()
            self._check_length(int(length), window, hop)
            segments = self._segments(int(length), window, hop)
            chunks, window_quality = [], []
            for first in range(0, len(segments), WINDOW_BATCH_SIZE):
                batch, batch_mask = pad_batch(
                    [waveform[a:b] for a, b in segments[first : first + WINDOW_BATCH_SIZE]]
                )
                output = self.model(
                    input_values=batch.to(device=values.device, dtype=values.dtype),
                    attention_mask=batch_mask.to(values.device),
                )
                chunks.append(output.logits)
                if getattr(output, "quality_logits", None) is not None:
                    window_quality.append(output.quality_logits.double().sigmoid())
            rows.append(self._aggregate(torch.cat(chunks)))
            if window_quality:  # a recording's quality: the mean over its windows (respira predict's)
                quality.append(torch.cat(window_quality).mean())
        return RespiraPipelineOutput(
            logits=torch.stack(rows), quality=torch.stack(quality) if quality else None
        )

    # -------------------------------------------------------------------------------------- postprocess
    def postprocess(
        self, model_outputs: Any, top_k: int | None = None, function_to_apply: str | None = None
    ) -> list[dict[str, Any]]:
        config = self.model.config
        if not self._is_respira() or function_to_apply is not None:
            count = int(config.num_labels)
            return super().postprocess(
                model_outputs,
                top_k=count if top_k is None else min(top_k, count),
                function_to_apply=function_to_apply,
            )
        logits = model_outputs.logits[0].double()
        probabilities = logits.sigmoid() if is_multi_label(config) else logits.softmax(dim=-1)
        scores, decision = class_scores(probabilities[None].cpu().numpy(), config)
        decided, row = int(decision.classes[0]), scores[0]
        others = sorted(
            (index for index in range(len(CLASS_NAMES)) if index != decided), key=lambda i: -row[i]
        )
        answer = [{"score": float(row[index]), "label": CLASS_NAMES[index]} for index in [decided, *others]]
        quality = model_outputs.get("quality")
        if quality is not None:
            value = float(quality.reshape(-1)[0])
            if withheld(value, config):  # too poor to judge: that first, then the classes
                answer.insert(0, {"score": value, "label": WITHHELD_LABEL})
        return answer if top_k is None else answer[:top_k]


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
