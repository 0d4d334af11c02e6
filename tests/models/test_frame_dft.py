"""respira.models.respira.spectrum and the ONNX export paths of the featurizers: the same values as
torch.stft and the plain featurizer paths."""

from __future__ import annotations

import pytest
import torch

from respira.models.respira.filterbanks import EfficientATMel, LogMelSpectrogram
from respira.models.respira.spectrum import FramePowerSpectrum


@pytest.mark.parametrize(
    ("n_fft", "hop", "win_length", "periodic", "bins"),
    [(1024, 320, 800, False, 480), (1024, 256, 1024, True, 512), (256, 64, 200, True, 100)],
)
def test_power_spectrum_equals_torch_stft(
    n_fft: int, hop: int, win_length: int, periodic: bool, bins: int
) -> None:
    signal = torch.randn(3, 5 * n_fft + 77, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    module = FramePowerSpectrum(n_fft, hop, win_length, periodic=periodic, bins=bins).double()
    window = torch.hann_window(win_length, periodic=periodic, dtype=torch.float64)
    expected = (
        torch.stft(signal, n_fft, hop, win_length, window, center=False, return_complex=True).abs().square()
    )
    got = module(signal)
    assert module.bins_computed >= bins
    assert got.shape == (3, module.bins_computed, expected.shape[-1])
    # the kernels are stored in float32: relative to the largest power, 1e-5 holds with margin
    assert (got - expected[:, : module.bins_computed]).abs().max() <= 1e-5 * expected.max()


def test_power_spectrum_refuses_sizes_it_cannot_factor() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        FramePowerSpectrum(1000, 320, 800, periodic=False, bins=400)
    with pytest.raises(ValueError, match="bins"):
        FramePowerSpectrum(1024, 320, 800, periodic=False, bins=513)


@pytest.mark.parametrize("samples", [700, 81920])
def test_log_mel_export_path_equals_plain(samples: int) -> None:
    module = LogMelSpectrogram()
    waveforms = 0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(1))
    expected = module.forward_plain(waveforms)
    assert torch.allclose(module.forward_export(waveforms), expected, atol=1e-4, rtol=0)


def test_efficientat_mel_export_path_equals_plain() -> None:
    module = EfficientATMel()
    waveforms = 0.1 * torch.randn(2, 40000, generator=torch.Generator().manual_seed(2))
    expected = module.forward_plain(waveforms)
    assert torch.allclose(module.forward_export(waveforms), expected, atol=1e-4, rtol=0)
