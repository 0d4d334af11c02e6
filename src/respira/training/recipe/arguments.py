"""Training options: transformers' ``TrainingArguments`` plus auxiliary losses, samplers and augmentation."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainingArguments

from ...metrics.thresholds import THRESHOLD_OBJECTIVES
from ...models.respira.labels import CLASS_NAMES

# (option, lowest allowed value, highest allowed value or None); an int lowest: a whole number
_RANGES: tuple[tuple[str, float, float | None], ...] = (
    ("learning_rate", 0.0, None),
    ("weight_decay", 0.0, None),
    ("num_train_epochs", 0.0, None),
    ("per_device_train_batch_size", 1, None),
    ("per_device_eval_batch_size", 1, None),
    ("gradient_accumulation_steps", 1, None),
    ("aux_loss_weight", 0.0, None),
    ("task_loss_weight", 0.0, None),
    ("views", 1, None),
    ("concat_same_label", 0.0, 1.0),
    ("early_stopping_patience", 1, None),
    ("augmented_views", 0, None),
    ("threshold_folds", 2, None),
    ("mil_weight", 0.0, None),
)
_OPTIONAL = ("early_stopping_patience", "augmented_views")  # None: off


def _check_ranges(args: Any) -> None:
    for name, low, high in _RANGES:
        value = getattr(args, name)
        if value is None and name in _OPTIONAL:
            continue
        whole = isinstance(low, int)
        kinds = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            raise ValueError(f"{name} must be {'a whole number' if whole else 'a number'}, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if high is not None else f"at least {low}"
            raise ValueError(f"{name} must be {bounds}, got {value!r}")


def _check_length(args: Any) -> None:
    steps = args.max_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or (steps < 1 and steps != -1):
        raise ValueError(
            f"max_steps must be a positive number of steps, or -1 to train num_train_epochs; got {steps!r}"
        )
    if steps == -1 and args.num_train_epochs == 0:
        raise ValueError("num_train_epochs is 0 and max_steps is not set: nothing would be trained")


def json_option(value: dict[str, Any] | str | None, name: str) -> dict[str, Any]:
    """A dict option given as a dict (YAML) or a JSON string (command line)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"--{name} must be a JSON object, got {value!r} ({error.msg})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"--{name} must be a JSON object, got {value!r}")
    return parsed


@dataclass
class RespiraTrainingArguments(TrainingArguments):
    """``TrainingArguments`` for respira: task loss + λ·auxiliary loss, batch composition, augmentation."""

    _argument_group_name = "training"  # HfArgumentParser: these flags form one group (respira train --help)

    aux_loss: str | None = field(
        default=None,
        metadata={
            "help": "auxiliary loss: contrastive_tuple, supcon, metadata_contrastive, stethoscope_supcon, "
            "add, patch_mix"
        },
    )
    aux_loss_weight: float = field(default=1.0, metadata={"help": "λ: total loss = task loss + λ · aux loss"})
    task_loss_weight: float = field(
        default=1.0, metadata={"help": "weight of the classification loss (0: train the embedding alone)"}
    )
    aux_loss_options: str | None = field(
        default=None, metadata={"help": "JSON object of the auxiliary loss's options (a mapping in YAML)"}
    )
    aux_input: str = field(
        default="projections", metadata={"help": "what the auxiliary loss sees: projections or embeddings"}
    )
    batch_sampler: str = field(
        default="random",
        metadata={
            "help": "batch composition: random, or contrastive_tuple (the contrastive-tuple loss's "
            "[anchors, positives])"
        },
    )
    group_by_key: str = field(
        default="device",
        metadata={"help": "metadata column of threshold_aggregation's recording domains"},
    )
    augmentation: str | None = field(
        default=None,
        metadata={
            "help": "JSON object of waveform augmentations: white_noise, gain, time_shift, time_stretch "
            "(respira.training.augment)"
        },
    )
    concat_same_label: float = field(
        default=0.0,
        metadata={"help": "probability of appending a same-label cycle (concatenation augmentation)"},
    )
    concat_classes: str = field(
        default="wheeze",
        metadata={"help": "comma-separated classes the concatenation augmentation applies to"},
    )
    views: int = field(
        default=1,
        metadata={"help": "augmented views of each training example (2 for self-supervised losses)"},
    )
    cache_embeddings: bool = field(
        default=False,
        metadata={"help": "with a frozen encoder: precompute embeddings once and train the head on them"},
    )
    augmented_views: int | None = field(
        default=None,
        metadata={
            "help": "with a frozen encoder and waveform augmentation: embed K augmented views of each "
            "training cycle (plus the clean one) once, seeded by the run seed, and train the head on them, "
            "one view per cycle per epoch; 0 = clean embeddings only; implies cache_embeddings"
        },
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "stop after this many evaluations without improvement (validation)"}
    )
    dataloader_pin_memory: bool | None = field(
        default=None,
        metadata={
            "help": "pin DataLoader memory for faster host-to-device copies; default: true when the run "
            "uses an accelerator (GPU), false on the CPU"
        },
    )
    threshold_objective: str = field(
        default="icbhi_score",
        metadata={
            "help": "multi-label models: what the decision thresholds are tuned for on validation at every "
            "evaluation (icbhi_score, f1) or fixed (0.5)"
        },
    )
    threshold_source: str = field(
        default="validation",
        metadata={
            "help": "multi-label models: where the kept model's thresholds are tuned: on validation, or "
            "cross_fit: on the out-of-fold predictions of threshold_folds models trained like it on the "
            "training pool (train + validation) less a group of patients (threshold_folds more trainings)"
        },
    )
    threshold_folds: int = field(
        default=5, metadata={"help": "threshold_source=cross_fit: patient groups of the training pool"}
    )
    threshold_aggregation: str = field(
        default="pooled",
        metadata={
            "help": "threshold_source=cross_fit: the thresholds maximise threshold_objective on every "
            "out-of-fold prediction pooled, or worst_domain: its minimum over the pool's recording domains "
            "(group_by_key, e.g. each device), the thresholds that do best on the domain they do worst on"
        },
    )
    mil_weight: float = field(
        default=1.0,
        metadata={"help": "corpora with recording labels: weight of the bag BCE beside the cycle BCE"},
    )

    def __post_init__(self) -> None:
        several_processes = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.ddp_backend is None and several_processes and not torch.cuda.is_available():
            # several processes (accelerate launch / torchrun) on CPU: without a backend, transformers
            # starts no process group and every process would silently train alone
            self.ddp_backend = "gloo"
        if self.dataloader_pin_memory is None:  # pinning without an accelerator only warns, at every epoch
            self.dataloader_pin_memory = not self.use_cpu and torch.accelerator.is_available()
        if self.metric_for_best_model is None:
            self.metric_for_best_model = "icbhi_score"
            self.greater_is_better = True
        super().__post_init__()
        _check_ranges(self)
        _check_length(self)
        self.aux_loss_kwargs = json_option(self.aux_loss_options, "aux_loss_options")
        self.augmentation_spec = json_option(self.augmentation, "augmentation")
        from ..augment import build_augmentation

        build_augmentation(self.augmentation_spec)  # a typo fails here, not after the data is built
        if self.aux_loss:  # a typo in the loss or its options fails here, not after the data is built
            from ...losses import build_auxiliary_loss

            try:
                build_auxiliary_loss(self.aux_loss, **self.aux_loss_kwargs)
            except (TypeError, ValueError) as error:
                raise ValueError(f"aux_loss={self.aux_loss!r}: {error}") from None
        unknown = [name for name in self.concat_classes.split(",") if name.strip() not in CLASS_NAMES]
        if unknown:
            raise ValueError(f"concat_classes names {unknown}, not classes ({', '.join(CLASS_NAMES)})")
        choices = {
            "batch_sampler": ("random", "contrastive_tuple"),
            "threshold_objective": THRESHOLD_OBJECTIVES,
            "threshold_source": ("validation", "cross_fit"),
            "threshold_aggregation": ("pooled", "worst_domain"),
            "aux_input": ("projections", "embeddings"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.batch_sampler == "contrastive_tuple" and self.per_device_train_batch_size % 2:
            raise ValueError(
                "contrastive_tuple batches are [anchors, positives]: per_device_train_batch_size must be even"
            )
        if self.early_stopping_patience is not None and not self.load_best_model_at_end:
            raise ValueError(
                "early_stopping_patience needs load_best_model_at_end=True (selection on validation)"
            )
