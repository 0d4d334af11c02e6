"""The feature modules' hand-written kernels: when they run instead of the plain torch path, and the
banded products they share.

A kernel runs only for inference on the CPU, where it pays off (docs/history/speed.md); the ONNX export
traces a third path (:mod:`.frame_dft`). Each mel band covers a contiguous run of FFT bins, so
:func:`plan_bands` splits the bands into consecutive groups, each multiplied with only the bins it covers,
minimising the multiplications plus a fixed cost per group.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch


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
