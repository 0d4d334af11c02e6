"""The mel front ends in torch: Kaldi filter banks (AST, BEATs), the CNN's log-mel and EfficientAT's mel.

Batched, Kaldi-compatible log-mel filter banks in torch (the AST and BEATs input features).

Reproduces Kaldi's ``compute-fbank-feats`` (as ``torchaudio.compliance.kaldi.fbank``) for AST's and BEATs'
options. :meth:`KaldiFbank.forward_plain` is the recipe in plain torch ops; the inference kernel is exact:
pre-emphasis runs once over the signal (each frame corrected by ``(1 - p)·mean``), the squared real and
imaginary parts meet mel banks stored twice per row, band by band, with scale and mean folded in.

Log-mel spectrogram for the small CNN (64 bands, 1024-point FFT, hop 256 at 16 kHz).

The log-mel front end of EfficientAT (its ``AugmentMelSTFT`` in eval mode), batched, in plain torch.

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
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from .spectrum import (
    Band,
    DerivedBuffers,
    FramePowerSpectrum,
    banded_matmul,
    kernel_or_export,
    plan_bands,
    power_mel,
)

_FLOAT32_EPSILON = torch.finfo(torch.float32).eps


@dataclass(frozen=True)
class FbankNormalization:
    """How a checkpoint expects its fbank scaled: ``(fbank(x · waveform_scale) - mean) / (2 · std)``."""

    mean: float
    std: float
    waveform_scale: float = 1.0


AST_NORMALIZATION = FbankNormalization(mean=-4.2677393, std=4.5689974)
BEATS_NORMALIZATION = FbankNormalization(mean=15.41663, std=6.55582, waveform_scale=2.0**15)  # int16 range


def kaldi_mel_banks(
    num_bins: int, n_fft: int, rate: float, low: float, high: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Kaldi's triangular mel banks ``[num_bins, n_fft // 2 + 1]`` (zero at the Nyquist bin, as Kaldi)."""
    with warnings.catch_warnings():  # of triangles between two FFT bins, which Kaldi keeps too
        warnings.simplefilter("ignore")
        banks = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=num_bins,
            min_frequency=low,
            max_frequency=high,
            sampling_rate=rate,
            mel_scale="kaldi",
            triangularize_in_mel_space=True,
        )
    banks[-1] = 0.0
    return torch.from_numpy(banks.T).to(torch.get_default_device(), dtype)


class KaldiFbank(DerivedBuffers):
    """Log-mel filter banks ``[batch, frames, num_mel_bins]`` of waveforms ``[batch, samples]``, with a
    ``"hanning"`` (AST) or ``"povey"`` (BEATs) window and the checkpoint's ``normalization``."""

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        window: Literal["povey", "hanning"] = "hanning",
        normalization: FbankNormalization | None = None,
    ) -> None:
        super().__init__()
        self.sampling_rate, self.num_mel_bins, self.window_type = sampling_rate, num_mel_bins, window
        self.frame_length, self.frame_shift = round(sampling_rate * 0.025), round(sampling_rate * 0.01)
        self.n_fft = 1 << (self.frame_length - 1).bit_length()
        # no normalization: (fbank - 0) / (2 · 0.5), the fbank itself
        self.preemphasis = 0.97
        self._normalization = normalization or FbankNormalization(mean=0.0, std=0.5)
        self.register_derived_buffers()
        self.max_frames_per_chunk = 1024  # keeps each chunk's intermediates in cache
        with torch.device("cpu"):  # models may be built on the meta device; the plan needs values
            self.bands: tuple[Band, ...] = plan_bands(self._kernel_mel_banks())

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        return {
            "window": self._window(),
            "mel_banks": self._mel_banks().T.to(torch.float32).contiguous(),
            "kernel_mel_banks": self._kernel_mel_banks(),
        }

    def _window(self) -> torch.Tensor:
        if self.window_type == "povey":
            return torch.hann_window(self.frame_length, periodic=False, dtype=torch.float64).pow(0.85).float()
        return torch.hann_window(self.frame_length, periodic=False)

    def _mel_banks(self) -> torch.Tensor:
        """Kaldi's banks ``[num_mel_bins, n_fft // 2 + 1]`` in float64."""
        rate = self.sampling_rate
        return kaldi_mel_banks(self.num_mel_bins, self.n_fft, rate, 20.0, rate / 2, dtype=torch.float64)

    def _kernel_mel_banks(self) -> torch.Tensor:
        """Each row twice, so that ``parts @ banks`` sums Re² + Im² of the interleaved FFT output."""
        # log(max(P·B·e^-mean, eps·e^-mean)) = log(max(P·B, eps)) - mean: the kernel only divides
        norm = self.normalization
        banks = self._mel_banks() * (norm.waveform_scale**2 * math.exp(-norm.mean))
        return banks.T.repeat_interleave(2, dim=0).to(torch.float32).contiguous()

    @property
    def normalization(self) -> FbankNormalization:
        """The checkpoint statistics (read-only: the kernel folds them into its banks)."""
        return self._normalization

    @property
    def frame_timing(self) -> tuple[float, float]:
        """``(hop, centre of frame 0)`` in seconds."""
        return self.frame_shift / self.sampling_rate, (self.frame_length - 1) / 2 / self.sampling_rate

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Number of feature frames for signals of ``num_samples`` samples."""
        if isinstance(num_samples, torch.Tensor):
            frames = torch.div(num_samples - self.frame_length, self.frame_shift, rounding_mode="floor") + 1
            return frames.clamp_min(0)
        return max(0, (num_samples - self.frame_length) // self.frame_shift + 1)

    def forward(self, waveforms: torch.Tensor, *, plain: bool | None = None) -> torch.Tensor:
        """Features of ``waveforms`` ``[batch, samples]``."""
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms of shape [batch, samples], got {tuple(waveforms.shape)}")
        if waveforms.shape[1] < self.frame_length:
            raise ValueError(
                f"waveforms of {waveforms.shape[1]} samples are shorter than one "
                f"{self.frame_length}-sample frame"
            )
        waveforms = waveforms.to(self.window.dtype)
        return kernel_or_export(self, waveforms, plain)(waveforms)

    def forward_plain(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Kaldi's recipe in plain torch ops (differentiable, ``torch.export``-able)."""
        norm = self.normalization
        if norm.waveform_scale != 1.0:
            waveforms = waveforms * norm.waveform_scale
        frames = waveforms.unfold(1, self.frame_length, self.frame_shift)  # snip_edges framing
        frames = frames - frames.mean(dim=-1, keepdim=True)
        p = self.preemphasis  # each frame's first sample is pre-emphasised against itself
        frames = torch.cat([frames[..., :1] * (1 - p), frames[..., 1:] - p * frames[..., :-1]], dim=-1)
        spectrum = torch.fft.rfft(frames * self.window, n=self.n_fft)
        power = torch.view_as_real(spectrum).pow(2).sum(dim=-1)
        fbank = (power @ self.mel_banks).clamp_min(_FLOAT32_EPSILON).log()
        return (fbank - norm.mean) / (2.0 * norm.std)

    def _forward_kernel(self, waveforms: torch.Tensor) -> torch.Tensor:
        frames = int(self.frames_for(waveforms.shape[1]))
        floor = _FLOAT32_EPSILON * math.exp(-self.normalization.mean)
        fbank = self._mel_power(waveforms, frames).clamp_min_(floor).log_()
        return fbank.mul_(0.5 / self.normalization.std)

    def _mel_power(self, waveforms: torch.Tensor, frames: int) -> torch.Tensor:
        """Mel band energies ``[batch, frames, bins]`` (scaled as the banks are), chunk by chunk."""
        batch, samples = waveforms.shape
        length, n_fft, p = self.frame_length, self.n_fft, self.preemphasis
        banks = self.kernel_mel_banks
        mel_power = waveforms.new_empty(batch, frames, banks.shape[1])
        dc_terms = self._dc_terms(waveforms, frames)
        window = nn.functional.pad(self.window, (0, n_fft - length))  # frames are n_fft samples long
        # chunks stay in cache from framing to mel bands and reuse one pair of buffers
        rows = min(batch, max(1, self.max_frames_per_chunk // frames))
        emphasised = waveforms.new_empty(rows, samples + n_fft - length)
        emphasised[:, samples:] = 0  # zero-padding of the last frames to n_fft
        windowed = waveforms.new_empty(rows, frames, n_fft)
        for start in range(0, batch, rows):
            chunk = waveforms[start : start + rows]
            count = chunk.shape[0]
            torch.mul(chunk[:, :1], 1 - p, out=emphasised[:count, :1])
            torch.sub(chunk[:, 1:], chunk[:, :-1], alpha=p, out=emphasised[:count, 1:samples])
            framed = emphasised[:count].unfold(1, n_fft, self.frame_shift)[:, :frames]
            torch.mul(framed, window, out=windowed[:count])
            windowed[:count].addcmul_(dc_terms[start : start + count], window)
            spectrum = torch.fft.rfft(windowed[:count], n=n_fft)
            parts = torch.view_as_real(spectrum).flatten(-2)  # Re, Im interleaved
            banded_matmul(parts.mul_(parts), banks, self.bands, out=mel_power[start : start + count])
        return mel_power

    def _dc_terms(self, waveforms: torch.Tensor, frames: int) -> torch.Tensor:
        """Kaldi removes each frame's mean m before pre-emphasis: ``(1 - p)·m`` after it."""
        block = math.gcd(self.frame_length, self.frame_shift)
        batch, samples = waveforms.shape
        block_sums = waveforms[:, : samples // block * block].reshape(batch, -1, block).sum(-1)
        frame_sums = block_sums.unfold(1, self.frame_length // block, self.frame_shift // block)
        means = frame_sums[:, :frames].sum(-1) / self.frame_length
        return (means * (self.preemphasis - 1)).unsqueeze(-1)


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
