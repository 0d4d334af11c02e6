"""Band-limited resampling by a rational factor in torch (windowed-sinc polyphase filtering)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .buffers import DerivedBuffers


def _kaiser_sinc(up: int, down: int, half_width: int, beta: float) -> torch.Tensor:
    """Low-pass FIR at ``0.5 / max(up, down)`` of the upsampled rate, gain ``up``."""
    cutoff = 0.5 / max(up, down) * 0.95  # a little below the new Nyquist
    taps = 2 * half_width * max(up, down) + 1
    time = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    window = torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return (2 * cutoff * torch.sinc(2 * cutoff * time) * window * up).float()


class Resample(DerivedBuffers):
    """Resample ``[batch, samples]`` from ``orig_rate`` to ``new_rate``; output length ``ceil(n·up/down)``."""

    def __init__(self, orig_rate: int, new_rate: int, half_width: int = 32, beta: float = 8.6) -> None:
        super().__init__()
        divisor = math.gcd(orig_rate, new_rate)
        self.up, self.down = new_rate // divisor, orig_rate // divisor
        self.half_width, self.beta = half_width, beta
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        return {"kernel": _kaiser_sinc(self.up, self.down, self.half_width, self.beta)}

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if self.up == self.down == 1:
            return waveforms
        batch, length = waveforms.shape
        stuffed = waveforms.new_zeros(batch, length * self.up)
        stuffed[:, :: self.up] = waveforms
        taps = self.kernel.shape[0]
        filtered = nn.functional.conv1d(
            stuffed.unsqueeze(1), self.kernel.flip(0).view(1, 1, -1).to(waveforms.dtype), padding=taps // 2
        ).squeeze(1)
        return filtered[:, :: self.down][:, : -(-length * self.up // self.down)]
