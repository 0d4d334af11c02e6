"""Band-limited resampling by a rational factor in torch, through the FFT (overlap-save).

The filter is a Kaiser-windowed sinc low-pass below the lower Nyquist frequency, applied in the frequency
domain on overlapping blocks of a fixed FFT length, whose spectra are cut or zero-extended to the new rate
and transformed back; the blocks' exact middles are joined. The result is the filter's linear convolution
to float rounding. The ONNX export of an integer upsampler applies the same filter as a polyphase
convolution (:meth:`Resample.forward_polyphase`), its kernel cut to ``±1.5 · half_width`` zero crossings
(the dropped tail below 2e-7 of the peak).
"""

from __future__ import annotations

import math

import torch

from ...utils.shipping import shipped_when
from .buffers import DerivedBuffers
from .kernel_choice import runs_export_path, runs_plain_path

__all__ = ["Resample", "fft_length"]

MIN_BLOCK = 4096
"""Shortest FFT block, in input samples: the blocks' overlap is then about 6 % of the work, and a
block's transforms stay in cache (4096 was about 15 % faster than 8192 and 20–30 % faster than
longer blocks for 32 × 8 s at 16 → 32 kHz on the development VM)."""


POLYPHASE_OUTPUT_ROW = 32
"""Output samples per row of the polyphase convolution (input rows of ``32 / up`` samples)."""
POLYPHASE_TAIL = 1.5
"""The polyphase kernel's half-length, in the filter's ``half_width`` (zero crossings)."""


def _kaiser_sinc(up: int, down: int, half_width: int, beta: float, rolloff: float) -> torch.Tensor:
    """Low-pass FIR at ``rolloff · 0.5 / max(up, down)`` of the upsampled rate, unit DC gain, centred,
    in float64."""
    cutoff = 0.5 / max(up, down) * rolloff
    taps = 2 * half_width * max(up, down) + 1
    time = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    window = torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return 2 * cutoff * torch.sinc(2 * cutoff * time) * window


def fft_length(minimum: int, multiple: int = 1) -> int:
    """The smallest ``n >= minimum`` that is a multiple of ``multiple`` and has no prime factor above 5
    once ``multiple`` is divided out (FFT libraries are fastest on such lengths)."""
    if minimum < 1 or multiple < 1:
        raise ValueError(f"need positive sizes, got minimum={minimum}, multiple={multiple}")
    target = -(-minimum // multiple)
    best = 1 << (target - 1).bit_length()  # a power of two always qualifies
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35 << max(0, (math.ceil(target / power35) - 1).bit_length())
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best * multiple


@shipped_when("resample")
class Resample(DerivedBuffers):
    """Resample ``[batch, samples]`` from ``orig_rate`` to ``new_rate``; output length ``ceil(n·up/down)``."""

    response: torch.Tensor
    polyphase: torch.Tensor

    def __init__(
        self, orig_rate: int, new_rate: int, half_width: int = 128, beta: float = 8.6, rolloff: float = 0.97
    ) -> None:
        super().__init__()
        if orig_rate <= 0 or new_rate <= 0:
            raise ValueError(f"rates must be positive, got {orig_rate} and {new_rate}")
        divisor = math.gcd(orig_rate, new_rate)
        self.orig_rate, self.new_rate = orig_rate, new_rate
        self.up, self.down = new_rate // divisor, orig_rate // divisor
        self.half_width, self.beta, self.rolloff = half_width, beta, rolloff
        # each block overlaps its neighbours by the filter's half-length (in input samples) on both
        # sides, rounded up to a multiple of ``down`` so that it maps to whole output samples
        half_length = -(-half_width * max(self.up, self.down) // self.up)
        self.overlap = -(-half_length // self.down) * self.down
        self.block = fft_length(max(MIN_BLOCK, 8 * self.overlap), self.down)
        self.step = self.block - 2 * self.overlap  # input samples each block contributes
        # polyphase path (integer upsampling): input rows of ``row`` samples give rows of ``row · up``;
        # the kernel reaches ``reach`` input rows either side
        self.row = max(1, POLYPHASE_OUTPUT_ROW // self.up)
        self.kernel_half_length = round(POLYPHASE_TAIL * half_width * self.up)  # in output samples
        self.reach = -(-self.kernel_half_length // (self.up * self.row))
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        """``response``: the filter's gain at the bins a block keeps (``min(block, out block) // 2 + 1``),
        times ``up / down`` (the inverse FFT's longer length divides by it)."""
        response = self._response()
        return {"response": response.float(), "polyphase": self._polyphase(response).float()}

    def _polyphase(self, response: torch.Tensor) -> torch.Tensor:
        """``kernel[u, r, t]``: the weight of input sample ``row · (q + t - reach) + r`` in output sample
        ``row · up · q + u``, read from the FFT path's impulse response."""
        if self.down != 1 or self.up == 1:
            return torch.zeros(0, dtype=torch.float64)
        impulse = torch.fft.irfft(response, n=self.out_block)  # circular, centred at 0
        u = torch.arange(self.row * self.up)[:, None, None]
        r = torch.arange(self.row)[None, :, None]
        t = torch.arange(2 * self.reach + 1)[None, None, :]
        lag = u - self.up * (self.row * (t - self.reach) + r)
        kernel = impulse[lag % self.out_block]
        return torch.where(lag.abs() <= self.kernel_half_length, kernel, torch.zeros_like(kernel))

    def _response(self) -> torch.Tensor:
        """The kernel, centred at time 0, through an FFT at the upsampled rate (``block · up`` points),
        read at the block's bins, scaled to exactly ``up / down`` at DC."""
        if self.up == self.down == 1:
            return torch.ones(1, dtype=torch.float64)
        kernel = _kaiser_sinc(self.up, self.down, self.half_width, self.beta, self.rolloff)
        centre = (kernel.shape[0] - 1) // 2
        circular = kernel.new_zeros(self.block * self.up)
        circular[: centre + 1] = kernel[centre:]
        circular[circular.shape[0] - centre :] = kernel[:centre]
        bins = min(self.block, self.out_block) // 2 + 1
        response = torch.fft.rfft(circular).real[:bins]
        return response / response[0] * (self.up / self.down)

    @property
    def out_block(self) -> int:
        """Output samples of one block's inverse FFT."""
        return self.block * self.up // self.down

    def output_length(self, num_samples: int) -> int:
        """Samples out for ``num_samples`` in: ``ceil(num_samples · up / down)``."""
        return -(-num_samples * self.up // self.down)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if self.up == self.down == 1:
            return waveforms
        if self.polyphase.numel() and runs_export_path():
            return self.forward_polyphase(waveforms)
        batch, length = waveforms.shape
        blocks = (length + self.step - 1) // self.step
        dtype = torch.float64 if waveforms.dtype == torch.float64 else torch.float32
        padded = torch.nn.functional.pad(
            waveforms.to(dtype), (self.overlap, blocks * self.step - length + self.overlap)
        )
        framed = padded.unfold(-1, self.block, self.step)  # [batch, blocks, block]
        # real and imaginary parts as a trailing pair: the ONNX exporter pads and slices real tensors only
        spectrum = torch.view_as_real(torch.fft.rfft(framed))
        response = self.response.to(dtype).unsqueeze(-1)
        bins, out_bins = response.shape[0], self.out_block // 2 + 1
        if bins == out_bins:  # downsampling: the new rate's bins, cut from the old
            shaped = spectrum[..., :bins, :] * response
        elif runs_plain_path(waveforms):  # upsampling (gradients, export): the old bins, zero-padded
            shaped = torch.nn.functional.pad(spectrum * response, (0, 0, 0, out_bins - bins))
        else:  # upsampling, CPU inference: the same, written into zeros (one pass less)
            shaped = spectrum.new_zeros(*spectrum.shape[:-2], out_bins, 2)
            torch.mul(spectrum, response, out=shaped[..., :bins, :])
        resampled = torch.fft.irfft(torch.view_as_complex(shaped), n=self.out_block)
        start = self.overlap * self.up // self.down
        middles = resampled[..., start : start + self.step * self.up // self.down]
        return middles.reshape(batch, -1)[:, : self.output_length(length)]

    def forward_polyphase(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The export's path for integer upsampling: one ``conv1d`` over rows of ``row`` samples."""
        if not self.polyphase.numel():
            raise ValueError(
                f"the polyphase path needs integer upsampling, not {self.orig_rate} → {self.new_rate} Hz"
            )
        batch, length = waveforms.shape
        dtype = torch.float64 if waveforms.dtype == torch.float64 else torch.float32
        margin = self.reach * self.row
        padded = torch.nn.functional.pad(waveforms.to(dtype), (margin, margin + (-length) % self.row))
        count = (length + (-length) % self.row) // self.row + 2 * self.reach
        rows = padded.reshape(batch, count, self.row).transpose(1, 2)  # [batch, row, rows]
        out = torch.nn.functional.conv1d(rows, self.polyphase.to(dtype))  # [batch, row · up, rows]
        blocks = count - 2 * self.reach
        return out.transpose(1, 2).reshape(batch, blocks * self.row * self.up)[
            :, : self.output_length(length)
        ]

    def extra_repr(self) -> str:
        return f"orig_rate={self.orig_rate}, new_rate={self.new_rate}, up={self.up}, down={self.down}"
