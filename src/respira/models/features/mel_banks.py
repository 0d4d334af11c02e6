"""Kaldi-compatible triangular mel filter banks (the banks of Kaldi's ``compute-fbank-feats``).

Kaldi's mel scale is ``1127 ln(1 + f / 700)``; ``num_bins`` triangles are spaced evenly on it
between ``low_freq`` and ``high_freq`` and evaluated on the ``n_fft // 2`` FFT bins below Nyquist
(Kaldi drops the Nyquist bin; callers that need ``n_fft // 2 + 1`` columns pad one zero column).
"""

from __future__ import annotations

import math

import torch


def mel_scale(frequency: torch.Tensor | float) -> torch.Tensor | float:
    """Hertz → Kaldi mel."""
    if isinstance(frequency, torch.Tensor):
        return 1127.0 * torch.log1p(frequency / 700.0)
    return 1127.0 * math.log1p(frequency / 700.0)


def kaldi_mel_banks(
    num_bins: int,
    n_fft: int,
    sample_rate: float,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Mel filter bank of shape ``[num_bins, n_fft // 2]`` as Kaldi builds it (no VTLN warping)."""
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    if not 0.0 <= low_freq < high_freq <= nyquist:
        raise ValueError(
            f"mel banks need 0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz), got {low_freq}, {high_freq}"
        )
    mel_low, mel_high = mel_scale(float(low_freq)), mel_scale(float(high_freq))
    delta = (mel_high - mel_low) / (num_bins + 1)
    bins = torch.arange(num_bins, dtype=torch.float64).unsqueeze(1)
    left = mel_low + bins * delta
    center = mel_low + (bins + 1.0) * delta
    right = mel_low + (bins + 2.0) * delta
    fft_bin_width = sample_rate / n_fft
    mel = mel_scale(fft_bin_width * torch.arange(n_fft // 2, dtype=torch.float64)).unsqueeze(0)
    up_slope = (mel - left) / (center - left)
    down_slope = (right - mel) / (right - center)
    return torch.clamp(torch.minimum(up_slope, down_slope), min=0.0).to(dtype)
