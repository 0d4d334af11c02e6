"""The log-mel front end of EfficientAT (its ``AugmentMelSTFT`` in eval mode), batched, in plain torch.

For 32 kHz waveforms ``[B, samples]`` it computes ``[B, n_mels, frames]``:

1. pre-emphasis ``y[n] = x[n + 1] - 0.97 · x[n]`` (one sample shorter than the input);
2. ``torch.stft`` with ``n_fft`` 1024, a symmetric Hann window of 800 samples (zero-padded to
   ``n_fft`` by ``torch.stft``), hop 320, centred (reflect padding); ``frames = 1 + (samples - 1) // hop``;
3. the power spectrum ``re² + im²``;
4. Kaldi-style triangular mel banks (128 bins, 0 Hz to 15 kHz) padded with one zero column for the
   Nyquist bin, applied as a matrix product;
5. ``log(x + 1e-5)`` and the "fast normalisation" ``(x + 4.5) / 5``.

The random frequency/time masking and mel-range jitter EfficientAT applies while training are left
out: this module always behaves as the original does in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from .buffers import DerivedBuffers
from .mel_banks import kaldi_mel_banks

__all__ = ["EfficientATMel"]


class EfficientATMel(DerivedBuffers):
    """EfficientAT's eval-mode log-mel spectrogram: waveform ``[B, samples]`` → ``[B, n_mels, frames]``.

    A 1-D waveform ``[samples]`` gives ``[n_mels, frames]``. The computation runs in float32 on the
    input's device whatever the input dtype (the original disables autocast for it as well).
    """

    window: torch.Tensor
    mel_banks: torch.Tensor

    def __init__(
        self,
        *,
        sampling_rate: int = 32000,
        n_mels: int = 128,
        n_fft: int = 1024,
        win_length: int = 800,
        hop_length: int = 320,
        f_min: float = 0.0,
        f_max: float = 15000.0,
        preemphasis: float = 0.97,
        log_offset: float = 1e-5,
        mel_shift: float = 4.5,
        mel_scale: float = 5.0,
    ) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
        if hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        if mel_scale == 0:
            raise ValueError("mel_scale must not be 0")
        self.sampling_rate = sampling_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.preemphasis = float(preemphasis)
        self.log_offset = float(log_offset)
        self.mel_shift = float(mel_shift)
        self.mel_scale = float(mel_scale)
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        """The analysis window ``[win_length]`` and the padded mel banks ``[n_mels, n_fft // 2 + 1]``."""
        window = torch.hann_window(self.win_length, periodic=False, dtype=torch.float32)
        banks = kaldi_mel_banks(self.n_mels, self.n_fft, self.sampling_rate, self.f_min, self.f_max)
        banks = nn.functional.pad(banks, (0, 1), value=0.0)  # zero weight for the Nyquist bin
        return {"window": window, "mel_banks": banks}

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames produced for a waveform of ``num_samples`` samples (pre-emphasis drops one)."""
        if isinstance(num_samples, torch.Tensor):
            return torch.div(num_samples - 1, self.hop_length, rounding_mode="floor") + 1
        return 1 + (num_samples - 1) // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        unbatched = waveform.dim() == 1
        if unbatched:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2:
            raise ValueError(
                "EfficientATMel expects a waveform [batch, samples] (or [samples]), "
                f"got shape {tuple(waveform.shape)}"
            )
        min_samples = (
            self.n_fft // 2 + 2
        )  # reflect padding needs more than n_fft // 2 samples after pre-emphasis
        if waveform.shape[-1] < min_samples:
            raise ValueError(f"EfficientATMel needs at least {min_samples} samples, got {waveform.shape[-1]}")
        x = waveform.to(torch.float32)
        x = x[:, 1:] - self.preemphasis * x[:, :-1]
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(device=x.device, dtype=x.dtype),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        power = torch.view_as_real(spec).pow(2).sum(dim=-1)  # [B, n_fft // 2 + 1, frames]
        mel = torch.matmul(self.mel_banks.to(device=x.device, dtype=x.dtype), power)
        mel = torch.log(mel + self.log_offset)
        mel = (mel + self.mel_shift) / self.mel_scale
        return mel.squeeze(0) if unbatched else mel

    def extra_repr(self) -> str:
        return (
            f"sampling_rate={self.sampling_rate}, n_mels={self.n_mels}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, "
            f"f_min={self.f_min}, f_max={self.f_max}"
        )
