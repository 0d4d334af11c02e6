"""A display mel spectrogram of a whole recording in dB (``librosa.display``'s conventions)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

MAX_COLUMNS = 2400
TOP_DB = 80.0
FRAME_SECONDS = 0.064
CHUNK_FRAMES = 2048


def hz_to_mel(frequency: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    from transformers.audio_utils import hertz_to_mel

    return hertz_to_mel(np.array(frequency, dtype=np.float64, ndmin=1), "slaney").reshape(np.shape(frequency))


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    from transformers.audio_utils import mel_to_hertz

    return mel_to_hertz(np.array(mel, dtype=np.float64, ndmin=1), "slaney").reshape(np.shape(mel))


class MelSpectrogram(NamedTuple):
    """``db[band, column]`` with its cell edges: ``time_edges`` (s) and ``frequency_edges`` (Hz)."""

    db: np.ndarray
    time_edges: np.ndarray
    frequency_edges: np.ndarray


def _padded_segment(samples: np.ndarray, half: int, start: int, stop: int) -> np.ndarray:
    """``padded[start:stop]`` (float64) of ``samples`` reflect-padded by ``half``, without building it."""
    if samples.size <= half:  # too short to reflect: zeros, and tiny enough to pad whole
        return np.pad(samples, half)[start:stop].astype(np.float64)
    index = np.abs(np.arange(start, stop) - half)  # the mirror before the start...
    index = np.where(index >= samples.size, 2 * (samples.size - 1) - index, index)  # ...and after the end
    return samples[index].astype(np.float64)


def mel_spectrogram_db(
    waveform: np.ndarray,
    sampling_rate: int,
    *,
    n_mels: int = 128,
    max_columns: int = MAX_COLUMNS,
    top_db: float = TOP_DB,
) -> MelSpectrogram:
    """Mel power spectrogram of a mono ``waveform`` in dB re. its maximum (floor ``-top_db``)."""
    from transformers.audio_utils import mel_filter_bank

    samples = np.asarray(waveform).reshape(-1)  # float32 stays float32: frames are converted chunk by chunk
    if samples.size == 0:
        raise ValueError("cannot draw the spectrogram of an empty recording")
    n_fft = 2 ** max(6, round(math.log2(FRAME_SECONDS * sampling_rate)))
    hop = n_fft // 4
    narrowest = float(hz_to_mel(1.5 * sampling_rate / n_fft))  # no band narrower than 1.5 FFT bins
    n_mels = max(8, min(n_mels, int(float(hz_to_mel(sampling_rate / 2)) / narrowest)))
    frames = 1 + samples.size // hop
    columns = min(frames, max_columns)
    column_of = np.arange(frames, dtype=np.int64) * columns // frames
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    power = np.zeros((columns, n_fft // 2 + 1))
    for first in range(0, frames, CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, frames - first)
        segment = _padded_segment(samples, n_fft // 2, first * hop, (first + count - 1) * hop + n_fft)
        chunk = np.lib.stride_tricks.sliding_window_view(segment, n_fft)[::hop] * window
        spectrum = np.fft.rfft(chunk, axis=1)
        # sum each column's run of frames (mel filtering is linear: applied once per column below)
        owners = column_of[first : first + count]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        power[owners[starts]] += np.add.reduceat(spectrum.real**2 + spectrum.imag**2, starts, axis=0)
    power = power @ mel_filter_bank(  # Slaney-normalised triangles from 0 Hz to Nyquist
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=sampling_rate / 2,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float64)
    counts = np.bincount(column_of, minlength=columns).astype(np.float64)
    power /= counts[:, None]
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    db = np.maximum(db - db.max(), -float(top_db))

    centres = np.bincount(column_of, weights=np.arange(frames) * hop / sampling_rate) / counts
    duration = samples.size / sampling_rate
    time_edges = np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [duration]])
    points = np.linspace(0.0, float(hz_to_mel(sampling_rate / 2)), n_mels + 2)  # cells around the bands
    frequency_edges = mel_to_hz((points[:-1] + points[1:]) / 2)
    frequency_edges[0], frequency_edges[-1] = 0.0, sampling_rate / 2
    return MelSpectrogram(db.T, time_edges, frequency_edges)
