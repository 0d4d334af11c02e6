"""Waveform augmentations of one cycle (numpy), their argument checks, an audiomentations transform as one,
and :func:`build_augmentation` from a recipe mapping.

:class:`AudiomentationsTransform` draws one seed from the collator's ``rng`` per call and seeds Python's
:mod:`random` and NumPy's global generator with it for the call, restoring their states afterwards;
respira does not depend on audiomentations: any object with its calling convention works.

See :mod:`respira.training.augment` for what each one simulates and the calling convention.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
from transformers.audio_utils import hertz_to_mel

from ...audio.decoding import DEFAULT_SAMPLING_RATE
from .stretch import BLOCK_SAMPLES, INTERVAL_SAMPLES, check_fft_sizes, pitch_shift, stretch

__all__ = [
    "AUGMENTATIONS",
    "AudiomentationsTransform",
    "Augmentation",
    "Compose",
    "FrequencyResponse",
    "Gain",
    "PitchShift",
    "TimeShift",
    "TimeStretch",
    "WaveformTransform",
    "WhiteNoise",
    "build_augmentation",
    "is_audiomentations_transform",
]

WaveformTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def as_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float32 view (or copy) of ``waveform``; raises ValueError otherwise."""
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {array.shape}")
    return array


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}"
        )
    return rng


def check_probability(value: Any, name: str = "probability") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_range(value: Any, name: str, *, positive: bool = False) -> tuple[float, float]:
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


def is_audiomentations_transform(value: Any) -> bool:
    """Whether ``value`` looks like an audiomentations transform or composition (duck-typed)."""
    return callable(value) and all(
        callable(getattr(value, name, None)) for name in ("randomize_parameters", "freeze_parameters")
    )


class AudiomentationsTransform:
    """``(waveform, rng) → waveform`` around an audiomentations ``transform`` at ``sampling_rate`` Hz."""

    def __init__(self, transform: Any, sampling_rate: int) -> None:
        if not is_audiomentations_transform(transform):
            raise TypeError(
                "expected an audiomentations transform or Compose (called as transform(samples=..., "
                f"sample_rate=...)), got {transform!r}"
            )
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
        self.transform, self.sampling_rate = transform, sampling_rate

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        seed = int(check_rng(rng).integers(2**32))
        python_state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            result = self.transform(samples=signal.copy(), sample_rate=self.sampling_rate)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
        return as_waveform(result)

    def __repr__(self) -> str:
        return f"AudiomentationsTransform({self.transform!r}, sampling_rate={self.sampling_rate})"


class Augmentation:
    """Base class: with ``probability``, apply :meth:`apply` to a 1-D float32 waveform."""

    name: ClassVar[str] = ""
    probability: float

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        if check_rng(rng).random() >= self.probability:
            return signal
        return np.asarray(self.apply(signal, rng), dtype=np.float32)

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmentation itself (always applied); ``waveform`` is 1-D float32."""
        raise NotImplementedError


@dataclass(frozen=True)
class WhiteNoise(Augmentation):
    """Additive white Gaussian noise at an SNR drawn uniformly from ``snr_db`` (dB)."""

    snr_db: tuple[float, float] = (15.0, 40.0)
    probability: float = 0.5
    name: ClassVar[str] = "white_noise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_db", check_range(self.snr_db, "snr_db"))
        object.__setattr__(self, "probability", check_probability(self.probability))

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
        object.__setattr__(self, "db", check_range(self.db, "db"))
        object.__setattr__(self, "probability", check_probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return waveform * np.float32(10.0 ** (rng.uniform(*self.db) / 20.0))


@dataclass(frozen=True)
class TimeShift(Augmentation):
    """Shift by an integer number of samples drawn uniformly from ``±max_fraction · len``."""

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
        object.__setattr__(self, "probability", check_probability(self.probability))

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
    """Change the duration, not the pitch: rate drawn from ``rate``; length ``round(len / rate)``."""

    rate: tuple[float, float] = (0.8, 1.2)
    n_fft: int = BLOCK_SAMPLES
    hop_length: int = INTERVAL_SAMPLES
    probability: float = 0.5
    name: ClassVar[str] = "time_stretch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_range(self.rate, "rate", positive=True))
        check_fft_sizes(self.n_fft, self.hop_length)
        object.__setattr__(self, "probability", check_probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rate = rng.uniform(*self.rate)
        return stretch(waveform, rate, block_samples=self.n_fft, interval_samples=self.hop_length)


@dataclass(frozen=True)
class PitchShift(Augmentation):
    """Change the pitch by ``s`` semitones (drawn uniformly from ``semitones``), keeping the length."""

    semitones: tuple[float, float] = (-2.0, 2.0)
    n_fft: int = BLOCK_SAMPLES
    hop_length: int = INTERVAL_SAMPLES
    probability: float = 0.5
    name: ClassVar[str] = "pitch_shift"

    def __post_init__(self) -> None:
        object.__setattr__(self, "semitones", check_range(self.semitones, "semitones"))
        check_fft_sizes(self.n_fft, self.hop_length)
        object.__setattr__(self, "probability", check_probability(self.probability))

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        semitones = rng.uniform(*self.semitones)
        return pitch_shift(waveform, semitones, block_samples=self.n_fft, interval_samples=self.hop_length)


@dataclass(frozen=True)
class FrequencyResponse(Augmentation):
    """A random smooth frequency response: another stethoscope's or microphone's colouring of the sound."""

    db: tuple[float, float] = (-6.0, 6.0)
    bands: tuple[int, int] = (3, 6)
    probability: float = 0.5
    sampling_rate: int = DEFAULT_SAMPLING_RATE
    name: ClassVar[str] = "frequency_response"

    def __post_init__(self) -> None:
        object.__setattr__(self, "db", check_range(self.db, "db"))
        low, high = check_range(self.bands, "bands", positive=True)
        if low != int(low) or high != int(high):
            raise ValueError(f"bands must be a [low, high] pair of whole numbers >= 1, got {self.bands!r}")
        object.__setattr__(self, "bands", (int(low), int(high)))
        rate = self.sampling_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"sampling_rate must be a positive whole number of Hz, got {rate!r}")
        object.__setattr__(self, "probability", check_probability(self.probability))

    def response_db(self, frequencies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one response: its gain in dB at each of ``frequencies`` (Hz, 0 to Nyquist)."""
        count = int(rng.integers(self.bands[0], self.bands[1] + 1))
        top = float(hertz_to_mel(self.sampling_rate / 2, mel_scale="kaldi"))
        knots = np.concatenate([[0.0], np.sort(rng.uniform(0.0, top, count - 1)), [top]])
        gains = rng.uniform(*self.db, knots.size)
        mels = hertz_to_mel(np.asarray(frequencies, dtype=np.float64), mel_scale="kaldi")
        return np.interp(mels, knots, gains)

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if waveform.size < 2:  # no band to colour
            return waveform
        frequencies = np.fft.rfftfreq(waveform.size, d=1.0 / self.sampling_rate)
        gains = self.response_db(frequencies, rng)
        spectrum = np.fft.rfft(waveform.astype(np.float64))
        return np.fft.irfft(spectrum * 10.0 ** (gains / 20.0), n=waveform.size)


class Compose:
    """Apply ``transforms`` in order, each with its own probability, sharing one generator."""

    def __init__(self, transforms: Sequence[WaveformTransform]) -> None:
        self.transforms: tuple[WaveformTransform, ...] = tuple(transforms)
        for transform in self.transforms:
            if not callable(transform):
                raise TypeError(f"Compose expects callables (waveform, rng) -> waveform, got {transform!r}")

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        check_rng(rng)
        for transform in self.transforms:
            signal = as_waveform(transform(signal, rng))
        return signal

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[WaveformTransform]:
        return iter(self.transforms)

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


AUGMENTATIONS: dict[str, type[Augmentation]] = {
    cls.name: cls for cls in (WhiteNoise, Gain, TimeShift, TimeStretch, PitchShift, FrequencyResponse)
}
"""Names usable in :func:`build_augmentation` specs, in their documented order."""


def build_augmentation(spec: Any, *, sampling_rate: int = DEFAULT_SAMPLING_RATE) -> Compose | None:
    """A :class:`Compose` from a config mapping, in the mapping's order; ``None`` for an empty spec."""
    if is_audiomentations_transform(spec):
        return Compose([AudiomentationsTransform(spec, sampling_rate)])
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(
            "augmentation must be a mapping of name -> parameters (or, in Python, an audiomentations "
            f"transform), got {spec!r}"
        )
    transforms: list[Augmentation] = []
    for name, given in spec.items():
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; valid names: {', '.join(AUGMENTATIONS)}")
        cls = AUGMENTATIONS[name]
        params = {} if given is None else given
        if not isinstance(params, Mapping):
            raise ValueError(f"augmentation {name!r}: parameters must be a mapping, got {params!r}")
        declared = [f.name for f in fields(cls)]
        valid = [field for field in declared if field != "sampling_rate"]  # the model's rate, set below
        for key in params:
            if key not in valid:
                raise ValueError(
                    f"augmentation {name!r}: unknown parameter {key!r}; valid parameters: {', '.join(valid)}"
                )
        rate = {"sampling_rate": sampling_rate} if "sampling_rate" in declared else {}
        try:
            transforms.append(cls(**params, **rate))
        except ValueError as error:
            raise ValueError(f"augmentation {name!r}: {error}") from None
    return Compose(transforms)
