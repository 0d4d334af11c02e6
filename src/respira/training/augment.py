"""Waveform augmentations for ICBHI respiratory cycles (16 kHz mono, before fixed-length padding).

Each augmentation is a small frozen dataclass, called as ``augmentation(waveform, rng)`` on a 1-D
``float32`` array of any length with a :class:`numpy.random.Generator`; the output is a new
``float32`` array (the input is never modified in place, and is returned as is when the
augmentation is skipped). Given the generator's state the result is deterministic. Every call
draws one uniform number first to decide whether to apply the augmentation (``probability``), so
the generator advances the same way whatever the outcome of that coin.

What each one simulates:

* :class:`WhiteNoise` – additive Gaussian noise at a random signal-to-noise ratio (dB, relative to
  the cycle's own power): stethoscope self-noise, ambient hiss, a poorer recording chain.
* :class:`Gain` – a random level change (dB): chest-piece pressure, auscultation site, amplifier
  gain and patient habitus all change loudness without changing the sound's character.
* :class:`TimeShift` – a random offset (circular ``"roll"`` or zero-``"pad"`` shift, length kept):
  cycle boundaries in ICBHI are annotated by hand and do not line up with the sound's onset.
* :class:`TimeStretch` – tempo change without pitch change (phase vocoder): faster or slower
  breathing; a wheeze keeps its frequency while it lasts longer or shorter.
* :class:`PitchShift` – pitch change without duration change (phase vocoder + resampling):
  wheeze fundamentals vary between patients and airway calibres (roughly 100-1000 Hz).
* :class:`Compose` – applies several in order.
* :class:`SameLabelConcat` / :func:`concat_same_label` – append another cycle of the same class,
  crossfaded and truncated: lengthens and enriches the rarer classes (wheeze by default), since an
  adventitious sound followed by another one of the same kind keeps the label.
* :func:`mixup` – convex combination of two padded batch items and of their (soft) labels, on
  torch tensors; λ ~ Beta(α, α).

:func:`build_augmentation` turns a config mapping (from a YAML recipe or a JSON string on the
command line) into a :class:`Compose` of the first five.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import scipy.signal
import scipy.special
import soxr
import torch

from ..labels import CLASS_NAMES, classes_to_flags

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "Compose",
    "Gain",
    "PitchShift",
    "SameLabelConcat",
    "TimeShift",
    "TimeStretch",
    "WhiteNoise",
    "build_augmentation",
    "concat_same_label",
    "mixup",
    "phase_vocoder",
]

WaveformTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# --------------------------------------------------------------------------------------------------
# validation helpers


def _as_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float32 view (or copy) of ``waveform``; raises ValueError otherwise."""
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {array.shape}")
    return array


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}"
        )
    return rng


def _probability(value: Any, name: str = "probability") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _pair(value: Any, name: str, *, positive: bool = False) -> tuple[float, float]:
    """A ``(low, high)`` range of finite numbers with ``low <= high`` (from a tuple or a YAML list)."""
    message = f"{name} must be a [low, high] pair of numbers with low <= high, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(message)
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) for v in value):
        raise ValueError(message)
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(message)
    if positive and low <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return low, high


def _fft_sizes(n_fft: Any, hop_length: Any) -> None:
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 16 or n_fft % 2:
        raise ValueError(f"n_fft must be an even integer >= 16, got {n_fft!r}")
    if (
        isinstance(hop_length, bool)
        or not isinstance(hop_length, int)
        or not 0 < hop_length <= n_fft // 2
        or n_fft % hop_length
    ):
        raise ValueError(f"hop_length must divide n_fft and be at most n_fft // 2, got {hop_length!r}")


def _fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Trim, or zero-pad at the end, to exactly ``length`` samples."""
    if signal.size >= length:
        return signal[:length]
    return np.pad(signal, (0, length - signal.size))


# --------------------------------------------------------------------------------------------------
# phase vocoder


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
    _fft_sizes(n_fft, hop_length)
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
    return _fit_length(stretched[n_fft // 2 :], target).astype(np.float32)


def _resample_to_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) of ``signal`` to exactly ``length`` samples."""
    if length == 0:
        return np.zeros(0, dtype=np.float32)
    if signal.size == 0:
        return np.zeros(length, dtype=np.float32)
    if signal.size == length:
        return signal.astype(np.float32)
    resampled = soxr.resample(signal.astype(np.float32), float(signal.size), float(length))
    return _fit_length(np.asarray(resampled, dtype=np.float32), length)


# --------------------------------------------------------------------------------------------------
# waveform augmentations


class Augmentation:
    """Base class: with ``probability``, apply :meth:`apply` to a 1-D float32 waveform."""

    name: ClassVar[str] = ""
    probability: float

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = _as_waveform(waveform)
        if _check_rng(rng).random() >= self.probability:
            return signal
        return np.asarray(self.apply(signal, rng), dtype=np.float32)

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmentation itself (always applied); ``waveform`` is 1-D float32."""
        raise NotImplementedError


@dataclass(frozen=True)
class WhiteNoise(Augmentation):
    """Additive white Gaussian noise at an SNR drawn uniformly from ``snr_db`` (dB).

    The noise power is the waveform's mean power divided by ``10^(snr/10)``; a silent waveform
    gets no noise (it stays finite and silent).
    """

    snr_db: tuple[float, float] = (15.0, 40.0)
    probability: float = 0.5
    name: ClassVar[str] = "white_noise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_db", _pair(self.snr_db, "snr_db"))
        object.__setattr__(self, "probability", _probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        snr = rng.uniform(*self.snr_db)
        power = float(np.mean(np.square(waveform, dtype=np.float64))) if waveform.size else 0.0
        scale = math.sqrt(power / 10.0 ** (snr / 10.0))
        return waveform + scale * rng.standard_normal(waveform.size)


@dataclass(frozen=True)
class Gain(Augmentation):
    """Multiply by ``10^(g/20)`` with ``g`` drawn uniformly from ``db`` (no clipping)."""

    db: tuple[float, float] = (-6.0, 6.0)
    probability: float = 0.5
    name: ClassVar[str] = "gain"

    def __post_init__(self) -> None:
        object.__setattr__(self, "db", _pair(self.db, "db"))
        object.__setattr__(self, "probability", _probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return waveform * np.float32(10.0 ** (rng.uniform(*self.db) / 20.0))


@dataclass(frozen=True)
class TimeShift(Augmentation):
    """Shift by an integer number of samples drawn uniformly from ``±max_fraction · len``.

    ``mode="roll"`` shifts circularly (no sample is lost); ``mode="pad"`` shifts and fills the
    vacated samples with zeros (positive shifts delay the sound). The length is kept either way.
    """

    max_fraction: float = 0.2
    mode: str = "roll"
    probability: float = 0.5
    name: ClassVar[str] = "time_shift"
    MODES: ClassVar[tuple[str, ...]] = ("roll", "pad")

    def __post_init__(self) -> None:
        fraction = self.max_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ValueError(f"max_fraction must be a number in [0, 1), got {fraction!r}")
        if self.mode not in self.MODES:
            raise ValueError(f"mode must be one of {', '.join(self.MODES)}, got {self.mode!r}")
        object.__setattr__(self, "max_fraction", float(fraction))
        object.__setattr__(self, "probability", _probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        limit = int(self.max_fraction * waveform.size)
        shift = int(rng.integers(-limit, limit + 1))
        if self.mode == "roll":
            return np.roll(waveform, shift)
        shifted = np.zeros_like(waveform)
        if shift >= 0:
            shifted[shift:] = waveform[: waveform.size - shift]
        else:
            shifted[:shift] = waveform[-shift:]
        return shifted


@dataclass(frozen=True)
class TimeStretch(Augmentation):
    """Change the duration, not the pitch: rate drawn uniformly from ``rate``; length ``≈ len / rate``.

    Uses :func:`phase_vocoder` (``n_fft`` and ``hop_length`` in samples: 32 ms / 8 ms at 16 kHz).
    """

    rate: tuple[float, float] = (0.8, 1.2)
    n_fft: int = 512
    hop_length: int = 128
    probability: float = 0.5
    name: ClassVar[str] = "time_stretch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _pair(self.rate, "rate", positive=True))
        _fft_sizes(self.n_fft, self.hop_length)
        object.__setattr__(self, "probability", _probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rate = rng.uniform(*self.rate)
        return phase_vocoder(waveform, rate, n_fft=self.n_fft, hop_length=self.hop_length)


@dataclass(frozen=True)
class PitchShift(Augmentation):
    """Change the pitch by ``s`` semitones (drawn uniformly from ``semitones``), keeping the length.

    The waveform is time-stretched to ``2^(s/12)`` times its length (:func:`phase_vocoder`, pitch
    kept), then resampled (soxr) back to its original length, which scales every frequency by
    ``2^(s/12)``.
    """

    semitones: tuple[float, float] = (-2.0, 2.0)
    n_fft: int = 512
    hop_length: int = 128
    probability: float = 0.5
    name: ClassVar[str] = "pitch_shift"

    def __post_init__(self) -> None:
        object.__setattr__(self, "semitones", _pair(self.semitones, "semitones"))
        _fft_sizes(self.n_fft, self.hop_length)
        object.__setattr__(self, "probability", _probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factor = 2.0 ** (rng.uniform(*self.semitones) / 12.0)
        stretched = phase_vocoder(waveform, 1.0 / factor, n_fft=self.n_fft, hop_length=self.hop_length)
        return _resample_to_length(stretched, waveform.size)


class Compose:
    """Apply ``transforms`` in order, each with its own probability, sharing one generator."""

    def __init__(self, transforms: Sequence[WaveformTransform]) -> None:
        self.transforms: tuple[WaveformTransform, ...] = tuple(transforms)
        for transform in self.transforms:
            if not callable(transform):
                raise TypeError(f"Compose expects callables (waveform, rng) -> waveform, got {transform!r}")

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = _as_waveform(waveform)
        _check_rng(rng)
        for transform in self.transforms:
            signal = _as_waveform(transform(signal, rng))
        return signal

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[WaveformTransform]:
        return iter(self.transforms)

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


# --------------------------------------------------------------------------------------------------
# same-label concatenation

CyclePool = Mapping[int, Sequence[np.ndarray]] | Callable[[int, np.random.Generator], np.ndarray | None]


def _class_index(value: int | str) -> int:
    """An ICBHI class index from an index or a name (normal 0, crackle 1, wheeze 2, both 3)."""
    if isinstance(value, str):
        if value not in CLASS_NAMES:
            raise ValueError(f"unknown class {value!r}; valid: {', '.join(CLASS_NAMES)}")
        return CLASS_NAMES.index(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not 0 <= value < len(CLASS_NAMES)
    ):
        raise ValueError(
            f"class must be a name in {CLASS_NAMES} or an index 0-{len(CLASS_NAMES) - 1}, got {value!r}"
        )
    return int(value)


def _crossfade_concat(first: np.ndarray, second: np.ndarray, overlap: int) -> np.ndarray:
    """``first`` then ``second``, overlapping by ``overlap`` samples with an equal-power crossfade.

    Equal-power (cos/sin) fades keep the loudness steady across the joint for uncorrelated cycles.
    The overlap is capped at half the shorter cycle, so very short cycles are still appended.
    """
    overlap = min(overlap, first.size // 2, second.size // 2)
    if overlap == 0:
        return np.concatenate([first, second]).astype(np.float32)
    ramp = (np.arange(overlap) + 0.5) / overlap * (np.pi / 2.0)
    joint = first[first.size - overlap :] * np.cos(ramp) + second[:overlap] * np.sin(ramp)
    return np.concatenate([first[: first.size - overlap], joint, second[overlap:]]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SameLabelConcat:
    """With ``probability``, append another cycle of the same class, crossfaded, truncated to max length.

    ``pool`` is either a mapping ``class index -> cycles`` (e.g. the training cycles grouped by
    label) from which one is drawn uniformly, or a callable ``pool(label, rng)`` returning a cycle of
    that class (or ``None`` when there is none). Only labels in ``classes`` (indices or names;
    ``None`` for all) are concatenated; the default enriches wheeze cycles. The result is at most
    ``max_seconds`` long (``None``: no limit); an input already at least that long is returned
    unchanged. The drawn cycle may be the input cycle itself when the pool contains it.

    Call as ``concat(waveform, label, rng)``. It is not part of :func:`build_augmentation` because it
    needs the label and a pool.
    """

    pool: CyclePool
    probability: float = 0.5
    classes: tuple[int, ...] | None = (2,)
    max_seconds: float | None = 8.0
    sampling_rate: int = 16_000
    crossfade_ms: float = 10.0

    def __post_init__(self) -> None:
        if not (callable(self.pool) or isinstance(self.pool, Mapping)):
            raise ValueError("pool must be a mapping {label: cycles} or a callable (label, rng) -> cycle")
        object.__setattr__(self, "probability", _probability(self.probability))
        if self.classes is not None:
            names = (self.classes,) if isinstance(self.classes, (str, int)) else self.classes
            object.__setattr__(self, "classes", tuple(sorted({_class_index(c) for c in names})))
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0
        ):
            raise ValueError(f"max_seconds must be positive or None, got {self.max_seconds!r}")
        if (
            isinstance(self.sampling_rate, bool)
            or not isinstance(self.sampling_rate, int)
            or self.sampling_rate <= 0
        ):
            raise ValueError(f"sampling_rate must be a positive integer, got {self.sampling_rate!r}")
        if not isinstance(self.crossfade_ms, (int, float)) or self.crossfade_ms < 0:
            raise ValueError(f"crossfade_ms must be a non-negative number, got {self.crossfade_ms!r}")

    @property
    def max_length(self) -> int | None:
        """The maximum output length in samples (``None``: unlimited)."""
        return None if self.max_seconds is None else round(self.max_seconds * self.sampling_rate)

    @property
    def crossfade_samples(self) -> int:
        return round(self.crossfade_ms * self.sampling_rate / 1000.0)

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray | None:
        """A cycle of class ``label`` from the pool, or ``None``."""
        if callable(self.pool):
            cycle = self.pool(label, rng)
        else:
            cycles = self.pool.get(label, ())
            cycle = cycles[int(rng.integers(len(cycles)))] if len(cycles) else None
        return None if cycle is None else _as_waveform(cycle)

    def __call__(self, waveform: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
        signal = _as_waveform(waveform)
        if _check_rng(rng).random() >= self.probability:
            return signal
        label = int(label)
        limit = self.max_length
        if (self.classes is not None and label not in self.classes) or (
            limit is not None and signal.size >= limit
        ):
            return signal
        other = self.draw(label, rng)
        if other is None or other.size == 0:
            return signal
        joined = _crossfade_concat(signal, other, self.crossfade_samples)
        return joined if limit is None else joined[:limit]


def concat_same_label(
    waveforms: Sequence[np.ndarray],
    labels: Sequence[int],
    *,
    rng: np.random.Generator,
    probability: float,
    max_length: int | None = None,
    classes: Sequence[int | str] | None = (2,),
    crossfade: int = 160,
) -> list[np.ndarray]:
    """In-batch :class:`SameLabelConcat`: append another batch item with the same label.

    For each item whose label is in ``classes`` (``None``: all), with ``probability``, a different
    item of the same label is drawn uniformly from the batch (its original waveform), appended with
    a ``crossfade``-sample equal-power crossfade, and the result truncated to ``max_length`` samples.
    Items without a same-label partner are left as they are.
    """
    if len(waveforms) != len(labels):
        raise ValueError(f"got {len(waveforms)} waveforms but {len(labels)} labels")
    if isinstance(crossfade, bool) or not isinstance(crossfade, int) or crossfade < 0:
        raise ValueError(f"crossfade must be a non-negative number of samples, got {crossfade!r}")
    if max_length is not None and max_length <= 0:
        raise ValueError(f"max_length must be positive or None, got {max_length!r}")
    _check_rng(rng)
    probability = _probability(probability)
    allowed = None if classes is None else {_class_index(c) for c in classes}
    signals = [_as_waveform(w) for w in waveforms]
    label_list = [int(label) for label in labels]
    output = []
    for index, (signal, label) in enumerate(zip(signals, label_list, strict=True)):
        skip = rng.random() >= probability or (allowed is not None and label not in allowed)
        partners = [j for j, other in enumerate(label_list) if other == label and j != index]
        if skip or not partners or (max_length is not None and signal.size >= max_length):
            output.append(signal)
            continue
        other = signals[partners[int(rng.integers(len(partners)))]]
        joined = _crossfade_concat(signal, other, crossfade)
        output.append(joined if max_length is None else joined[:max_length])
    return output


# --------------------------------------------------------------------------------------------------
# mixup


def _sample_beta(alpha: float, generator: torch.Generator | None) -> float:
    """λ ~ Beta(α, α) by inverting the regularised incomplete beta function at a uniform draw.

    ``torch.distributions.Beta`` cannot take a generator; this keeps λ reproducible from it.
    """
    uniform = float(torch.rand((), generator=generator, dtype=torch.float64))
    return float(scipy.special.betaincinv(alpha, alpha, uniform))


def _label_targets(labels: torch.Tensor, num_classes: int, multi_label: bool) -> torch.Tensor:
    """Float ``[B, C]`` targets from class indices ``[B]`` or flags/probabilities ``[B, C]``."""
    if labels.dim() == 2:
        if labels.is_complex():
            raise ValueError(f"labels of dtype {labels.dtype} cannot be mixed")
        return labels.to(torch.float32)
    if labels.dim() != 1:
        raise ValueError(
            f"labels must be [batch] class indices or [batch, classes], got shape {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"1-D labels must be integer class indices, got dtype {labels.dtype}")
    labels = labels.long()
    if multi_label:  # normal 0, crackle 1, wheeze 2, both 3 -> (crackle, wheeze) flags
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
            raise ValueError(f"class indices must be in [0, {len(CLASS_NAMES)}) for multi_label")
        return classes_to_flags(labels, validate=False).to(torch.float32)  # checked above
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"class indices must be in [0, {num_classes}), got {labels.tolist()}")
    return torch.nn.functional.one_hot(labels, num_classes).to(torch.float32)


def mixup(
    waveforms: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = len(CLASS_NAMES),
    alpha: float = 0.4,
    generator: torch.Generator | None = None,
    multi_label: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
    """Mixup on a padded batch: ``x' = λ·x + (1−λ)·x[perm]``, ``y' = λ·y + (1−λ)·y[perm]``.

    Args:
        waveforms: ``[B, N]`` (or ``[B, …]``) padded waveforms, after fixed-length fitting.
        labels: ``[B]`` class indices (one-hot encoded over ``num_classes``, so soft labels sum to
            one per row; ``multi_label=True`` converts them to ICBHI ``(crackle, wheeze)`` flags
            instead), or ``[B, C]`` flags or class probabilities, mixed as given (``num_classes`` is
            then unused). Mixed multi-label flags are soft targets in ``[0, 1]`` for a sigmoid + BCE
            head: a flag present in one of the two items becomes λ or 1−λ (rather than the union).
        num_classes: the number of classes for 1-D indices.
        alpha: the Beta(α, α) concentration (> 0); small α keeps λ near 0 or 1.
        generator: the source of λ and of the permutation (``None``: torch's global generator).
        multi_label: see ``labels``.

    Returns:
        ``(mixed_waveforms, soft_labels [B, C] float32, lam, permutation [B])``. One λ for the whole
        batch. With padded batches, the mixed item's attention mask is
        ``attention_mask | attention_mask[permutation]``.
    """
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float))
        or not (math.isfinite(alpha) and alpha > 0)
    ):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if waveforms.dim() < 1 or labels.dim() < 1 or labels.shape[0] != waveforms.shape[0]:
        raise ValueError(
            f"waveforms {tuple(waveforms.shape)} and labels {tuple(labels.shape)} need the same batch size"
        )
    targets = _label_targets(labels, num_classes, multi_label).to(labels.device)
    lam = _sample_beta(float(alpha), generator)
    device = generator.device if generator is not None else torch.device("cpu")
    permutation = torch.randperm(waveforms.shape[0], generator=generator, device=device).to(waveforms.device)
    mixed = lam * waveforms + (1.0 - lam) * waveforms[permutation]
    soft = lam * targets + (1.0 - lam) * targets[permutation.to(targets.device)]
    return mixed.to(waveforms.dtype), soft, lam, permutation


# --------------------------------------------------------------------------------------------------
# configuration

AUGMENTATIONS: dict[str, type[Augmentation]] = {
    cls.name: cls for cls in (WhiteNoise, Gain, TimeShift, TimeStretch, PitchShift)
}
"""Names usable in :func:`build_augmentation` specs, in their documented order."""


def build_augmentation(spec: Mapping[str, Mapping[str, Any] | None] | None) -> Compose | None:
    """A :class:`Compose` from a config mapping, in the mapping's order; ``None`` for an empty spec.

    E.g. ``{"white_noise": {"snr_db": [20, 40], "probability": 0.5}, "time_shift": {"mode": "pad"}}``;
    a name mapped to ``None`` (or ``{}``) uses that augmentation's defaults. Raises ValueError for an
    unknown augmentation (listing the valid names), an unknown parameter or a bad value (naming it).
    """
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(f"augmentation spec must be a mapping of name -> parameters, got {spec!r}")
    transforms: list[Augmentation] = []
    for name, given in spec.items():
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; valid names: {', '.join(AUGMENTATIONS)}")
        cls = AUGMENTATIONS[name]
        params = {} if given is None else given
        if not isinstance(params, Mapping):
            raise ValueError(f"augmentation {name!r}: parameters must be a mapping, got {params!r}")
        valid = [f.name for f in fields(cls)]
        for key in params:
            if key not in valid:
                raise ValueError(
                    f"augmentation {name!r}: unknown parameter {key!r}; valid parameters: {', '.join(valid)}"
                )
        try:
            transforms.append(cls(**params))
        except ValueError as error:
            raise ValueError(f"augmentation {name!r}: {error}") from None
    return Compose(transforms)
