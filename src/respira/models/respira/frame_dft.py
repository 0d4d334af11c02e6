"""The power spectrum of a framed signal as a convolution and a matrix product: the export's STFT.

ONNX Runtime's ``STFT`` and ``DFT`` kernels are many times slower than torch's FFT (docs/history/speed.md,
"onnxruntime vs torch eager"). :class:`FramePowerSpectrum` computes ``|torch.stft(...)|²`` as a four-step
(Cooley-Tukey) DFT of ``n_fft = R1 · R2`` points, ``R2 = 32``. With ``n = R2·n1 + n2`` and
``k = k1 + R1·k2``::

    X[k] = Σ_n2 W_R2^(n2·k2) · Y[n2, k1],   Y[n2, k1] = Σ_n1 w[n] x[n] · W_R1^(n1·k1) · W_N^(n2·k1)

``Y`` of every frame is one grouped ``conv1d`` (a group per ``n2``, stride ``hop / R2``, window and twiddles
in the kernel); the step over ``n2`` is one matrix product for the ``k2`` needed; then ``re² + im²``.
"""

from __future__ import annotations

import math

import torch

from .derived_buffers import DerivedBuffers

RADIX = 32  # R2: n_fft and hop_length must be multiples of it


class FramePowerSpectrum(DerivedBuffers):
    """Padded ``[batch, samples]`` → ``[batch, bins, frames]``: the power of the first ``bins`` DFT bins of
    Hann-windowed frames, as ``torch.stft(center=False)`` computes it."""

    stage1: torch.Tensor
    stage2: torch.Tensor

    def __init__(self, n_fft: int, hop_length: int, win_length: int, *, periodic: bool, bins: int) -> None:
        super().__init__()
        if n_fft % RADIX or hop_length % RADIX or n_fft < RADIX:
            raise ValueError(f"n_fft ({n_fft}) and hop_length ({hop_length}) must be multiples of {RADIX}")
        if not 0 < win_length <= n_fft or not 0 < bins <= n_fft // 2:
            raise ValueError(
                f"need 0 < win_length <= n_fft and 0 < bins <= n_fft // 2, got {win_length}, {bins}"
            )
        self.n_fft, self.hop_length, self.win_length, self.periodic = n_fft, hop_length, win_length, periodic
        self.columns = n_fft // RADIX  # R1: the first step's length
        self.k2_count = -(-bins // self.columns)
        self.bins_computed = self.k2_count * self.columns
        window = self._window()
        nonzero = torch.nonzero(window).flatten()
        self.first_row = int(nonzero[0]) // RADIX
        self.taps = int(nonzero[-1]) // RADIX - self.first_row + 1
        self.register_derived_buffers()

    def _window(self) -> torch.Tensor:
        """The window zero-padded to ``n_fft`` as ``torch.stft`` centres it."""
        window = torch.hann_window(self.win_length, periodic=self.periodic, dtype=torch.float64, device="cpu")
        left = (self.n_fft - self.win_length) // 2
        return torch.nn.functional.pad(window, (left, self.n_fft - self.win_length - left))

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        """The grouped convolution's kernel (channels ``n2``, re/im, ``k1``) and the DFT over ``n2``."""
        columns, window = self.columns, self._window()
        n1 = torch.arange(self.first_row, self.first_row + self.taps, dtype=torch.float64, device="cpu")
        n2 = torch.arange(RADIX, dtype=torch.float64, device="cpu")
        k1 = torch.arange(columns, dtype=torch.float64, device="cpu")
        # angle[n2, k1, n1] of W_R1^(n1·k1) · W_N^(n2·k1)
        angle = (
            2
            * math.pi
            * (
                k1[None, :, None] * n1[None, None, :] / columns
                + n2[:, None, None] * k1[None, :, None] / self.n_fft
            )
        )
        weight = window[(RADIX * n1[None, :] + n2[:, None]).long()].unsqueeze(1)  # [n2, 1, n1]
        stage1 = torch.stack([weight * angle.cos(), -weight * angle.sin()], dim=1)  # [n2, 2, k1, n1]
        k2 = torch.arange(self.k2_count, dtype=torch.float64, device="cpu")
        phi = 2 * math.pi * k2[:, None] * n2[None, :] / RADIX  # [k2, n2]
        cos, sin = phi.cos(), phi.sin()
        # (a + ib)(cos − i sin): re = a·cos + b·sin, im = b·cos − a·sin; columns (n2, re/im)
        real = torch.stack([cos, sin], dim=-1).reshape(self.k2_count, 2 * RADIX)
        imaginary = torch.stack([-sin, cos], dim=-1).reshape(self.k2_count, 2 * RADIX)
        return {
            "stage1": stage1.reshape(RADIX * 2 * columns, 1, self.taps).float(),
            "stage2": torch.cat([real, imaginary]).float(),
        }

    def frames_for(self, num_samples: int) -> int:
        """Frames of a padded signal of ``num_samples`` samples."""
        return (num_samples - self.n_fft) // self.hop_length + 1

    def forward(self, padded: torch.Tensor) -> torch.Tensor:
        batch, samples = padded.shape
        frames = self.frames_for(samples)
        stride = self.hop_length // RADIX
        extra = (-samples) % RADIX  # explicit sizes: reshape(-1) makes torch.export guard the length
        rows = torch.nn.functional.pad(padded, (0, extra)).reshape(batch, (samples + extra) // RADIX, RADIX)
        # exactly the rows the frames reach (cutting the input is cheaper than cutting the output)
        rows = rows.transpose(1, 2)[:, :, self.first_row : self.first_row + (frames - 1) * stride + self.taps]
        first = torch.nn.functional.conv1d(rows, self.stage1.to(padded.dtype), stride=stride, groups=RADIX)
        second = torch.matmul(
            self.stage2.to(padded.dtype), first.reshape(batch, 2 * RADIX, self.columns * frames)
        )
        parts = second.reshape(batch, 2, self.bins_computed, frames)  # (re/im, k2, k1)
        return parts.square().sum(dim=1)
