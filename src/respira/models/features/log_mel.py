"""Log-mel spectrogram for the small CNN (64 bands, 1024-point FFT, hop 256 at 16 kHz)."""

from __future__ import annotations

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank

from .buffers import DerivedBuffers


class LogMelSpectrogram(DerivedBuffers):
    """``[batch, samples]`` → ``[batch, frames, n_mels]`` with ``log(mel power + eps)``.

    Centred STFT with a periodic Hann window and Slaney-normalised mel filters, the librosa
    defaults used by the contrastive-embedding paper's 64 × 320 input (320 frames of hop 256 ≈
    5.1 s at 16 kHz).
    """

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_mels: int = 64,
        n_fft: int = 1024,
        hop_length: int = 256,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.eps = n_fft, hop_length, eps
        self.sampling_rate, self.n_mels = sampling_rate, n_mels
        self.f_min, self.f_max = f_min, f_max if f_max is not None else sampling_rate / 2
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        banks = mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=self.n_mels,
            min_frequency=self.f_min,
            max_frequency=self.f_max,
            sampling_rate=self.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        return {
            "mel_banks": torch.from_numpy(banks.astype(np.float32)),
            "window": torch.hann_window(self.n_fft),
        }

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames of the centred STFT for signals of ``num_samples`` samples."""
        if isinstance(num_samples, torch.Tensor):
            return torch.div(num_samples, self.hop_length, rounding_mode="floor") + 1
        return num_samples // self.hop_length + 1

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            waveforms.to(self.window.dtype),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode="reflect" if waveforms.shape[-1] > self.n_fft // 2 else "constant",
            return_complex=True,
        )
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.matmul(power.transpose(1, 2), self.mel_banks).add_(self.eps).log_()
