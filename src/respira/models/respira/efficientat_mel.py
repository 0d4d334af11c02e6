"""The log-mel front end of EfficientAT (its ``AugmentMelSTFT`` in eval mode), batched, in plain torch.

For 32 kHz waveforms ``[B, samples]`` it computes ``[B, frames, n_mels]``:

1. pre-emphasis ``y[n] = x[n + 1] - 0.97 · x[n]`` (one sample shorter than the input);
2. ``torch.stft`` with ``n_fft`` 1024, a symmetric Hann window of 800 samples (zero-padded to
   ``n_fft`` by ``torch.stft``), hop 320, centred (reflect padding); ``frames = 1 + (samples - 1) // hop``;
3. the power spectrum ``re² + im²``;
4. Kaldi-style triangular mel banks (128 bins, 0 Hz to 15 kHz) padded with one zero column for the
   Nyquist bin, applied as a matrix product;
5. ``log(x + 1e-5)`` and the "fast normalisation" ``(x + 4.5) / 5``.

Training-time masking and mel-range jitter are left out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .derived_buffers import DerivedBuffers
from .frame_dft import FramePowerSpectrum
from .kaldi_fbank import kaldi_mel_banks
from .kernel_choice import Band, kernel_or_export, plan_bands, power_mel


class EfficientATMel(DerivedBuffers):
    """EfficientAT's eval-mode log-mel spectrogram: 32 kHz ``[B, samples]`` → ``[B, frames, 128]``."""

    window: torch.Tensor
    mel_banks: torch.Tensor
    kernel_mel_banks: torch.Tensor
    sampling_rate, n_mels, n_fft, win_length, hop_length = 32000, 128, 1024, 800, 320
    f_min, f_max, preemphasis, log_offset, mel_shift, mel_scale = 0.0, 15000.0, 0.97, 1e-5, 4.5, 5.0

    def __init__(self) -> None:
        super().__init__()
        self.register_derived_buffers()
        self.max_frames_per_chunk = 512  # keeps each chunk's intermediates in cache
        with torch.device("cpu"):  # models may be built on the meta device; the plan needs values
            banks = self._mel_banks()
            self.bands: tuple[Band, ...] = plan_bands(banks.T)
            used_bins = int(torch.nonzero(banks.any(dim=0)).max()) + 1
        self.power_spectrum = FramePowerSpectrum(
            self.n_fft, self.hop_length, self.win_length, periodic=False, bins=min(used_bins, self.n_fft // 2)
        )

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        banks = self._mel_banks()
        return {
            "window": torch.hann_window(self.win_length, periodic=False, dtype=torch.float32),
            "mel_banks": banks,
            # the kernel's banks: transposed, times e^mel_shift so that the log adds the shift
            "kernel_mel_banks": (banks.T.double() * math.exp(self.mel_shift)).float().contiguous(),
        }

    def _mel_banks(self) -> torch.Tensor:
        return kaldi_mel_banks(self.n_mels, self.n_fft, self.sampling_rate, self.f_min, self.f_max)

    @property
    def frame_timing(self) -> tuple[float, float]:
        """``(hop, centre of frame 0)`` in seconds."""
        return self.hop_length / self.sampling_rate, 0.0

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames produced for a waveform of ``num_samples`` samples (pre-emphasis drops one)."""
        return (num_samples - 1) // self.hop_length + 1

    def forward(self, waveforms: torch.Tensor, *, plain: bool | None = None) -> torch.Tensor:
        """Log-mels ``[B, frames, n_mels]`` of ``waveforms`` ``[B, samples]``."""
        min_samples = self.n_fft // 2 + 2  # reflect padding needs more than n_fft // 2 after pre-emphasis
        if waveforms.shape[-1] < min_samples:
            raise ValueError(f"EfficientATMel needs {min_samples} samples or more, got {waveforms.shape[-1]}")
        x = waveforms.to(self.window.dtype)
        return kernel_or_export(self, x, plain)(x)

    def _emphasised(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 1:] - self.preemphasis * x[:, :-1]

    def forward_plain(self, x: torch.Tensor) -> torch.Tensor:
        """The steps of the module docstring in plain torch ops (differentiable, ``torch.export``-able)."""
        spec = torch.stft(
            self._emphasised(x),
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
        power = spec.real.square() + spec.imag.square()  # [B, n_fft // 2 + 1, frames]
        mel = torch.matmul(self.mel_banks.to(device=x.device, dtype=x.dtype), power)
        return ((torch.log(mel + self.log_offset) + self.mel_shift) / self.mel_scale).transpose(1, 2)

    def forward_export(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_plain` as the ONNX export traces it (:class:`.frame_dft.FramePowerSpectrum`)."""
        half = self.n_fft // 2
        padded = nn.functional.pad(self._emphasised(x).unsqueeze(1), (half, half), mode="reflect").squeeze(1)
        power = self.power_spectrum(padded)  # [B, bins used, frames]
        banks = self.mel_banks[:, : power.shape[1]].to(device=x.device, dtype=x.dtype)
        mel = torch.log(torch.matmul(banks, power) + self.log_offset)
        return ((mel + self.mel_shift) / self.mel_scale).transpose(1, 2)

    def _forward_kernel(self, x: torch.Tensor) -> torch.Tensor:
        batch, samples = x.shape
        half, offset = self.n_fft // 2, (self.n_fft - self.win_length) // 2
        emphasised = samples - 1
        frames = int(self.frames_for(samples))
        mel = x.new_empty(batch, frames, self.n_mels)
        rows = min(batch, max(1, self.max_frames_per_chunk // frames))
        padded = x.new_empty(rows, emphasised + 2 * half)
        windowed = x.new_zeros(rows, frames, self.n_fft)  # the zero tail of each frame stays zero
        power = x.new_empty(rows, frames, self.n_fft // 2 + 1)
        for start in range(0, batch, rows):
            count = min(rows, batch - start)
            chunk, signal = x[start : start + count], padded[:count]
            # pre-emphasis straight into the middle of the padded buffer, then torch.stft's reflect padding
            torch.sub(
                chunk[:, 1:], chunk[:, :-1], alpha=self.preemphasis, out=signal[:, half : half + emphasised]
            )
            signal[:, :half] = signal[:, half + 1 : 2 * half + 1].flip(-1)
            signal[:, half + emphasised :] = signal[:, emphasised - 1 : emphasised - 1 + half].flip(-1)
            # torch.stft centres the window in each n_fft-sample frame: its samples start at ``offset``
            framed = signal[:, offset:].unfold(1, self.win_length, self.hop_length)[:, :frames]
            torch.mul(framed, self.window, out=windowed[:count, :, : self.win_length])
            out = mel[start : start + count]
            power_mel(windowed[:count], self.n_fft, self.kernel_mel_banks, self.bands, out, power[:count])
            # the banks carry the factor e^shift: log(e^shift · (power + offset)) = log(...) + shift
            out.add_(self.log_offset * math.exp(self.mel_shift)).log_().div_(self.mel_scale)
        return mel
