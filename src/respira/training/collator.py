"""Batches ICBHI cycles for training: decode, augment (deterministically), pad, attach labels and metadata.
The waveform augmentations of one cycle, each called as ``augmentation(waveform, rng)`` after its
``probability`` coin (:func:`build_augmentation`), and same-label concatenation (:class:`SameLabelConcat`)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np
import python_stretch
import torch
from transformers import TrainerCallback

from ..models.respira.audio_decoding import DEFAULT_SAMPLING_RATE, decode_audio, is_real, pad_batch

BLOCK_SAMPLES, INTERVAL_SAMPLES = 1920, 480  # 120 ms blocks, 30 ms hop: Signalsmith's 16 kHz preset


def stretch(waveform: np.ndarray, rate: float = 1.0) -> np.ndarray:
    """``waveform`` played ``rate`` times faster (> 1: shorter), its pitch kept: exactly
    ``round(len / rate)`` float32 samples. Deterministic: the same input and rate, the same output."""
    signal = np.ascontiguousarray(waveform, dtype=np.float32)
    target = round(signal.size / rate)
    if signal.size == 0 or target == 0:
        return np.zeros(target, dtype=np.float32)
    stretcher = python_stretch.Signalsmith.Stretch(0)  # a fixed seed: reproducible in every version
    stretcher.configure(1, BLOCK_SAMPLES, INTERVAL_SAMPLES)
    stretcher.setTimeFactor(float(rate))
    stretched = np.asarray(stretcher.process(signal[None])[0], dtype=np.float32)
    # trim, or zero-pad at the end: the library rounds the length its own way, one sample apart
    return stretched[:target] if stretched.size >= target else np.pad(stretched, (0, target - stretched.size))


WaveformTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def as_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float32 view (or copy) of ``waveform``."""
    array = np.asarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got an array of shape {array.shape}")
    return array


def check_probability(value: Any, name: str = "probability") -> float:
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_range(value: Any, name: str, *, positive: bool = False) -> tuple[float, float]:
    message = f"{name} must be a [low, high] pair of numbers with low <= high, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(message)
    if not all(is_real(v) for v in value):
        raise ValueError(message)
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(message)
    if positive and low <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return low, high


class Augmentation:
    """Base class: with ``probability``, apply :meth:`apply` to a 1-D float32 waveform."""

    name: ClassVar[str] = ""
    probability: float
    ranges: ClassVar[dict[str, bool]] = {}  # its [low, high] fields, checked as made (True: positive)

    def __post_init__(self) -> None:
        for name, positive in self.ranges.items():
            object.__setattr__(self, name, check_range(getattr(self, name), name, positive=positive))
        object.__setattr__(self, "probability", check_probability(self.probability))

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        if rng.random() >= self.probability:
            return signal
        return np.asarray(self.apply(signal, rng), dtype=np.float32)

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class WhiteNoise(Augmentation):
    """Additive white Gaussian noise at an SNR drawn uniformly from ``snr_db`` (dB)."""

    snr_db: tuple[float, float] = (15.0, 40.0)
    probability: float = 0.5
    name: ClassVar[str] = "white_noise"
    ranges: ClassVar[dict[str, bool]] = {"snr_db": False}

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
    ranges: ClassVar[dict[str, bool]] = {"db": False}

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return waveform * np.float32(10.0 ** (rng.uniform(*self.db) / 20.0))


@dataclass(frozen=True)
class TimeShift(Augmentation):
    """Roll by an integer number of samples drawn uniformly from ``±max_fraction · len``."""

    max_fraction: float = 0.2
    probability: float = 0.5
    name: ClassVar[str] = "time_shift"

    def __post_init__(self) -> None:
        fraction = self.max_fraction
        if not is_real(fraction) or not 0 <= fraction < 1:
            raise ValueError(f"max_fraction must be a number in [0, 1), got {fraction!r}")
        object.__setattr__(self, "max_fraction", float(fraction))
        super().__post_init__()

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        limit = int(self.max_fraction * waveform.size)
        return np.roll(waveform, int(rng.integers(-limit, limit + 1)))


@dataclass(frozen=True)
class TimeStretch(Augmentation):
    """Change the duration, not the pitch: rate drawn from ``rate``; length ``round(len / rate)``."""

    rate: tuple[float, float] = (0.8, 1.2)
    probability: float = 0.5
    name: ClassVar[str] = "time_stretch"
    ranges: ClassVar[dict[str, bool]] = {"rate": True}

    def apply(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return stretch(waveform, rng.uniform(*self.rate))


class Compose:
    """Apply ``transforms`` in order, each with its own probability, sharing one generator."""

    def __init__(self, transforms: Sequence[WaveformTransform]) -> None:
        self.transforms: tuple[WaveformTransform, ...] = tuple(transforms)

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        for transform in self.transforms:
            signal = as_waveform(transform(signal, rng))
        return signal

    def __repr__(self) -> str:  # the embedding cache keys augmented views by it
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


AUGMENTATIONS: dict[str, type[Augmentation]] = {
    cls.name: cls for cls in (WhiteNoise, Gain, TimeShift, TimeStretch)
}


def build_augmentation(spec: Any) -> Compose | None:
    """A :class:`Compose` from a recipe mapping (name → parameters), in its order; ``None`` when empty."""
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(f"augmentation must be a mapping of name -> parameters, got {spec!r}")
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


CyclePool = Callable[[int, np.random.Generator], np.ndarray | None]


def _crossfade_concat(first: np.ndarray, second: np.ndarray, overlap: int) -> np.ndarray:
    """``first`` then ``second``, overlapping by ``overlap`` samples with an equal-power crossfade."""
    overlap = min(overlap, first.size // 2, second.size // 2)
    if overlap == 0:
        return np.concatenate([first, second]).astype(np.float32)
    ramp = (np.arange(overlap) + 0.5) / overlap * (np.pi / 2.0)
    joint = first[first.size - overlap :] * np.cos(ramp) + second[:overlap] * np.sin(ramp)
    return np.concatenate([first[: first.size - overlap], joint, second[overlap:]]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SameLabelConcat:
    """With ``probability``, append a cycle of the same class (of ``classes``; ``None``: any) drawn from
    ``pool``, crossfaded, truncated to ``max_seconds``."""

    pool: CyclePool
    probability: float = 0.5
    classes: tuple[int, ...] | None = (2,)
    max_seconds: float = 8.0
    sampling_rate: int = 16_000
    crossfade_ms: float = 10.0

    def __call__(self, waveform: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
        signal = as_waveform(waveform)
        if rng.random() >= self.probability:
            return signal
        limit = round(self.max_seconds * self.sampling_rate)
        if (self.classes is not None and int(label) not in self.classes) or signal.size >= limit:
            return signal
        other = self.pool(int(label), rng)
        if other is None or len(other) == 0:
            return signal
        crossfade = round(self.crossfade_ms * self.sampling_rate / 1000.0)
        return _crossfade_concat(signal, as_waveform(other), crossfade)[:limit]


METADATA_KEYS: tuple[str, ...] = ("patient_id", "device", "chest_location", "sex", "age_group", "recording")
"""Metadata passed to auxiliary losses as integer codes (equal codes ⇔ equal values; -1 = missing)."""

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def metadata_code(value: Any) -> int:
    """A stable integer code for a metadata value (the same in every process and run)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return -1
    if isinstance(value, (int, np.integer)):
        return int(value)
    return zlib.crc32(str(value).encode())


def age_group(age: float | None) -> int:
    """0 child (< 18 years), 1 adult, -1 unknown: the age metadata of metadata-contrastive pre-training."""
    if age is None or np.isnan(age):
        return -1
    return 0 if age < 18 else 1


@dataclass
class AudioCollator:
    """``list[example] → {"input_values", "attention_mask", "labels", "metadata"}`` (or ``embeddings``);
    ``bags`` for windows of recording-labelled corpora."""

    sampling_rate: int = DEFAULT_SAMPLING_RATE
    augment: Augment | None = None
    concat: Callable[[np.ndarray, int, np.random.Generator], np.ndarray] | None = None
    seed: int = 0
    views: int = 1
    training: bool = True
    epoch: int = field(default=0, repr=False)

    def example_rng(self, example: Mapping[str, Any], view: int = 0) -> np.random.Generator:
        identity = [metadata_code(example.get("recording")), int(example.get("cycle_index", 0) or 0)]
        return np.random.default_rng([self.seed, self.epoch, view, *[abs(v) for v in identity]])

    def waveform(self, example: Mapping[str, Any], view: int = 0) -> np.ndarray:
        samples = decode_audio(example["audio"], self.sampling_rate)
        if samples.size == 0:
            raise ValueError(
                f"empty audio in example {example.get('recording')}:{example.get('cycle_index')}"
            )
        if not self.training:
            return samples
        rng = self.example_rng(example, view)
        if self.concat is not None and "label" in example:
            samples = self.concat(samples, int(example["label"]), rng)
        if self.augment is not None:
            samples = self.augment(samples, rng)
        return samples.astype(np.float32, copy=False)

    def metadata(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        columns = {}
        for key in METADATA_KEYS:
            if key == "age_group" and "age" in features[0]:
                values = [age_group(example["age"]) for example in features]
            elif key in features[0]:
                values = [metadata_code(example[key]) for example in features]
            else:
                continue
            columns[key] = torch.tensor(values, dtype=torch.long)
        return columns

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        if "embeddings" in features[0]:
            batch["embeddings"] = torch.tensor(
                np.asarray([f["embeddings"] for f in features], dtype=np.float32)
            )
        else:
            views = self.views if self.training else 1  # view-major: all first views, then all second views
            waveforms = [self.waveform(f, view) for view in range(views) for f in features]
            batch["input_values"], batch["attention_mask"] = pad_batch(waveforms)
        if "label" in features[0]:
            batch["labels"] = torch.tensor([int(f["label"]) for f in features], dtype=torch.long)
        if "bag" in features[0]:  # multi-corpus training: the recording each window belongs to (-1: a cycle)
            batch["bags"] = torch.tensor([int(f["bag"]) for f in features], dtype=torch.long)
        if metadata := self.metadata(features):
            batch["metadata"] = metadata
        return batch


def view_waveform(collator: AudioCollator, example: Mapping[str, Any], view: int) -> np.ndarray:
    """View ``view`` of a training example: 0 its clean waveform, ``k ≥ 1`` what ``collator`` gives it in
    training at epoch ``k - 1``."""
    if view == 0:
        return replace(collator, training=False).waveform(example)
    return replace(collator, training=True, epoch=view - 1).waveform(example, 0)


class DatasetCyclePool:
    """``(label, rng) → waveform``: a random cycle of that label from a dataset (same-label concatenation)."""

    def __init__(self, dataset: Any, sampling_rate: int) -> None:
        labels = np.asarray(dataset["label"])
        self.dataset, self.sampling_rate = dataset, sampling_rate
        self.indices = {int(label): np.flatnonzero(labels == label) for label in np.unique(labels)}

    def __call__(self, label: int, rng: np.random.Generator) -> np.ndarray | None:
        candidates = self.indices.get(int(label))
        if candidates is None or len(candidates) == 0:
            return None
        return decode_audio(self.dataset[int(rng.choice(candidates))]["audio"], self.sampling_rate)


class EpochToCollator(TrainerCallback):
    """Tells the collator the epoch: augmentation is seeded by (seed, epoch, example)."""

    def __init__(self, collator: AudioCollator) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch or 0)
