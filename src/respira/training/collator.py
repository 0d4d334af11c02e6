"""Batches ICBHI cycles for training: decode, augment (deterministically), pad, attach labels and metadata."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import TrainerCallback

from ..models.respira.audio_decoding import DEFAULT_SAMPLING_RATE, decode_audio
from ..models.respira.audio_dsp import pad_batch
from ..models.respira.labels import CLASS_NAMES
from .augment import SameLabelConcat, build_augmentation

if TYPE_CHECKING:
    from .training_args import RespiraTrainingArguments

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


def training_collator(config: Any, args: RespiraTrainingArguments, train_dataset: Any) -> AudioCollator:
    """The collator of a training run: ``args``' augmentation and same-label concatenation."""
    concat = None
    if args.concat_same_label > 0 and train_dataset is not None and "label" in train_dataset.column_names:
        names = {name.strip() for name in args.concat_classes.split(",") if name.strip()}
        classes = tuple(sorted(CLASS_NAMES.index(name) for name in names))
        concat = SameLabelConcat(
            DatasetCyclePool(train_dataset, config.sampling_rate),
            probability=args.concat_same_label,
            classes=classes,
            sampling_rate=config.sampling_rate,
        )
    return AudioCollator(
        sampling_rate=config.sampling_rate,
        augment=build_augmentation(args.augmentation_spec),
        concat=concat,
        seed=args.seed,
        views=args.views,
    )


class EpochToCollator(TrainerCallback):
    """Tells the collator the epoch: augmentation is seeded by (seed, epoch, example)."""

    def __init__(self, collator: AudioCollator) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch or 0)
