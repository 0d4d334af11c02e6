"""Signal processing on mono float32 audio: resample, low-pass, pad a batch, a model's input transform."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

if TYPE_CHECKING:
    import torch

DEFAULT_LOWPASS_ORDER: int = 4
"""Order of the Butterworth prototype of :func:`lowpass` unless told otherwise."""


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr at high quality (identity when the rates match)."""
    for rate in (orig_rate, target_rate):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not 0 < rate < math.inf:
            raise ValueError(f"a sampling rate must be a positive number of Hz, got {rate!r}")
    if orig_rate == target_rate:
        return samples
    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def lowpass(
    samples: np.ndarray, sample_rate: int, cutoff: float, order: int = DEFAULT_LOWPASS_ORDER
) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``scipy.signal.sosfiltfilt``) at ``cutoff`` Hz."""
    if not 0 < cutoff < sample_rate / 2:
        raise ValueError(
            f"low-pass cutoff {cutoff} Hz must lie between 0 and the Nyquist frequency {sample_rate / 2} Hz"
        )
    from scipy import signal as scipy_signal  # imported here: scipy.signal is slow to import

    sos = _butterworth(order, cutoff, sample_rate).copy()  # scipy's filter takes a writable array
    if samples.shape[0] <= 3 * (2 * len(sos) + 1):
        return samples  # too short for filtfilt padding; nothing meaningful to filter
    return scipy_signal.sosfiltfilt(sos, samples).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _butterworth(order: int, cutoff: float, sample_rate: float) -> np.ndarray:
    from scipy import signal as scipy_signal

    sos = scipy_signal.butter(order, cutoff, btype="lowpass", fs=sample_rate, output="sos")
    sos.flags.writeable = False  # designed once per rate and cutoff, not per recording (a few ms each)
    return sos


def input_preprocessing(config: Any) -> dict[str, Any]:
    """The input transform a model was trained with, as dataset-builder options (``load_icbhi(data_dir,
    **input_preprocessing(config))``): ``sampling_rate`` and any ``lowpass_cutoff`` / ``lowpass_order``."""
    options: dict[str, Any] = {"sampling_rate": int(config.sampling_rate)}
    cutoff = getattr(config, "lowpass_cutoff", None)
    if cutoff:
        options["lowpass_cutoff"] = float(cutoff)
        options["lowpass_order"] = int(getattr(config, "lowpass_order", None) or DEFAULT_LOWPASS_ORDER)
    return options


def prepare_recording(config: Any, waveform: np.ndarray) -> np.ndarray:
    """A whole recording at ``config.sampling_rate`` as the model's training recordings were."""
    options = input_preprocessing(config)
    if "lowpass_cutoff" not in options:
        return waveform
    return lowpass(waveform, options["sampling_rate"], options["lowpass_cutoff"], options["lowpass_order"])


def pad_batch(
    waveforms: Sequence[np.ndarray], padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad mono waveforms into ``input_values`` ``[batch, longest]`` and an int64 ``attention_mask``."""
    import torch  # imported here: the data builder's processes decode audio without torch

    longest = max(w.shape[0] for w in waveforms)
    batch = np.full((len(waveforms), longest), padding_value, dtype=np.float32)
    mask = np.zeros((len(waveforms), longest), dtype=np.int64)
    for row, waveform in enumerate(waveforms):
        batch[row, : waveform.shape[0]] = waveform  # numpy copies read-only arrays without a warning
        mask[row, : waveform.shape[0]] = 1
    return torch.from_numpy(batch), torch.from_numpy(mask)
