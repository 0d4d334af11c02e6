"""Batched, Kaldi-compatible log-mel filter banks in torch (the AST and BEATs input features).

Reproduces Kaldi's ``compute-fbank-feats`` (as ``torchaudio.compliance.kaldi.fbank`` does) for the
options AST and BEATs use: 25 ms frames every 10 ms with ``snip_edges`` framing, per-frame DC
removal, pre-emphasis 0.97, a Povey or symmetric Hann window, zero-padding to a power of two, the
power spectrum, Kaldi mel banks from 20 Hz to Nyquist and ``log(max(x, float32 eps))``. Everything
runs on the input's device for a whole batch at once, with no Python loop over frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .buffers import DerivedBuffers
from .mel_banks import kaldi_mel_banks

WindowType = Literal["povey", "hanning", "hamming", "rectangular"]
_FLOAT32_EPSILON = torch.finfo(torch.float32).eps


@dataclass(frozen=True)
class FbankNormalization:
    """How a checkpoint expects its fbank scaled: ``(fbank(x · waveform_scale) - mean) / (2 · std)``."""

    mean: float
    std: float
    waveform_scale: float = 1.0


AST_NORMALIZATION = FbankNormalization(mean=-4.2677393, std=4.5689974)
"""AudioSet statistics of AST (``MIT/ast-finetuned-audioset-*``) on float waveforms."""
BEATS_NORMALIZATION = FbankNormalization(mean=15.41663, std=6.55582, waveform_scale=2.0**15)
"""BEATs statistics, computed on waveforms scaled to the int16 range."""


def frame_window(kind: WindowType, length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Kaldi's analysis windows (symmetric)."""
    if kind == "povey":
        return torch.hann_window(length, periodic=False, dtype=torch.float64).pow(0.85).to(dtype)
    if kind == "hanning":
        return torch.hann_window(length, periodic=False, dtype=dtype)
    if kind == "hamming":
        return torch.hamming_window(length, periodic=False, alpha=0.54, beta=0.46, dtype=dtype)
    if kind == "rectangular":
        return torch.ones(length, dtype=dtype)
    raise ValueError(f"unknown window type {kind!r}; use povey, hanning, hamming or rectangular")


def num_frames(num_samples: torch.Tensor | int, frame_length: int, frame_shift: int) -> torch.Tensor | int:
    """Frames Kaldi's ``snip_edges`` framing yields for a signal (0 when shorter than one frame)."""
    if isinstance(num_samples, torch.Tensor):
        return torch.where(
            num_samples >= frame_length,
            torch.div(num_samples - frame_length, frame_shift, rounding_mode="floor") + 1,
            torch.zeros_like(num_samples),
        )
    return 0 if num_samples < frame_length else (num_samples - frame_length) // frame_shift + 1


class KaldiFbank(DerivedBuffers):
    """Log-mel filter banks of a batch of waveforms ``[batch, samples]`` → ``[batch, frames, num_mel_bins]``.

    Args:
        sampling_rate: input rate in Hz.
        num_mel_bins: mel bands (128 for AST and BEATs).
        frame_length_ms / frame_shift_ms: 25 / 10 as in Kaldi.
        window: ``"hanning"`` (AST, as in ``ASTFeatureExtractor``) or ``"povey"`` (BEATs, Kaldi's default).
        preemphasis: pre-emphasis coefficient.
        low_freq / high_freq: mel range (``high_freq <= 0`` is an offset from Nyquist).
        normalization: optional checkpoint statistics applied after the log.
    """

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        window: WindowType = "hanning",
        preemphasis: float = 0.97,
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        normalization: FbankNormalization | None = None,
    ) -> None:
        super().__init__()
        self.sampling_rate = sampling_rate
        self.frame_length = round(sampling_rate * frame_length_ms / 1000)
        self.frame_shift = round(sampling_rate * frame_shift_ms / 1000)
        self.n_fft = 1 << (self.frame_length - 1).bit_length()
        self.preemphasis = preemphasis
        self.normalization = normalization
        self.window_type, self.num_mel_bins, self.low_freq, self.high_freq = (
            window,
            num_mel_bins,
            low_freq,
            high_freq,
        )
        self.max_frames_per_chunk = 4096  # keeps intermediates small enough for the allocator to reuse
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        banks = kaldi_mel_banks(
            self.num_mel_bins, self.n_fft, self.sampling_rate, self.low_freq, self.high_freq
        )
        banks = torch.nn.functional.pad(banks, (0, 1))  # Kaldi leaves the Nyquist bin out
        return {
            "window": frame_window(self.window_type, self.frame_length),
            # each row twice: the matmul then sums Re² + Im² (see _squared_spectrum_parts)
            "mel_banks": banks.T.repeat_interleave(2, dim=0).contiguous(),
        }

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Number of feature frames for signals of ``num_samples`` samples."""
        return num_frames(num_samples, self.frame_length, self.frame_shift)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms of shape [batch, samples], got {tuple(waveforms.shape)}")
        if waveforms.shape[1] < self.frame_length:
            raise ValueError(
                f"waveforms of {waveforms.shape[1]} samples are shorter than one "
                f"{self.frame_length}-sample frame"
            )
        waveforms = waveforms.to(self.window.dtype)
        if self.normalization is not None and self.normalization.waveform_scale != 1.0:
            waveforms = waveforms * self.normalization.waveform_scale
        frames = int(self.frames_for(waveforms.shape[1]))
        fbank = waveforms.new_empty(waveforms.shape[0], frames, self.mel_banks.shape[1])
        chunk = max(1, self.max_frames_per_chunk // frames)
        for start in range(0, waveforms.shape[0], chunk):
            squared_parts = self._squared_spectrum_parts(waveforms[start : start + chunk])
            log_mel = torch.matmul(squared_parts, self.mel_banks, out=fbank[start : start + chunk])
            log_mel.clamp_min_(_FLOAT32_EPSILON).log_()
        if self.normalization is not None:
            fbank.sub_(self.normalization.mean).div_(2.0 * self.normalization.std)
        return fbank

    def _squared_spectrum_parts(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Re² and Im² (interleaved) of the DFT of each DC-removed, pre-emphasised, windowed frame.

        The mel banks are stored with each row repeated, so ``parts @ banks`` sums Re² + Im² inside
        the matrix product instead of in a separate (slow, size-2) reduction.

        Kaldi removes each frame's mean ``m``, pre-emphasises within the frame (its first sample
        against itself) and windows. Since pre-emphasis is linear, the frame equals the globally
        pre-emphasised signal minus ``(1 - p)·m``, except its first sample; so the spectrum is
        ``DFT(w · (framed(pre-emphasised) - (1 - p)·m))`` plus a first-sample correction that
        vanishes for windows starting at 0 (Hann, Povey). Zero-padding to ``n_fft`` comes free from
        framing ``n_fft`` samples against a zero-padded window.
        """
        p = self.preemphasis
        length, shift, n_fft = self.frame_length, self.frame_shift, self.n_fft
        frames_count = (waveforms.shape[1] - length) // shift + 1
        emphasised = torch.cat([waveforms[:, :1] * (1 - p), waveforms[:, 1:] - p * waveforms[:, :-1]], dim=1)
        emphasised = nn.functional.pad(emphasised, (0, n_fft - length))
        frames = emphasised.unfold(1, n_fft, shift)[:, :frames_count]
        window = nn.functional.pad(self.window, (0, n_fft - length))
        means = nn.functional.avg_pool1d(waveforms.unsqueeze(1), length, shift).squeeze(1)[:, :frames_count]
        windowed = (frames * window).addcmul_(((p - 1) * means).unsqueeze(-1), window)
        spectrum = torch.fft.rfft(windowed, n=n_fft)
        if self.window[0] != 0 and p:
            starts = torch.arange(frames_count, device=waveforms.device) * shift
            before = waveforms[:, (starts - 1).clamp_min(0)]
            first = waveforms[:, starts]
            spectrum = spectrum + (self.window[0] * p * (before - first)).unsqueeze(-1)
        parts = torch.view_as_real(spectrum).flatten(-2)
        return parts.mul_(parts)
