"""``pipeline("audio-classification")`` for respira models: it decides as ``respira predict`` does.

For respira models it answers the four ICBHI classes, the decided one first; windows inputs longer than
``target_seconds`` and aggregates them by the config's rule; and reads files with respira's reader.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.utils import ModelOutput

from .audio_decoding import (
    AudioDecodingError,
    ShortRecordingWarning,
    is_real,
    length_problem,
    pad_batch,
    read_audio,
)
from .decision import (
    aggregation_of,
    class_scores,
    decide,
    flag_class_scores,
    flag_order,
    is_multi_label,
)
from .featurizer import analysis_frame_samples
from .labels import CLASS_NAMES
from .windows import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HOP_SECONDS,
    DEFAULT_WINDOW_SECONDS,
    MAX_WINDOWS,
    aggregate_windows,
    check_holds_a_frame,
    run_batched,
    window_count,
    window_samples,
    window_spans,
)

MODEL_TYPE = "respira"


def _seconds(name: str, value: Any) -> float | None:
    bad = not is_real(value) or not math.isfinite(value)
    if value is not None and (bad or value <= 0):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return None if value is None else float(value)


@dataclass
class RespiraPipelineOutput(ModelOutput):
    """Per input: one row of ``logits`` (the windows' aggregated)."""

    logits: torch.Tensor | None = None


class RespiraAudioClassificationPipeline(AudioClassificationPipeline):
    """transformers' audio-classification pipeline, deciding as respira does for respira models."""

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
            preprocess.update(window=window, hop=hop)
        return preprocess, forward, postprocess

    def preprocess(self, inputs: Any, window: float | None = None, hop: float | None = None) -> Any:
        """The input read, checked and cut into ``window_spans`` (with ``window_counts``)."""
        processed = self._features(inputs)
        if not self._is_respira():
            return processed
        config, mask = self.model.config, processed.get("attention_mask")
        rate = int(config.sampling_rate)
        length = int(mask.sum()) if mask is not None else int(processed["input_values"].shape[-1])
        check_holds_a_frame(length, analysis_frame_samples(self.model), rate, "the input")
        seconds = window or min(DEFAULT_WINDOW_SECONDS, float(config.target_seconds))
        step = hop or seconds * DEFAULT_HOP_SECONDS / DEFAULT_WINDOW_SECONDS  # respira predict's ratio
        samples, step = window_samples(seconds, step, rate)
        problem = length_problem(length, rate, samples / rate)
        if problem is not None:  # its verdict comes from one window the model pads
            warnings.warn(f"the input {problem}", ShortRecordingWarning, stacklevel=2)
        count = window_count(length, samples, step) if length > int(config.target_samples) else 1
        if count > MAX_WINDOWS:
            raise ValueError(
                f"an input of {length / rate:.1f} s needs {count} windows of {samples / rate:g} s "
                f"every {step / rate:g} s, more than the limit of {MAX_WINDOWS}; pass a longer hop="
            )
        spans = window_spans(length, samples, step) if count > 1 else [(0, length)]
        processed["window_spans"] = torch.tensor(spans, dtype=torch.int64).reshape(-1, 2)
        processed["window_counts"] = torch.tensor([len(spans)], dtype=torch.int64)
        return processed

    def _features(self, inputs: Any) -> Any:
        extractor = self.feature_extractor
        refusal: AudioDecodingError | None = None
        url = isinstance(inputs, str) and inputs.startswith(("http://", "https://"))
        if self._is_respira() and isinstance(inputs, (str, bytes)) and not url:
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

    def _aggregate(self, logits: torch.Tensor) -> torch.Tensor:
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

    def _forward(self, model_inputs: Any) -> Any:
        if not self._is_respira():
            return super()._forward(model_inputs)
        values = model_inputs["input_values"]
        spans = model_inputs["window_spans"].tolist()
        recordings, first = [], 0
        for row, count in enumerate(model_inputs["window_counts"].tolist()):
            waveform = values[row].float().cpu().numpy()
            recordings.append([waveform[a:b] for a, b in spans[first : first + count]])
            first += count

        def run(windows: list[np.ndarray]) -> list[torch.Tensor]:
            batch, mask = pad_batch(windows)
            output = self.model(
                input_values=batch.to(values.device, values.dtype), attention_mask=mask.to(values.device)
            )
            return list(output.logits)

        rows = [
            self._aggregate(torch.stack(logits))
            for logits in run_batched(recordings, run, DEFAULT_BATCH_SIZE)
        ]
        return RespiraPipelineOutput(logits=torch.stack(rows))

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
        return answer if top_k is None else answer[:top_k]
