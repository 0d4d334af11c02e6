"""A run's options: :class:`RespiraTrainingArguments` (transformers' ``TrainingArguments`` plus auxiliary
losses, samplers, augmentation and thresholds), :class:`ModelArguments`, :class:`DataArguments` and
:class:`RunArguments`; and the classifier the model options describe (:func:`build_model`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainingArguments

from ..metrics.thresholds import THRESHOLD_OBJECTIVES
from ..models.respira.audio_decoding import DEFAULT_LOWPASS_ORDER, check_whole
from ..models.respira.encoders import DEFAULT_ENCODER, encoder_names, encoder_specs, get_encoder_spec
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL, SINGLE_LABEL
from ..models.respira.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS
from ..options import FOLDERS, check_fields, flag

if TYPE_CHECKING:
    from torch import nn


def _check_length(args: Any) -> None:
    if args.max_steps != -1:
        args.max_steps = check_whole(args.max_steps, "max_steps (-1: train num_train_epochs)")
    elif args.num_train_epochs == 0:
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


_TRAINING_RANGES = {  # option: the interval its value lies in
    "learning_rate": "[0, inf)",
    "weight_decay": "[0, inf)",
    "num_train_epochs": "[0, inf)",
    "per_device_train_batch_size": "[1, inf)",
    "per_device_eval_batch_size": "[1, inf)",
    "gradient_accumulation_steps": "[1, inf)",
    "aux_loss_weight": "[0, inf)",
    "task_loss_weight": "[0, inf)",
    "views": "[1, inf)",
    "concat_same_label": "[0, 1]",
    "early_stopping_patience": "[1, inf)",
    "augmented_views": "[0, inf)",
    "threshold_folds": "[2, inf)",
    "mil_weight": "[0, inf)",
}
_TRAINING_CHOICES = {
    "batch_sampler": ("random", "contrastive_tuple"),
    "threshold_objective": THRESHOLD_OBJECTIVES,
    "threshold_source": ("validation", "cross_fit"),
    "threshold_aggregation": ("pooled", "worst_domain"),
    "aux_input": ("projections", "embeddings"),
}


@dataclass
class RespiraTrainingArguments(TrainingArguments):
    """``TrainingArguments`` for respira: task loss + λ·auxiliary loss, batch composition, augmentation."""

    _argument_group_name = "training"  # HfArgumentParser: these flags form one group (respira train --help)

    aux_loss: str | None = flag(
        None,
        "auxiliary loss: contrastive_tuple, supcon, metadata_contrastive, stethoscope_supcon, add, patch_mix",
    )
    aux_loss_weight: float = flag(1.0, "λ: total loss = task loss + λ · aux loss")
    task_loss_weight: float = flag(1.0, "weight of the classification loss (0: train the embedding alone)")
    aux_loss_options: str | None = flag(
        None, "JSON object of the auxiliary loss's options (a mapping in YAML)"
    )
    aux_input: str = flag("projections", "what the auxiliary loss sees: projections or embeddings")
    batch_sampler: str = flag(
        "random",
        "batch composition: random, or contrastive_tuple (the contrastive-tuple loss's [anchors, positives])",
    )
    group_by_key: str = flag("device", "metadata column of threshold_aggregation's recording domains")
    augmentation: str | None = flag(
        None,
        "JSON object of waveform augmentations: white_noise, gain, time_shift, time_stretch "
        "(respira.training.collator)",
    )
    concat_same_label: float = flag(
        0.0, "probability of appending a same-label cycle (concatenation augmentation)"
    )
    concat_classes: str = flag("wheeze", "comma-separated classes the concatenation augmentation applies to")
    views: int = flag(1, "augmented views of each training example (2 for self-supervised losses)")
    cache_embeddings: bool = flag(
        False, "with a frozen encoder: precompute embeddings once and train the head on them"
    )
    augmented_views: int | None = flag(
        None,
        "with a frozen encoder and waveform augmentation: embed K augmented views of each "
        "training cycle (plus the clean one) once, seeded by the run seed, and train the head on them, "
        "one view per cycle per epoch; 0 = clean embeddings only; implies cache_embeddings",
    )
    early_stopping_patience: int | None = flag(
        None, "stop after this many evaluations without improvement (validation)"
    )
    dataloader_pin_memory: bool | None = flag(
        None,
        "pin DataLoader memory for faster host-to-device copies; default: true when the run "
        "uses an accelerator (GPU), false on the CPU",
    )
    threshold_objective: str = flag(
        "icbhi_score",
        "multi-label models: what the decision thresholds are tuned for on validation at every "
        "evaluation (icbhi_score, f1) or fixed (0.5)",
    )
    threshold_source: str = flag(
        "validation",
        "multi-label models: where the kept model's thresholds are tuned: on validation, or "
        "cross_fit: on the out-of-fold predictions of threshold_folds models trained like it on the "
        "training pool (train + validation) less a group of patients (threshold_folds more trainings)",
    )
    threshold_folds: int = flag(5, "threshold_source=cross_fit: patient groups of the training pool")
    threshold_aggregation: str = flag(
        "pooled",
        "threshold_source=cross_fit: the thresholds maximise threshold_objective on every "
        "out-of-fold prediction pooled, or worst_domain: its minimum over the pool's recording domains "
        "(group_by_key, e.g. each device), the thresholds that do best on the domain they do worst on",
    )
    mil_weight: float = flag(1.0, "corpora with recording labels: weight of the bag BCE beside the cycle BCE")

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
        check_fields(self, _TRAINING_RANGES, _TRAINING_CHOICES)
        _check_length(self)
        self.aux_loss_kwargs = json_option(self.aux_loss_options, "aux_loss_options")
        self.augmentation_spec = json_option(self.augmentation, "augmentation")
        from .collator import build_augmentation

        build_augmentation(self.augmentation_spec)  # a typo fails here, not after the data is built
        if self.aux_loss:  # a typo in the loss or its options fails here, not after the data is built
            from ..losses import build_auxiliary_loss

            try:
                build_auxiliary_loss(self.aux_loss, **self.aux_loss_kwargs)
            except (TypeError, ValueError) as error:
                raise ValueError(f"aux_loss={self.aux_loss!r}: {error}") from None
        unknown = [name for name in self.concat_classes.split(",") if name.strip() not in CLASS_NAMES]
        if unknown:
            raise ValueError(f"concat_classes names {unknown}, not classes ({', '.join(CLASS_NAMES)})")
        if self.batch_sampler == "contrastive_tuple" and self.per_device_train_batch_size % 2:
            raise ValueError(
                "contrastive_tuple batches are [anchors, positives]: per_device_train_batch_size must be even"
            )
        if self.early_stopping_patience is not None and not self.load_best_model_at_end:
            raise ValueError(
                "early_stopping_patience needs load_best_model_at_end=True (selection on validation)"
            )


_DEFAULT_CHECKPOINTS = ", ".join(
    f"{spec.name} default: {spec.default_checkpoint}" for spec in encoder_specs() if spec.default_checkpoint
)


@dataclass
class ModelArguments:
    """Which encoder, and how the classifier around it is built (see :class:`respira.RespiraConfig`)."""

    _argument_group_name = "model"  # HfArgumentParser: this dataclass's flags form one group

    encoder: str = flag(DEFAULT_ENCODER, f"{', '.join(encoder_names()[:-1])} or {encoder_names()[-1]}")
    encoder_name_or_path: str | None = flag(
        None,
        f"pretrained encoder: a Hub id or folder ({_DEFAULT_CHECKPOINTS}); none = random init; "
        "without --encoder, the encoder family is read from the checkpoint's config",
        aliases=["--model_name_or_path"],
    )
    encoder_config: str | None = flag(
        None, "JSON object of encoder config options for a randomly initialised encoder"
    )
    problem_type: str = flag(SINGLE_LABEL, f"{SINGLE_LABEL} (4 classes) or {MULTI_LABEL} (crackle, wheeze)")
    sampling_rate: int | None = flag(
        None,
        "rate (Hz) of the model's input audio and of the dataset built for it; default: "
        + ", ".join(f"{spec.name} {spec.sampling_rate}" for spec in encoder_specs())
        + " (the rate each family was pretrained at)",
    )
    target_seconds: float = flag(8.0, "fixed cycle length in seconds", aliases=["--max_length_seconds"])
    pad_mode: str = flag("repeat", "repeat or zero")
    ast_length_policy: str = flag("adapt", "AST: pad (to 1024 frames) or adapt")
    spec_augment: str | None = flag(None, "JSON SpecAugment options")
    pooling: str = flag(
        "mean",
        "mean, cls_distill (AST), or autopool (the clip's logits auto-pooled from the "
        "head's logits on each time step: for frame-level training)",
    )
    head: str = flag("linear", "linear: dropout then one linear layer (the only head since mlp was retired)")
    head_dropout: float = field(default=0.1)
    head_norm: bool = flag(
        False, "standardise each pooled-embedding feature before the head (frozen encoders)"
    )
    head_hidden_size: int | None = flag(
        None,
        "a trainable linear+ReLU layer shared by the classifier and the projector (lets an "
        "auxiliary loss shape the classifier's features with a frozen encoder); none = off",
    )
    projector_dim: int | None = flag(128, "projection size for auxiliary losses")
    freeze_encoder: bool = flag(False, "train the head only")
    freeze_feature_encoder: bool = flag(
        False,
        "as transformers' run_audio_classification.py: freeze a wav2vec 2.0-family encoder's convolutional "
        "feature encoder (the rest trains); freeze_encoder trains the head only",
    )
    use_weighted_layer_sum: bool = flag(
        False,
        "wav2vec 2.0 family, Whisper, AST: pool the softmax-weighted sum of every hidden state (learnt "
        "weights, as transformers' sequence-classification heads) instead of the last",
    )
    lora_r: int = flag(
        0,
        "LoRA rank on the attention projections "
        f"({', '.join(spec.name for spec in encoder_specs() if spec.lora_targets)}); 0 = off",
    )

    def __post_init__(self) -> None:
        ranges = {
            "sampling_rate": "[1, inf)",
            "head_dropout": "[0, 1)",
            "projector_dim": "[1, inf)",
            "lora_r": "[0, inf)",
        }
        check_fields(self, ranges, {"encoder": encoder_names()})


@dataclass
class DataArguments:
    """Where the ICBHI corpus (or a prepared ``datasets`` dataset) is and how it is split."""

    _argument_group_name = "data"  # HfArgumentParser: this dataclass's flags form one group

    data_dir: str | None = flag(
        None,
        "folder of an ICBHI download, or several folders read as one corpus (a recipe list: [A, B]); or "
        "a folder of a dataset written by respira prepare",
        **FOLDERS,
    )
    dataset_name: str | None = flag(
        None,
        "instead of data_dir: a Hub dataset id or a folder written by respira prepare "
        "--output_dir; its own splits are used (the split options below do not apply)",
    )
    dataset_config_name: str | None = flag(
        None, "dataset_name: its config; unset = the dataset's default config"
    )
    audio_column_name: str = flag("audio", "dataset_name: the column holding the audio (datasets.Audio)")
    label_column_name: str = flag(
        "label", "dataset_name: the column holding the class (normal, crackle, wheeze, both)"
    )
    split_strategy: str = flag(
        "official",
        "official, patient, patient_kfold (k-fold cross-validation over patients) or "
        "leave_one_device_out (one fold per stethoscope; test = all its recordings)",
    )
    num_folds: int = flag(5, "patient_kfold: number of folds (every fold x seed is trained)")
    fold_stratify_by: str | None = flag(None, "patient_kfold: a column stratified besides the class")
    validation_size: float = flag(
        0.2, "official split / patient_kfold: share of the training cycles for validation"
    )
    patient_split_fractions: str = flag("0.6,0.2,0.2", "patient split fractions")
    stratify_by: str = field(default="chest_location")
    lowpass_cutoff: float | None = flag(
        None,
        "zero-phase Butterworth low-pass of the recordings (Hz); saved with the model, so "
        "evaluate, predict and the pipeline apply it too",
    )
    lowpass_order: int = flag(
        DEFAULT_LOWPASS_ORDER, "order of that Butterworth low-pass (a prepared dataset's own is recorded)"
    )
    split_seed: int = flag(0, "seed of the validation / patient split")
    train_fraction: float = flag(
        1.0, "keep this share of the training patients' cycles (label-efficiency studies)"
    )
    corpora: str | None = flag(
        None,
        "train on several corpora, e.g. icbhi,kauh (a recipe list: [icbhi, kauh]): ICBHI cycles "
        "from data_dir are split as usual; every recording of a recording-labelled corpus (kauh) "
        "joins training as a bag of windows (multiple-instance loss, the max of its windows)",
    )
    corpus_dirs: str | None = flag(
        None,
        'corpora: the folder of each corpus but icbhi, e.g. {"kauh": "../shared/kauh"}, or a list of the '
        'folders it spans: {"kauh": ["A", "B"]}',
    )
    corpus_window_seconds: float = flag(
        DEFAULT_WINDOW_SECONDS, "corpora: window length recordings are cut into (respira predict's default)"
    )
    corpus_hop_seconds: float = flag(DEFAULT_HOP_SECONDS, "corpora: seconds between window starts")
    dataset_cache_dir: str | None = field(default=None)
    num_proc: int | None = field(default=None)

    def __post_init__(self) -> None:
        ranges = {"validation_size": "[0, 1)", "train_fraction": "(0, 1]", "num_proc": "[1, inf)"}
        check_fields(self, ranges, {})


@dataclass
class RunArguments:
    """Seeds, schedule and output handling of a run."""

    _argument_group_name = "run"  # HfArgumentParser: this dataclass's flags form one group

    seeds: str | None = flag(None, "comma-separated seeds: one run each, mean ± std")
    schedule: str = flag("standard", "standard or contrastive_two_stage (Song et al. 2021)")
    two_stage_rounds: int = flag(1, "contrastive_two_stage: alternations")
    head_epochs: float = flag(10.0, "contrastive_two_stage: epochs of each head stage")
    head_learning_rate: float = flag(
        1e-3, "contrastive_two_stage: learning rate of each head stage (a fresh linear head)"
    )
    overwrite: bool = flag(False, "replace an output_dir that already holds a run")

    def __post_init__(self) -> None:
        ranges = {"two_stage_rounds": "[1, inf)", "head_epochs": "(0, inf)", "head_learning_rate": "(0, inf)"}
        check_fields(self, ranges, {"schedule": ("standard", "contrastive_two_stage")})
        parse_seeds(self.seeds, 0)


def parse_seeds(seeds: str | int | list | None, default: int) -> list[int]:
    if seeds is None or seeds == "":
        return [default]
    if isinstance(seeds, int):
        return [seeds]
    values = seeds if isinstance(seeds, list) else str(seeds).replace(" ", "").split(",")
    try:
        parsed = [int(value) for value in values if str(value) != ""]
    except ValueError:
        raise ValueError(f"seeds must be comma-separated integers, got {seeds!r}") from None
    out_of_range = [seed for seed in parsed if not 0 <= seed < 2**32]  # numpy's and torch's seed range
    if out_of_range:
        raise ValueError(f"seeds must lie in [0, 2**32 - 1], got {out_of_range[0]} in {seeds!r}")
    repeated = sorted({seed for seed in parsed if parsed.count(seed) > 1})
    if repeated:
        raise ValueError(f"seeds {seeds!r} repeat {', '.join(map(str, repeated))}: each seed trains once")
    return parsed


ENCODER_OPTIONS = ("encoder", "encoder_name_or_path", "encoder_config", "lora_r")
"""The :class:`ModelArguments` that are not :class:`~respira.models.RespiraConfig` options."""


def encoder_checkpoint(model: ModelArguments) -> str | None:
    """Where the encoder's weights come from: the recipe's ``encoder_name_or_path`` or the family default."""
    source = model.encoder_name_or_path
    if source is None and not json_option(model.encoder_config, "encoder_config"):
        source = get_encoder_spec(model.encoder).default_checkpoint
    return source


def model_sampling_rate(model: ModelArguments) -> int:
    """The rate (Hz) of the recipe's model and dataset: ``sampling_rate``, else its encoder family's."""
    return model.sampling_rate or get_encoder_spec(model.encoder).sampling_rate


def config_options(
    model: ModelArguments, *, lowpass_cutoff: float | None = None, lowpass_order: int = DEFAULT_LOWPASS_ORDER
) -> dict[str, Any]:
    """The :class:`~respira.models.RespiraConfig` options of the recipe's classifier, less its encoder's."""
    options = {f.name: getattr(model, f.name) for f in fields(model) if f.name not in ENCODER_OPTIONS}
    return {
        **options,
        "sampling_rate": model_sampling_rate(model),
        "spec_augment": json_option(model.spec_augment, "spec_augment") or None,
        "lowpass_cutoff": lowpass_cutoff or None,
        "lowpass_order": int(lowpass_order),
    }


def encoder_config(model: ModelArguments) -> dict[str, Any]:
    """The config of a randomly initialised encoder: its family's ``model_type`` and ``encoder_config``."""
    model_type = get_encoder_spec(model.encoder).model_type
    return {"model_type": model_type, **json_option(model.encoder_config, "encoder_config")}


def build_model(
    model: ModelArguments,
    *,
    lowpass_cutoff: float | None = None,
    lowpass_order: int = DEFAULT_LOWPASS_ORDER,
) -> nn.Module:
    """A fresh classifier for the recipe (pretrained encoder weights when ``encoder_name_or_path`` is set)."""
    from ..models import RespiraConfig, RespiraForAudioClassification

    options = config_options(model, lowpass_cutoff=lowpass_cutoff, lowpass_order=lowpass_order)
    source = encoder_checkpoint(model)
    if source is not None:
        classifier = RespiraForAudioClassification.from_encoder_pretrained(source, **options)
    else:
        config = RespiraConfig(encoder_config=encoder_config(model), **options)
        classifier = RespiraForAudioClassification(config)
    if model.lora_r:
        from ..models.lora import add_lora

        return add_lora(classifier, r=model.lora_r, alpha=2 * model.lora_r)
    return classifier
