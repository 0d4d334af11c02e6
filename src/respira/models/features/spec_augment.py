"""SpecAugment frequency and time masking on a batch of features (training only)."""

from __future__ import annotations

import torch
from torch import nn

from ...utils.shipping import shipped_when


def _masks(
    batch: int, size: int, max_width: int, count: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``count`` masks per example, each of width ~ U[0, max_width], as a boolean ``[batch, size]``."""
    if max_width <= 0 or count <= 0 or size <= 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    max_width = min(max_width, size)
    widths = torch.randint(0, max_width + 1, (batch, count, 1), device=device, generator=generator)
    starts = (torch.rand(batch, count, 1, device=device, generator=generator) * (size - widths + 1)).long()
    positions = torch.arange(size, device=device)
    return ((positions >= starts) & (positions < starts + widths)).any(dim=1)


@shipped_when("spec_augment")
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
