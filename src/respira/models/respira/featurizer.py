"""Waveforms checked → fixed length → features (+ SpecAugment in training), on the model's device."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .configuration_respira import RespiraConfig
from .encoders import encoder_specs


def prepare_waveforms(
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    sampling_rate: int | None,
    expected_rate: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The checked, down-mixed float32 batch and its rows' lengths (``None`` without ``attention_mask``)."""
    if sampling_rate is not None and sampling_rate != expected_rate:
        raise ValueError(
            f"this model takes {expected_rate} Hz audio but got sampling_rate={sampling_rate}; "
            "resample first (the feature extractor and `respira predict` do this for files)"
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
    # NaN propagates into the extremes, and an infinity is one of them: no mask the batch's size
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


PadMode = Literal["repeat", "zero"]


def _tile_with_fades(signal: torch.Tensor, out: torch.Tensor, fade: int) -> None:
    """Fill ``out`` with copies of ``signal``, with linear ``fade``-sample fades at each seam."""
    length, target = signal.shape[0], out.shape[0]
    copies = target // length
    out[: copies * length].view(copies, length).copy_(signal.expand(copies, length))
    out[copies * length :].copy_(signal[: target - copies * length])
    fade = min(fade, length // 2)
    if fade == 0:
        return
    ramp = torch.linspace(0.0, 1.0, fade + 2, device=signal.device, dtype=signal.dtype)[1:-1]
    for seam in range(length, target, length):  # fade <= length / 2: the ramps never overlap
        out[seam - fade : seam] *= ramp.flip(0)
        end = min(seam + fade, target)
        out[seam:end] *= ramp[: end - seam]


def _fit_whole_rows(
    waveforms: torch.Tensor, target: int, pad_mode: PadMode, fade: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fit_to_length` of whole rows, no branch on the length (``torch.export`` keeps it dynamic)."""
    batch, samples = waveforms.shape
    device = waveforms.device
    length = torch.full((), samples, dtype=torch.long, device=device)
    place = torch.arange(target, device=device)
    if pad_mode == "zero":
        fitted = torch.where(place < length, waveforms[:, torch.minimum(place, length - 1)], 0.0)
        return fitted, length.clamp(max=target).expand(batch)
    copy, within = place // length, place % length
    fitted = waveforms[:, within]
    if fade > 0:
        fade_length = (length // 2).clamp(max=fade)  # as in _tile_with_fades: at most half a copy
        step = 1.0 / (fade_length + 1)
        fade_in = (copy > 0) & (within < fade_length)
        fade_out = ((copy + 1) * length < target) & (within >= length - fade_length)
        gain = torch.where(fade_in, (within + 1) * step, torch.where(fade_out, (length - within) * step, 1.0))
        fitted = fitted * gain.to(fitted.dtype)
    return fitted, torch.full((batch,), target, device=device, dtype=torch.long)


def fit_to_length(
    waveforms: torch.Tensor,
    lengths: torch.Tensor | None,
    target: int,
    *,
    pad_mode: PadMode = "repeat",
    fade: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring each waveform (its first ``lengths[i]`` samples) to exactly ``target`` samples."""
    if pad_mode not in ("repeat", "zero"):
        raise ValueError(f"pad_mode must be 'repeat' or 'zero', got {pad_mode!r}")
    if lengths is None:
        if torch.compiler.is_compiling():  # traced for export: no loop over rows, no branch on the length
            return _fit_whole_rows(waveforms, target, pad_mode, fade)
        lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], device=waveforms.device)
    if lengths.shape != (waveforms.shape[0],):
        raise ValueError(
            f"expected one length per waveform ({waveforms.shape[0]}), got shape {tuple(lengths.shape)}"
        )
    if waveforms.shape[-1] == target and bool((lengths == target).all()):
        return waveforms, torch.full_like(lengths, target, device=waveforms.device)  # already fit: no copy
    out = waveforms.new_empty(waveforms.shape[0], target)
    valid = []
    for index, length in enumerate(lengths.tolist()):
        if length <= 0:
            raise ValueError("cannot fit an empty waveform (0 samples) to a fixed length")
        signal, destination = waveforms[index, :length], out[index]
        if length >= target:
            destination.copy_(signal[:target])
            valid.append(target)
        elif pad_mode == "repeat":
            _tile_with_fades(signal, destination, fade)
            valid.append(target)
        else:
            destination[:length].copy_(signal)
            destination[length:].zero_()
            valid.append(length)
    return out, torch.tensor(valid, device=waveforms.device)


def _masks(
    batch: int, size: int, max_width: int, count: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``count`` masks per example of width ~ U[0, max_width], as a boolean ``[batch, size]``."""
    if max_width <= 0 or count <= 0 or size <= 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    max_width = min(max_width, size)
    widths = torch.randint(0, max_width + 1, (batch, count, 1), device=device, generator=generator)
    starts = (torch.rand(batch, count, 1, device=device, generator=generator) * (size - widths + 1)).long()
    positions = torch.arange(size, device=device)
    return ((positions >= starts) & (positions < starts + widths)).any(dim=1)


class SpecAugment(nn.Module):
    """Zero ``num_freq_masks`` bands of up to ``freq_mask_param`` bins and ``num_time_masks`` spans of
    up to ``time_mask_param`` frames, independently per example, in training mode only."""

    def __init__(
        self,
        freq_mask_param: int = 24,
        time_mask_param: int = 96,
        num_freq_masks: int = 1,
        num_time_masks: int = 1,
        mask_value: float = 0.0,
    ) -> None:
        super().__init__()
        self.freq_mask_param, self.time_mask_param = freq_mask_param, time_mask_param
        self.num_freq_masks, self.num_time_masks = num_freq_masks, num_time_masks
        self.mask_value = mask_value

    def forward(self, features: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return features
        batch, frames, bins = features.shape
        freq = _masks(batch, bins, self.freq_mask_param, self.num_freq_masks, features.device, generator)
        time = _masks(batch, frames, self.time_mask_param, self.num_time_masks, features.device, generator)
        masked = freq.unsqueeze(1) | time.unsqueeze(2)
        return features.masked_fill(masked, self.mask_value)


class RespiraFeaturizer(nn.Module):
    """Feature pipeline of a :class:`RespiraConfig`: ``[batch, samples]`` → ``[batch, frames, bins]``."""

    def __init__(self, config: RespiraConfig) -> None:
        super().__init__()
        self.config = config
        bins = getattr(config.encoder_config, "num_mel_bins", 128)
        # the family whose featurizer the config names (RespiraConfig checks that one does)
        spec = next(spec for spec in encoder_specs() if spec.featurizer == config.featurizer)
        if spec.featurizer_from_config is not None:  # an encoder of the Hub: its own feature extractor's
            self.transform = spec.featurizer_from_config(config)
        else:
            self.transform = spec.build_featurizer(config.sampling_rate, bins)
        self.spec_augment = SpecAugment(**config.spec_augment) if config.spec_augment else None

    @property
    def frame_samples(self) -> int:
        """Samples (at the model's rate) in one analysis frame; 1 for a featurizer without frames."""
        lengths = (getattr(self.transform, name, 0) for name in ("frame_length", "win_length", "n_fft"))
        return next((length for length in lengths if isinstance(length, int) and length > 0), 1)

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
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
        features = self.transform(waveforms)
        frames = torch.arange(features.shape[1], device=features.device)
        frame_mask = frames.unsqueeze(0) < self.num_frames(valid).clamp_min(1).unsqueeze(1)
        if self.spec_augment is not None:
            features = self.spec_augment(features)
        return features, frame_mask


def analysis_frame_samples(model: nn.Module | RespiraConfig) -> int:
    """:attr:`RespiraFeaturizer.frame_samples` of a model, or of the featurizer a config describes."""
    if isinstance(model, nn.Module):
        # by its property, not isinstance: a model loaded with trust_remote_code has its own copy of the class
        found = next((m for m in model.modules() if hasattr(type(m), "frame_samples")), None)
        if found is None:
            raise ValueError(f"{type(model).__name__} has no respira featurizer")
        return found.frame_samples
    return RespiraFeaturizer(model).frame_samples
