"""Hand-crafted lung-sound features meant to survive a change of stethoscope (``transfer_probe.py``).

Every feature describes the *shape* of the sound, not its level or colour: each is a ratio, a rate or a
statistic of standardised values, so a gain or a smooth frequency response (another stethoscope, another
filter mode) moves it little. Two families, after the definitions of the lung-sound literature (CORSA,
Sovijärvi et al. 2000):

* **wheezes** are continuous and tonal (a spectral peak that stands out of its band and persists for more
  than 100 ms): per-frame peak prominence over the band's median and spectral flatness (Wiener entropy) in
  100-2000 Hz, and how long the frame-to-frame peak stays on the same frequency (peak-track continuity);
* **crackles** are short explosive transients: kurtosis and crest factor of the 150-2000 Hz signal (and of
  its two halves, 150-600 and 600-2000 Hz), the rate of envelope peaks standing 3 and 5 times above the
  median envelope of the 100 ms around them, and how spiky the spectral flux is.

Computed at 8 kHz (the recordings are low-passed at 4 kHz first, as the flagship's are). Nothing here was
fitted to data: every band, frame and statistic is fixed by the definitions above.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal, stats

RATE = 8_000
FRAME, HOP = 256, 64  # 32 ms frames every 8 ms
BAND = (100.0, 2000.0)
TRACK_SECONDS = 0.1  # a wheeze lasts at least 100 ms (CORSA)
NAMES = (
    "prominence_mean", "prominence_p90", "prominence_max",
    "flatness_mean", "flatness_p10", "flatness_min",
    "track_fraction", "track_longest_s", "track_prominence",
    "kurtosis", "kurtosis_low", "kurtosis_high", "crest", "crest_low", "crest_high",
    "peaks3_per_s", "peaks5_per_s", "flux_p95_over_median", "flux_max_over_median",
)  # fmt: skip
_SOS = {
    name: signal.butter(4, band, btype="bandpass", fs=RATE, output="sos")
    for name, band in (("all", (150, 2000)), ("low", (150, 600)), ("high", (600, 2000)))
}


def acoustic_features(waveform: np.ndarray, rate: int) -> np.ndarray:
    """The :data:`NAMES` features of one mono ``waveform`` sampled at ``rate`` (a multiple of 8 kHz)."""
    if rate % RATE:
        raise ValueError(f"rate must be a multiple of {RATE}, got {rate}")
    x = signal.resample_poly(np.asarray(waveform, dtype=np.float64), 1, rate // RATE)
    if x.size < FRAME * 2:
        x = np.pad(x, (0, FRAME * 2 - x.size))
    return np.concatenate([_wheeze_features(x), _crackle_features(x)])


def _band_spectrogram(x: np.ndarray) -> np.ndarray:
    """Power ``[frames, bins]`` of the 100-2000 Hz band."""
    frequencies, _, power = signal.stft(
        x, fs=RATE, window="hann", nperseg=FRAME, noverlap=FRAME - HOP, boundary=None, padded=False
    )
    keep = (frequencies >= BAND[0]) & (frequencies <= BAND[1])
    return (np.abs(power[keep]) ** 2).T + 1e-12


def _wheeze_features(x: np.ndarray) -> np.ndarray:
    power = _band_spectrogram(x)
    db = 10 * np.log10(power)
    prominence = db.max(axis=1) - np.median(db, axis=1)
    flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
    peaks = db.argmax(axis=1)
    steady = np.abs(np.diff(peaks)) <= 1  # the peak stays within one bin (31 Hz) from frame to frame
    runs = _run_lengths(steady)
    shortest = round(TRACK_SECONDS * RATE / HOP)
    long_runs = [length for length in runs if length >= shortest]
    in_track = np.zeros(steady.size, dtype=bool)
    position = 0
    for value, length in _runs(steady):
        if value and length >= shortest:
            in_track[position : position + length] = True
        position += length
    track_prominence = float(prominence[1:][in_track].mean()) if in_track.any() else 0.0
    return np.array(
        [
            prominence.mean(), np.percentile(prominence, 90), prominence.max(),
            flatness.mean(), np.percentile(flatness, 10), flatness.min(),
            sum(long_runs) / max(steady.size, 1), max(runs, default=0) * HOP / RATE, track_prominence,
        ]
    )  # fmt: skip


def _crackle_features(x: np.ndarray) -> np.ndarray:
    values = []
    for name in ("all", "low", "high"):
        band = signal.sosfiltfilt(_SOS[name], x)
        flat = band.std() == 0  # silence: no tails at all
        values.append(0.0 if flat else np.log(stats.kurtosis(band, fisher=False) + 1e-9))
    for name in ("all", "low", "high"):
        band = signal.sosfiltfilt(_SOS[name], x)
        values.append(np.log(np.abs(band).max() / (band.std() + 1e-12) + 1e-9))
    band = signal.sosfiltfilt(_SOS["all"], x)
    envelope = np.convolve(np.abs(signal.hilbert(band)), np.ones(16) / 16, mode="same")[::8]  # 2 ms, 1 kHz
    local = ndimage.median_filter(envelope, size=101, mode="nearest") + 1e-12  # the 100 ms around it
    seconds = x.size / RATE
    for factor in (3, 5):  # a transient stands out of its own surroundings, not of the whole cycle
        peaks, _ = signal.find_peaks(envelope / local, height=factor, distance=10)
        values.append(peaks.size / seconds)
    db = 10 * np.log10(_band_spectrogram(x))
    flux = np.clip(np.diff(db, axis=0), 0, None).mean(axis=1)
    middle = np.median(flux) + 1e-9
    values += [np.log(np.percentile(flux, 95) / middle + 1e-9), np.log(flux.max() / middle + 1e-9)]
    return np.array(values)


def _runs(flags: np.ndarray) -> list[tuple[bool, int]]:
    """``(value, length)`` of each run of equal values, in order."""
    if flags.size == 0:
        return []
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [flags.size]]))
    return [(bool(flags[s]), int(n)) for s, n in zip(starts, lengths, strict=True)]


def _run_lengths(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of ``True``."""
    return [length for value, length in _runs(flags) if value]
