"""An encoder's tokens as a sequence of time steps: what frame-level (event detection) outputs read.

Each step's frequency patches are averaged, so the masked mean of the steps is the mean pooling of the grid.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = ["TimeSteps", "ast_time_steps", "beats_time_steps", "feature_map_time_steps", "step_centres"]


class TimeSteps(NamedTuple):
    """Tokens per time step ``[batch, steps, hidden]``, their ``[batch, steps]`` mask of real signal, and
    step ``i``'s input frames ``[i * stride_frames, i * stride_frames + span_frames)``."""

    tokens: torch.Tensor
    mask: torch.Tensor
    stride_frames: float | torch.Tensor
    span_frames: float | torch.Tensor


def feature_map_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """A CNN's tokens are its time steps; each spans the input frames its time reduction pools."""
    steps = encoded.tokens.shape[1]
    reduction = num_frames / steps
    return TimeSteps(encoded.tokens, encoded.token_mask, reduction, reduction)


def beats_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """BEATs' time-major patches: the ``num_mel_bins / patch_size`` patches of each step averaged."""
    config = model.config.encoder_config
    per_step = config.num_mel_bins // config.patch_size
    batch, count, hidden = encoded.tokens.shape
    tokens = encoded.tokens.reshape(batch, count // per_step, per_step, hidden).mean(dim=2)
    mask = encoded.token_mask[:, ::per_step]
    return TimeSteps(tokens, mask, float(config.patch_size), float(config.patch_size))


def ast_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """AST's frequency-major patch grid: each time column's frequency patches averaged."""
    config = model.config.encoder_config
    _frequency_patches, time_patches = model.encoder.embeddings.get_shape(config)
    batch, count, hidden = encoded.tokens.shape
    tokens = encoded.tokens.reshape(batch, count // time_patches, time_patches, hidden).mean(dim=1)
    mask = encoded.token_mask[:, :time_patches]
    return TimeSteps(tokens, mask, float(config.time_stride), float(config.patch_size))


def step_centres(
    steps: TimeSteps, frame_hop_seconds: float, first_frame_centre_seconds: float
) -> torch.Tensor:
    """``[steps]`` seconds from the input's start to the centre of each step's middle frame."""
    index = torch.arange(steps.tokens.shape[1], device=steps.tokens.device, dtype=torch.float32)
    middle = index * steps.stride_frames + (steps.span_frames - 1) / 2
    return middle * frame_hop_seconds + first_frame_centre_seconds
