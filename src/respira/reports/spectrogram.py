"""A display mel spectrogram of a whole recording, in dB, with bounded memory and size.

It follows the conventions of ``librosa.display`` (without depending on librosa): a centred STFT
with a periodic Hann window, Slaney mel filters, power in dB relative to the recording's maximum
with an 80 dB floor, cells placed at their true times (frame centres) and frequencies (the bands'
centre frequencies on the mel scale), shown on a mel-scaled frequency axis labelled in Hz.

Long recordings are averaged into at most ``max_columns`` time columns (power is averaged, then
converted to dB), frame chunk by frame chunk, so an hour of audio needs no more than a few MB
beyond its waveform.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["MelSpectrogram", "hz_to_mel", "mel_spectrogram_db", "mel_to_hz"]

MAX_COLUMNS = 2400
TOP_DB = 80.0
FRAME_SECONDS = 0.064
CHUNK_FRAMES = 2048

_LINEAR_SLOPE = 3.0 / 200.0  # Slaney: linear below 1 kHz...
_BREAK_HZ, _BREAK_MEL = 1000.0, 15.0
_LOG_STEP = math.log(6.4) / 27.0  # ...logarithmic above


def hz_to_mel(frequency: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(frequency, dtype=np.float64)
    log_part = _BREAK_MEL + np.log(np.maximum(hz, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz < _BREAK_HZ, hz * _LINEAR_SLOPE, log_part)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    log_part = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(m, _BREAK_MEL) - _BREAK_MEL))
    return np.where(m < _BREAK_MEL, m / _LINEAR_SLOPE, log_part)


class MelSpectrogram(NamedTuple):
    """``db[band, column]`` with its cell edges: ``time_edges`` (s) and ``frequency_edges`` (Hz)."""

    db: np.ndarray
    time_edges: np.ndarray
    frequency_edges: np.ndarray
    n_fft: int
    hop_length: int


def _mel_banks(n_fft: int, n_mels: int, sampling_rate: int) -> np.ndarray:
    """Slaney-normalised triangular filters ``[n_fft // 2 + 1, n_mels]`` from 0 Hz to Nyquist."""
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=sampling_rate / 2,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float64)


def _band_edges(n_mels: int, sampling_rate: int) -> np.ndarray:
    """Edges (Hz) of cells around the bands' centre frequencies (equally spaced in mel): half-way
    between neighbouring centres, the outer edges at 0 Hz and the Nyquist frequency."""
    points = np.linspace(0.0, float(hz_to_mel(sampling_rate / 2)), n_mels + 2)
    edges = mel_to_hz((points[:-1] + points[1:]) / 2)
    edges[0], edges[-1] = 0.0, sampling_rate / 2
    return edges


def mel_spectrogram_db(
    waveform: np.ndarray,
    sampling_rate: int,
    *,
    n_mels: int = 128,
    max_columns: int = MAX_COLUMNS,
    top_db: float = TOP_DB,
) -> MelSpectrogram:
    """Mel power spectrogram of a mono ``waveform`` in dB re. its maximum (floor ``-top_db``).

    The FFT spans about 64 ms (1024 points at 16 kHz) and frames are a quarter of that apart;
    ``n_mels`` bands at most (fewer at low rates, where narrower bands would hold no FFT bin);
    frame ``f`` is centred at ``f * hop / rate`` seconds (centred STFT, reflect padding). With more
    frames than ``max_columns``, consecutive frames are averaged into columns; a column's cell spans
    from half-way to its neighbours' centres, the first from 0 and the last to the recording's end.
    """
    samples = np.asarray(waveform, dtype=np.float64).reshape(-1)
    if samples.size == 0:
        raise ValueError("cannot draw the spectrogram of an empty recording")
    if max_columns < 1:
        raise ValueError(f"max_columns must be at least 1, got {max_columns}")
    n_fft = 2 ** max(6, round(math.log2(FRAME_SECONDS * sampling_rate)))
    hop = n_fft // 4
    narrowest = float(hz_to_mel(1.5 * sampling_rate / n_fft))  # no band narrower than 1.5 FFT bins
    n_mels = max(8, min(n_mels, int(float(hz_to_mel(sampling_rate / 2)) / narrowest)))
    half = n_fft // 2
    mode = "reflect" if samples.size > half else "constant"
    padded = np.pad(samples, half, mode=mode)
    frames = 1 + samples.size // hop
    columns = min(frames, max_columns)
    column_of = np.arange(frames, dtype=np.int64) * columns // frames
    banks = _mel_banks(n_fft, n_mels, sampling_rate)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    views = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    power = np.zeros((columns, n_mels))
    for first in range(0, frames, CHUNK_FRAMES):
        chunk = views[first : first + CHUNK_FRAMES] * window
        spectrum = np.fft.rfft(chunk, axis=1)
        mel = (spectrum.real**2 + spectrum.imag**2) @ banks
        np.add.at(power, column_of[first : first + CHUNK_FRAMES], mel)
    counts = np.bincount(column_of, minlength=columns).astype(np.float64)
    power /= counts[:, None]
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    db = np.maximum(db - db.max(), -float(top_db))

    centres = np.bincount(column_of, weights=np.arange(frames) * hop / sampling_rate) / counts
    duration = samples.size / sampling_rate
    time_edges = np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [duration]])
    return MelSpectrogram(db.T, time_edges, _band_edges(n_mels, sampling_rate), n_fft, hop)
