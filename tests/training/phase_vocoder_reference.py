"""respira's former time stretch (phase vocoder with identity phase locking), kept as a test reference.

Until the Signalsmith stretcher (``python-stretch``) replaced it, respira's ``TimeStretch`` ran this;
``tests/training/test_augment_library.py`` checks that the library gives the same spectra on real
cycles, and the results history (docs/history/speed.md, "Library swaps") timed both.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from respira.training.augment.stretch import check_fft_sizes

__all__ = ["phase_vocoder"]


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Trim, or zero-pad at the end, to exactly ``length`` samples."""
    if signal.size >= length:
        return signal[:length]
    return np.pad(signal, (0, length - signal.size))


def _stft(signal: np.ndarray, window: np.ndarray, hop_length: int, num_frames: int) -> np.ndarray:
    """``[num_frames, n_fft // 2 + 1]`` spectra of frames centred on ``t · hop_length`` (zero padding)."""
    n_fft = window.size
    total = n_fft + hop_length * (num_frames - 1)
    padded = np.pad(signal, (n_fft // 2, total - signal.size - n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    return np.fft.rfft(frames * window, axis=1)


def _istft(spectra: np.ndarray, window: np.ndarray, hop_length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft` (least-squares: divide by Σ window²)."""
    n_fft = window.size
    num_frames = spectra.shape[0]
    ratio = n_fft // hop_length
    frames = np.fft.irfft(spectra, n=n_fft, axis=1) * window
    blocks = np.zeros((num_frames + ratio - 1, hop_length))
    norm = np.zeros_like(blocks)
    squared = (window**2).reshape(ratio, hop_length)
    for part in range(ratio):  # frame t, part r lands on block t + r
        blocks[part : part + num_frames] += frames[:, part * hop_length : (part + 1) * hop_length]
        norm[part : part + num_frames] += squared[part]
    signal, norm = blocks.reshape(-1), norm.reshape(-1)
    return np.where(norm > 1e-8, signal / np.maximum(norm, 1e-8), 0.0)


def _spectral_peaks(magnitude: np.ndarray) -> np.ndarray:
    """``[frames, bins]`` mask of local magnitude maxima along frequency (strict on the left)."""
    peaks = np.zeros(magnitude.shape, dtype=bool)
    peaks[:, 1:-1] = (magnitude[:, 1:-1] > magnitude[:, :-2]) & (magnitude[:, 1:-1] >= magnitude[:, 2:])
    peaks[:, 0] = magnitude[:, 0] > magnitude[:, 1]
    peaks[:, -1] = magnitude[:, -1] > magnitude[:, -2]
    return peaks


def _locked_phases(advance: np.ndarray, reference: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Output-frame phases with identity phase locking (Laroche & Dolson, 1999).

    ``advance[k]``: per-bin phase advance from output frame ``k`` to ``k + 1`` (instantaneous
    frequency × hop); ``reference[k]``: the analysis phases the output frame ``k`` is read from;
    ``peaks[k]``: its spectral peaks. Peak bins are propagated from the previous output frame; every
    other bin keeps its analysis phase offset from the nearest peak, so the few bins that make up one
    sinusoid stay coherent (no "phasiness", no level loss on steady tones).
    """
    phases = np.empty_like(reference)
    phases[0] = reference[0]
    bins = np.arange(reference.shape[1])
    for k in range(1, reference.shape[0]):
        peak_bins = np.flatnonzero(peaks[k])
        propagated = phases[k - 1] + advance[k - 1]
        if peak_bins.size == 0:
            phases[k] = propagated
            continue
        boundaries = (peak_bins[:-1] + peak_bins[1:]) / 2.0
        owner = peak_bins[np.searchsorted(boundaries, bins)]  # the nearest peak of each bin
        phases[k] = propagated[owner] + reference[k] - reference[k, owner]
    return phases


def phase_vocoder(
    waveform: np.ndarray, rate: float, *, n_fft: int = 512, hop_length: int = 128
) -> np.ndarray:
    """Time-stretch ``waveform`` by ``rate`` (> 1 faster/shorter) keeping its pitch.

    Algorithm (phase vocoder with identity phase locking):

    1. STFT with a periodic Hann window of ``n_fft`` samples, hop ``hop_length``, frames centred on
       multiples of the hop (the signal is zero-padded by ``n_fft // 2`` at the start and by a few
       frames at the end).
    2. The output frames sit at fractional analysis positions ``0, rate, 2·rate, …`` and are written
       ``hop_length`` apart. Their magnitude is linearly interpolated between the two neighbouring
       analysis frames.
    3. Phase: between neighbouring analysis frames, each bin ``k`` advances by its expected
       ``ω_k = 2π·k·hop/n_fft`` plus a measured deviation wrapped to ``[-π, π)``; that total is the
       bin's instantaneous frequency times the hop. Spectral peaks of the output frame accumulate
       this advance from the previous output frame, so sinusoids keep their frequency while frames
       are read closer together or further apart; the other bins are locked to their nearest peak
       (keeping the analysis phase difference to it), see :func:`_locked_phases`.
    4. Weighted overlap-add of the new frames (windowed again, divided by the summed squared window),
       drop the start padding and trim or zero-pad to exactly ``round(len / rate)`` samples.

    At ``rate == 1`` the input is reconstructed (to float precision). Steady tones (wheezes) keep
    frequency and level; transients (crackles) are smeared over about one window (32 ms by default).
    """
    check_fft_sizes(n_fft, hop_length)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number, got {rate!r}")
    signal = np.asarray(waveform, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {signal.shape}")
    target = round(signal.size / rate)
    if signal.size == 0 or target == 0:
        return np.zeros(target, dtype=np.float32)
    window = scipy.signal.get_window("hann", n_fft)  # periodic
    # Two frames beyond the end so every output position has a real right-hand neighbour.
    num_frames = 1 + math.ceil(signal.size / hop_length) + 2
    spectra = _stft(signal, window, hop_length, num_frames)
    magnitude, phase = np.abs(spectra), np.angle(spectra)

    positions = np.arange(0.0, num_frames - 1, rate)
    left = positions.astype(np.int64)
    weight = (positions - left)[:, None]
    new_magnitude = (1.0 - weight) * magnitude[left] + weight * magnitude[left + 1]

    expected = 2.0 * np.pi * hop_length * np.arange(spectra.shape[1]) / n_fft
    deviation = phase[left + 1] - phase[left] - expected
    deviation -= 2.0 * np.pi * np.round(deviation / (2.0 * np.pi))
    new_phase = _locked_phases(expected + deviation, phase[left], _spectral_peaks(new_magnitude))

    stretched = _istft(new_magnitude * np.exp(1j * new_phase), window, hop_length)
    return fit_length(stretched[n_fft // 2 :], target).astype(np.float32)
