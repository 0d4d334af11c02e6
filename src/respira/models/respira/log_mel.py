"""Log-mel spectrogram for the small CNN (64 bands, 1024-point FFT, hop 256 at 16 kHz)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from .derived_buffers import DerivedBuffers
from .frame_dft import FramePowerSpectrum
from .kernel_choice import Band, kernel_or_export, plan_bands, power_mel


class LogMelSpectrogram(DerivedBuffers):
    """``[batch, samples]`` → ``[batch, frames, n_mels]`` with ``log(mel power + eps)``."""

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
        self.max_frames_per_chunk = 512  # keeps each chunk's intermediates in cache
        with torch.device("cpu"):  # models may be built on the meta device; the plan needs values
            banks = self._mel_banks()
            self.bands: tuple[Band, ...] = plan_bands(banks)
            used_bins = int(torch.nonzero(banks.any(dim=1)).max()) + 1
        self.power_spectrum = FramePowerSpectrum(
            self.n_fft, self.hop_length, self.n_fft, periodic=True, bins=min(used_bins, self.n_fft // 2)
        )

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        banks = self._mel_banks()
        return {"window": torch.hann_window(self.n_fft), "mel_banks": banks}

    def _mel_banks(self) -> torch.Tensor:
        """Slaney mel filters ``[n_fft // 2 + 1, n_mels]``."""
        banks = mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=self.n_mels,
            min_frequency=self.f_min,
            max_frequency=self.f_max,
            sampling_rate=self.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        return torch.from_numpy(banks.astype(np.float32))

    @property
    def frame_timing(self) -> tuple[float, float]:
        """``(hop, centre of frame 0)`` in seconds."""
        return self.hop_length / self.sampling_rate, 0.0

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames of the centred STFT for signals of ``num_samples`` samples."""
        return num_samples // self.hop_length + 1

    def forward(self, waveforms: torch.Tensor, *, plain: bool | None = None) -> torch.Tensor:
        """Features of ``waveforms`` ``[batch, samples]``."""
        waveforms = waveforms.to(self.window.dtype)
        return kernel_or_export(self, waveforms, plain)(waveforms)

    def _pad_mode(self, samples: int) -> str:
        """Reflect padding needs more than ``n_fft // 2`` samples; shorter signals are zero-padded."""
        return "reflect" if samples > self.n_fft // 2 else "constant"

    def forward_plain(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``torch.stft`` + power + dense mel product + log (differentiable, ``torch.export``-able)."""
        spectrum = torch.stft(
            waveforms,
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode=self._pad_mode(waveforms.shape[1]),
            return_complex=True,
        )
        power = torch.view_as_real(spectrum).pow(2).sum(dim=-1)  # [batch, bins, frames]
        return (power.transpose(1, 2) @ self.mel_banks + self.eps).log()

    def forward_export(self, waveforms: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_plain` as the ONNX export traces it (:class:`.frame_dft.FramePowerSpectrum`)."""
        half = self.n_fft // 2
        mode = self._pad_mode(waveforms.shape[1])
        padded = nn.functional.pad(waveforms.unsqueeze(1), (half, half), mode=mode).squeeze(1)
        power = self.power_spectrum(padded)  # [batch, bins used, frames]
        return (power.transpose(1, 2) @ self.mel_banks[: power.shape[1]] + self.eps).log()

    def _forward_kernel(self, waveforms: torch.Tensor) -> torch.Tensor:
        batch, samples = waveforms.shape
        half = self.n_fft // 2
        padded = nn.functional.pad(waveforms.unsqueeze(1), (half, half), mode=self._pad_mode(samples))
        padded = padded.squeeze(1)
        frames = int(self.frames_for(samples))
        log_mel = waveforms.new_empty(batch, frames, self.n_mels)
        rows = min(batch, max(1, self.max_frames_per_chunk // frames))
        windowed = waveforms.new_empty(rows, frames, self.n_fft)
        power = waveforms.new_empty(rows, frames, self.n_fft // 2 + 1)
        for start in range(0, batch, rows):
            count = min(rows, batch - start)
            framed = padded[start : start + count].unfold(1, self.n_fft, self.hop_length)
            torch.mul(framed, self.window, out=windowed[:count])
            out = log_mel[start : start + count]
            power_mel(windowed[:count], self.n_fft, self.mel_banks, self.bands, out, power[:count])
        return log_mel.add_(self.eps).log_()
