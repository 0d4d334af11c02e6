"""respira.models.respira.audio_decoding: soxr HQ resampling, the Butterworth low-pass, batch padding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soxr
import torch

from respira.models.respira.audio_decoding import lowpass, pad_batch, resample

from .test_audio_decoding import RATE, _tone


@pytest.mark.parametrize(("orig", "target"), [(44100, 16000), (4000, 16000), (16000, 8000)])
def test_resample_is_soxr_hq(orig: int, target: int) -> None:
    signal = _tone(orig, 0.5, 300.0)
    resampled = resample(signal, orig, target)
    assert resampled.dtype == np.float32
    np.testing.assert_array_equal(resampled, soxr.resample(signal, orig, target, quality="HQ"))
    assert not np.array_equal(resampled, soxr.resample(signal, orig, target, quality="LQ"))
    assert resample(signal, orig, orig) is signal


def test_lowpass_removes_the_band_above_the_cutoff() -> None:
    signal = _tone(RATE, 1.0, 300.0) + _tone(RATE, 1.0, 5000.0, seed=3)
    filtered = lowpass(signal, RATE, 1000.0, order=6)
    spectrum = np.abs(np.fft.rfft(filtered))
    frequencies = np.fft.rfftfreq(filtered.size, 1 / RATE)
    assert (
        spectrum[np.argmin(np.abs(frequencies - 5000))]
        < 1e-3 * spectrum[np.argmin(np.abs(frequencies - 300))]
    )
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass(signal, RATE, RATE / 2)


@pytest.mark.parametrize(("cutoff", "order"), [(1000.0, 4), (2500.0, 6), (300.0, 2)])
def test_lowpass_is_the_zero_phase_butterworth_the_onnx_metadata_gives_consumers(
    cutoff: float, order: int
) -> None:
    # the recipe written out, as a consumer without respira runs it (not through lowpass)
    noise = np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    reference = scipy.signal.sosfiltfilt(scipy.signal.butter(order, cutoff, fs=RATE, output="sos"), noise)
    filtered = lowpass(noise, RATE, cutoff, order)
    assert filtered.dtype == np.float32
    np.testing.assert_allclose(filtered, reference, rtol=0, atol=1e-5)


def test_lowpass_leaves_an_impulse_where_it_was() -> None:
    impulse = np.zeros(2001, dtype=np.float32)
    impulse[1000] = 1.0
    response = lowpass(impulse, RATE, 1000.0)
    assert int(np.argmax(response)) == 1000  # a causal filter would delay the peak
    np.testing.assert_allclose(response, response[::-1], atol=1e-6)  # zero phase: symmetric about it


def test_pad_batch_shapes_values_and_mask() -> None:
    rows = [np.arange(1, 4, dtype=np.float32), np.arange(1, 7, dtype=np.float32), np.ones(1, np.float32)]
    values, mask = pad_batch(rows)
    assert values.shape == mask.shape == (3, 6)
    assert values.dtype == torch.float32 and mask.dtype == torch.long
    assert mask.sum(dim=1).tolist() == [3, 6, 1]
    assert mask[0].tolist() == [1, 1, 1, 0, 0, 0]
    assert values[0].tolist() == [1, 2, 3, 0, 0, 0]
    assert values[1].tolist() == [1, 2, 3, 4, 5, 6]
    assert values[2].tolist() == [1, 0, 0, 0, 0, 0]
    padded, _ = pad_batch(rows, padding_value=-1.0)
    assert padded[2].tolist() == [1, -1, -1, -1, -1, -1]
