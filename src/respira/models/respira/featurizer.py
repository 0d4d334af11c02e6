"""Waveforms checked → fixed length → features (+ SpecAugment in training), on the model's device."""

from __future__ import annotations

import math

import torch
from torch import nn

from ...utils.shipping import STAGES
from ..encoders import featurizer_spec
from ..features.fixed_length import fit_to_length
from ..features.spec_augment import SpecAugment
from .configuration_respira import RespiraConfig


def prepare_waveforms(
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    sampling_rate: int | None,
    expected_rate: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate raw waveforms; down-mix ``[batch, channels, samples]``; return the float32 batch and the
    lengths of its rows (``None`` without ``attention_mask``: every row is real signal to its end)."""
    if sampling_rate is not None and sampling_rate != expected_rate:
        raise ValueError(
            f"this model takes {expected_rate} Hz audio but got sampling_rate={sampling_rate}; "
            "resample first "
            "(the feature extractor and `respira predict` do this for files)"
        )
    input_values = input_values.to(torch.float32)
    if input_values.dim() == 1:
        input_values = input_values.unsqueeze(0)
    elif input_values.dim() == 3:
        input_values = input_values.mean(dim=1)  # [batch, channels, samples]: down-mix, as the dataset does
    elif input_values.dim() != 2:
        raise ValueError(f"expected waveforms [batch, samples], got shape {tuple(input_values.shape)}")
    tracing = torch.compiler.is_compiling()
    if not tracing and input_values.shape[-1] == 0:
        raise ValueError("got an empty waveform (0 samples)")
    # one pass without a mask the batch's size (isfinite(...).all() was a few % of a CPU forward): NaN
    # propagates into the extremes, and an infinity is one of them
    if not tracing and not torch.isfinite(torch.stack(torch.aminmax(input_values))).all():
        raise ValueError("input_values holds NaN or infinite samples")
    if attention_mask is None:
        return input_values, None
    lengths = attention_mask.to(torch.long).sum(dim=-1)
    if not tracing and (lengths == 0).any():
        raise ValueError(
            f"waveform(s) {torch.nonzero(lengths == 0).flatten().tolist()} are empty (all masked)"
        )
    return input_values, lengths


class RespiraFeaturizer(nn.Module):
    """Feature pipeline of a :class:`RespiraConfig`: ``[batch, samples]`` → ``[batch, frames, bins]``."""

    def __init__(self, config: RespiraConfig) -> None:
        super().__init__()
        self.config = config
        bins = getattr(config.encoder_config, "num_mel_bins", 128)
        parts = featurizer_spec(config.featurizer).build_featurizer(config.sampling_rate, bins)
        self.resample: nn.Module | None = parts.resample
        self.transform = parts.transform
        self._bins_first = parts.bins_first
        self.spec_augment = SpecAugment(**config.spec_augment) if config.spec_augment else None

    @property
    def frame_samples(self) -> int:
        """Samples (at the model's rate) in one analysis frame; 1 for a featurizer without frames."""
        length = 1
        for attribute in ("frame_length", "win_length", "n_fft"):
            value = getattr(self.transform, attribute, None)
            if isinstance(value, int) and value > 0:
                length = value
                break
        if self.resample is not None:  # the transform's frames are at its own rate: back to the model's
            length = math.ceil(length * self.resample.down / self.resample.up)
        return max(1, int(length))

    @property
    def frame_timing(self) -> tuple[float, float]:
        """``(hop, centre of frame 0)`` of the features, in seconds of the input."""
        return self.transform.frame_timing

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        if self.resample is not None:
            num_samples = num_samples * self.resample.up // self.resample.down
        return self.transform.frames_for(num_samples)

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``lengths``: real samples of each row (``None``: all of them)."""
        config = self.config
        waveforms, valid = fit_to_length(
            waveforms,
            lengths,
            config.target_samples,
            pad_mode=config.pad_mode,
            fade=round(config.fade_seconds * config.sampling_rate),
        )
        if self.resample is not None:
            waveforms = self.resample(waveforms)
        features = self.transform(waveforms)
        if self._bins_first:
            features = features.transpose(1, 2)
        frames = torch.arange(features.shape[1], device=features.device)
        frame_mask = frames.unsqueeze(0) < self.num_frames(valid).clamp_min(1).unsqueeze(1)
        if self.spec_augment is not None:
            features = self.spec_augment(features)
        return features, frame_mask


def analysis_frame_samples(model: nn.Module | RespiraConfig) -> int:
    """:attr:`RespiraFeaturizer.frame_samples` of a model (its featurizer), or of the featurizer a config
    describes (an ONNX export's)."""
    if isinstance(model, nn.Module):
        # by its property, not isinstance: a model loaded with trust_remote_code has its own copy of the class
        found = next((m for m in model.modules() if hasattr(type(m), "frame_samples")), None)
        if found is None:
            raise ValueError(f"{type(model).__name__} has no respira featurizer")
        return found.frame_samples
    return RespiraFeaturizer(model).frame_samples


def stages_of(config: RespiraConfig) -> frozenset[str]:
    """The optional stages (:data:`respira.utils.shipping.STAGES`) a model of ``config`` runs: the code
    shipped with it holds what ``@shipped_when`` marks for these stages, and none of the others'."""
    runs = {
        "resample": RespiraFeaturizer(config).resample is not None,
        "spec_augment": bool(config.spec_augment),
        f"pooling_{config.pooling}": True,
    }
    return frozenset(stage for stage, run in runs.items() if run and stage in STAGES)
