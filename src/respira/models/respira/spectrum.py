"""The spectrogram front ends' shared parts: derived buffers, the CPU kernels' banded products, the export's
STFT.

Feature modules whose constant tensors (windows, filter banks) are derived from their arguments.

They are non-persistent buffers, which transformers 5 leaves uninitialised after ``from_pretrained``
(meta device); ``reset_buffers`` recomputes them from ``_init_weights``. They stay float32 whatever the
model's dtype (FFTs have no half-precision CPU kernels); the model casts the features to its encoder's.

The feature modules' hand-written kernels: when they run instead of the plain torch path, and the
banded products they share.

A kernel runs only for inference on the CPU, where it pays off (docs/history/speed.md); the ONNX export
traces a third path (:class:`FramePowerSpectrum`). Each mel band covers a contiguous run of FFT bins, so
:func:`plan_bands` splits the bands into consecutive groups, each multiplied with only the bins it covers,
minimising the multiplications plus a fixed cost per group.

The power spectrum of a framed signal as a convolution and a matrix product: the export's STFT.

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
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


class DerivedBuffers(nn.Module):
    """Base for modules with derived, non-persistent buffers: implement :meth:`derived_buffers`."""

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _full_precision_buffers(self) -> dict[str, torch.Tensor]:
        previous = torch.get_default_dtype()
        if previous in _REDUCED_PRECISION:
            torch.set_default_dtype(torch.float32)
        try:
            return {
                name: value.float() if value.dtype in _REDUCED_PRECISION else value
                for name, value in self.derived_buffers().items()
            }
        finally:
            torch.set_default_dtype(previous)

    def register_derived_buffers(self) -> None:
        for name, value in self._full_precision_buffers().items():
            self.register_buffer(name, value, persistent=False)

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute every derived buffer in place (on its current device, never in half precision)."""
        for name, value in self._full_precision_buffers().items():
            buffer = getattr(self, name)
            if buffer.device.type == "meta" or buffer.dtype in _REDUCED_PRECISION:
                self.register_buffer(name, value.to(buffer.device), persistent=False)
            else:
                buffer.copy_(value.to(buffer.device, buffer.dtype))

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> DerivedBuffers:
        # model.to(dtype) / .half() / .bfloat16() convert every floating buffer: keep these in their
        # full precision, with their exact values (a round trip through bfloat16 would round them)
        before = {name: b for name, b in self._buffers.items() if b is not None and b.is_floating_point()}
        super()._apply(fn, recurse)
        for name, original in before.items():
            converted = self._buffers[name]
            if converted is not None and converted.dtype in _REDUCED_PRECISION:
                self._buffers[name] = original.to(converted.device)
        return self


def kernel_or_export(
    module: torch.nn.Module, waveforms: torch.Tensor, plain: bool | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The path that computes ``module``'s features of ``waveforms``: its ``forward_export`` while
    ``torch.export`` traces, else its ``_forward_kernel`` unless ``plain`` (by default: compiling, off the
    CPU, or gradients must reach ``waveforms``), else its ``forward_plain``."""
    export = getattr(module, "forward_export", None)
    # torch.export traces (torch.onnx.export uses it) a convolution/matrix-product formulation
    exporting = torch.compiler.is_exporting() and isinstance(waveforms.shape[-1], int)
    if plain is None and export is not None and exporting:
        return export
    if plain is None:
        plain = (
            torch.compiler.is_compiling()
            or waveforms.device.type != "cpu"
            or (torch.is_grad_enabled() and waveforms.requires_grad)
        )
    return module.forward_plain if plain else module._forward_kernel


class Band(NamedTuple):
    """Output columns ``[first_column, end_column)`` need only input rows ``[first_row, end_row)``."""

    first_column: int
    end_column: int
    first_row: int
    end_row: int


def plan_bands(matrix: torch.Tensor, group_cost: float = 4096.0) -> tuple[Band, ...]:
    """Split the columns of ``matrix`` ``[rows, columns]`` into groups of consecutive columns."""
    nonzero = (matrix != 0).cpu().numpy()
    columns = matrix.shape[1]
    row_ranges: list[tuple[int, int] | None] = []
    for column in range(columns):
        rows = np.flatnonzero(nonzero[:, column])
        row_ranges.append((int(rows[0]), int(rows[-1]) + 1) if rows.size else None)

    best = [0.0] + [math.inf] * columns
    split = [0] * (columns + 1)
    group_rows = [(0, 0)] * (columns + 1)  # the rows of the best group ending at each column
    for end in range(1, columns + 1):
        low, high = math.inf, -math.inf  # the rows of columns [first, end), widened as first falls
        for first in range(end - 1, -1, -1):
            if row_ranges[first] is not None:
                low, high = min(low, row_ranges[first][0]), max(high, row_ranges[first][1])
            width = high - low if low < high else 0
            cost = best[first] + width * (end - first) + group_cost
            if cost <= best[end]:  # ties: the smallest first
                best[end], split[end] = cost, first
                group_rows[end] = (low, high) if low < high else (0, 0)
    bands: list[Band] = []
    end = columns
    while end:
        first = split[end]
        bands.append(Band(first, end, *group_rows[end]))
        end = first
    return tuple(reversed(bands))


def banded_matmul(
    inputs: torch.Tensor, matrix: torch.Tensor, bands: tuple[Band, ...], out: torch.Tensor
) -> torch.Tensor:
    """``inputs @ matrix`` (inputs ``[..., rows]``) computed band by band into ``out``; equal to the full
    product when ``matrix`` is zero outside the bands."""
    flat_inputs = inputs.reshape(-1, inputs.shape[-1])
    flat_out = out.view(-1, matrix.shape[1])
    for band in bands:
        columns = flat_out[:, band.first_column : band.end_column]
        block = matrix[band.first_row : band.end_row, band.first_column : band.end_column]
        rows = flat_inputs[:, band.first_row : band.end_row]
        torch.addmm(columns, rows, block, beta=0, out=columns)  # beta=0: the output's old values are ignored
    return out


def power_mel(
    frames: torch.Tensor,
    n_fft: int,
    banks: torch.Tensor,
    bands: tuple[Band, ...],
    out: torch.Tensor,
    power: torch.Tensor,
) -> torch.Tensor:
    """Mel band energies of windowed ``frames`` ``[..., length]`` into ``out`` ``[..., n_mels]``:
    ``|rfft(frames, n_fft)|² @ banks``, ``banks`` ``[n_fft // 2 + 1, n_mels]`` planned by :func:`plan_bands`.
    """
    parts = torch.view_as_real(torch.fft.rfft(frames, n=n_fft))
    torch.mul(parts[..., 0], parts[..., 0], out=power)
    power.addcmul_(parts[..., 1], parts[..., 1])
    return banded_matmul(power, banks, bands, out=out)


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
