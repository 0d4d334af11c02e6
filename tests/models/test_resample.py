"""respira.models.features.resample: the featurizer's FFT resampler against soxr, on a real ICBHI
cycle and a sine sweep, and its block-wise (overlap-save) computation against one long FFT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from respira.audio.dsp import resample as soxr_resample
from respira.models.features import resample as resample_module
from respira.models.features.resample import Resample, fft_length

EDGE_SECONDS = 0.02  # soxr and a zero-padded FIR differ at the very ends of a signal


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sweep(rate: int, seconds: float = 2.0, top: float = 0.45) -> np.ndarray:
    """A linear sine sweep from 50 Hz to ``top`` × ``rate`` (below Nyquist), amplitude 0.5."""
    t = np.arange(round(seconds * rate)) / rate
    end = top * rate
    return (0.5 * np.sin(2 * np.pi * (50 * t + (end - 50) / (2 * seconds) * t**2))).astype(np.float32)


def interior(signal: np.ndarray, rate: int) -> np.ndarray:
    edge = round(EDGE_SECONDS * rate)
    return signal[..., edge:-edge]


@pytest.fixture(scope="module")
def real_cycle_44k(shared_icbhi: Path) -> np.ndarray:
    """The first annotated cycle of the first 44.1 kHz recording of the sample, mono, as recorded."""
    for wav in sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav")):
        if sf.info(wav).samplerate == 44100:
            samples, rate = sf.read(wav, dtype="float32", always_2d=True)
            start, end = np.atleast_2d(np.loadtxt(wav.with_suffix(".txt")))[0, :2]
            return np.ascontiguousarray(samples.mean(axis=1)[int(start * rate) : int(end * rate)])
    pytest.skip("no 44.1 kHz recording in the sample")


@pytest.mark.real_data
@pytest.mark.parametrize(("orig", "new"), [(16000, 32000), (32000, 16000), (44100, 32000), (16000, 44100)])
def test_real_cycle_matches_soxr(real_cycle_44k: np.ndarray, orig: int, new: int) -> None:
    """A real cycle (its recording's 44.1 kHz content, brought to ``orig`` by soxr) resampled to ``new``
    agrees with soxr's own resampling to within 1e-3 of its peak, away from the ends."""
    signal = soxr_resample(real_cycle_44k, 44100, orig)
    ours = Resample(orig, new)(torch.from_numpy(signal)[None])[0].numpy()
    expected = soxr_resample(signal, orig, new)
    assert len(ours) == -(-len(signal) * new // orig)  # ceil; soxr rounds to the nearest
    common = min(len(ours), len(expected))
    peak = np.abs(expected).max()
    assert np.abs(interior(ours[:common] - expected[:common], new)).max() < 1e-3 * peak


@pytest.mark.parametrize(("orig", "new"), [(16000, 32000), (32000, 16000), (4000, 32000), (22050, 32000)])
def test_sweep_matches_soxr(orig: int, new: int) -> None:
    """A sweep up to 84 % of the lower Nyquist frequency: within 1e-3 of soxr (amplitude 0.5)."""
    signal = sweep(orig, top=0.42 * min(orig, new) / orig)
    ours = Resample(orig, new)(torch.from_numpy(signal)[None])[0].numpy()
    expected = soxr_resample(signal, orig, new)
    assert ours.shape == expected.shape
    assert np.abs(interior(ours - expected, new)).max() < 1e-3


def test_a_tone_is_simply_resampled_and_out_of_band_content_removed() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    t2 = np.arange(2 * rate) / (2 * rate)
    tone = torch.from_numpy(np.sin(2 * np.pi * 7000 * t).astype(np.float32))[None]  # 0.875 × Nyquist
    up = Resample(rate, 2 * rate)(tone)[0].numpy()
    assert np.abs(interior(up - np.sin(2 * np.pi * 7000 * t2), 2 * rate)).max() < 2e-3
    high = torch.from_numpy(np.sin(2 * np.pi * 12000 * t2).astype(np.float32))[None]  # above 8 kHz
    down = Resample(2 * rate, rate)(high)[0].numpy()
    assert np.abs(interior(down, rate)).max() < 1e-4  # > 80 dB down


def test_blocks_join_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overlap-save blocks give what one FFT over the whole signal gives (a signal several
    blocks long, with block boundaries at different places)."""
    signal = torch.randn(2, 30011, generator=torch.Generator().manual_seed(0))
    blocked = Resample(16000, 32000)
    assert blocked.step < signal.shape[1] // 3
    monkeypatch.setattr(resample_module, "MIN_BLOCK", 65536)
    whole = Resample(16000, 32000)
    assert whole.step > signal.shape[1]
    torch.testing.assert_close(blocked(signal), whole(signal), atol=2e-5, rtol=0)


def test_lengths_identity_and_batch_rows() -> None:
    x = torch.randn(3, 1001, generator=torch.Generator().manual_seed(1))
    assert Resample(16000, 16000)(x) is x
    assert Resample(16000, 32000)(x).shape == (3, 2002)
    assert Resample(32000, 16000)(x).shape == (3, 501)  # ceil(1001 / 2)
    assert Resample(44100, 16000)(x).shape == (3, 364)  # ceil(1001 · 160 / 441)
    assert Resample(16000, 32000)(x[:, :5]).shape == (3, 10)
    batch = Resample(16000, 32000)(x)
    torch.testing.assert_close(Resample(16000, 32000)(x[1:2]), batch[1:2])
    with pytest.raises(ValueError, match="positive"):
        Resample(0, 16000)


def test_differentiable_and_float64() -> None:
    resample = Resample(16000, 32000).double()
    x = torch.randn(
        1, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True
    )
    assert resample(x).dtype == torch.float64
    assert torch.autograd.gradcheck(resample, (x,), eps=1e-6, atol=1e-6)


def test_fft_length() -> None:
    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    for minimum in (1, 7, 97, 1000, 8193, 128064, 77777):
        for multiple in (1, 2, 441):
            expected = next(
                n
                for n in range(minimum, 4 * minimum + 4 * multiple)
                if n % multiple == 0 and smooth(n // multiple)
            )
            assert fft_length(minimum, multiple) == expected
