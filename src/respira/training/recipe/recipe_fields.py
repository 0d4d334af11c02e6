"""The options of a run besides the training arguments: :class:`ModelArguments`, :class:`DataArguments`
and :class:`RunArguments`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...models.respira.audio_dsp import DEFAULT_LOWPASS_ORDER
from ...models.respira.encoders import DEFAULT_ENCODER, encoder_names, encoder_specs
from ...models.respira.labels import MULTI_LABEL, SINGLE_LABEL
from ...models.respira.windows import DEFAULT_HOP_SECONDS, DEFAULT_WINDOW_SECONDS

__all__ = ["DataArguments", "ModelArguments", "RunArguments"]

_DEFAULT_CHECKPOINTS = ", ".join(
    f"{spec.name} default: {spec.default_checkpoint}" for spec in encoder_specs() if spec.default_checkpoint
)


@dataclass
class ModelArguments:
    """Which encoder, and how the classifier around it is built (see :class:`respira.RespiraConfig`)."""

    _argument_group_name = "model"  # HfArgumentParser: this dataclass's flags form one group

    encoder: str = field(
        default=DEFAULT_ENCODER,
        metadata={"help": f"{', '.join(encoder_names()[:-1])} or {encoder_names()[-1]}"},
    )
    encoder_name_or_path: str | None = field(
        default=None,
        metadata={
            "aliases": ["--model_name_or_path"],
            "help": f"pretrained encoder: a Hub id or folder ({_DEFAULT_CHECKPOINTS}); none = random init; "
            "without --encoder, the encoder family is read from the checkpoint's config",
        },
    )
    encoder_config: str | None = field(
        default=None,
        metadata={"help": "JSON object of encoder config options for a randomly initialised encoder"},
    )
    problem_type: str = field(
        default=SINGLE_LABEL,
        metadata={"help": f"{SINGLE_LABEL} (4 classes) or {MULTI_LABEL} (crackle, wheeze)"},
    )
    sampling_rate: int | None = field(
        default=None,
        metadata={
            "help": "rate (Hz) of the model's input audio and of the dataset built for it; default: "
            + ", ".join(f"{spec.name} {spec.sampling_rate}" for spec in encoder_specs())
            + " (the rate each family was pretrained at)"
        },
    )
    target_seconds: float = field(
        default=8.0,
        metadata={"aliases": ["--max_length_seconds"], "help": "fixed cycle length in seconds"},
    )
    pad_mode: str = field(default="repeat", metadata={"help": "repeat or zero"})
    ast_length_policy: str = field(default="adapt", metadata={"help": "AST: pad (to 1024 frames) or adapt"})
    spec_augment: str | None = field(default=None, metadata={"help": "JSON SpecAugment options"})
    pooling: str = field(
        default="mean",
        metadata={
            "help": "mean, cls_distill (AST), or autopool (the clip's logits auto-pooled from the "
            "head's logits on each time step: for frame-level training)"
        },
    )
    head: str = field(
        default="linear",
        metadata={"help": "linear: dropout then one linear layer (the only head since mlp was retired)"},
    )
    head_dropout: float = field(default=0.1)
    head_norm: bool = field(
        default=False,
        metadata={"help": "standardise each pooled-embedding feature before the head (frozen encoders)"},
    )
    head_hidden_size: int | None = field(
        default=None,
        metadata={
            "help": "a trainable linear+ReLU layer shared by the classifier and the projector (lets an "
            "auxiliary loss shape the classifier's features with a frozen encoder); none = off"
        },
    )
    projector_dim: int | None = field(default=128, metadata={"help": "projection size for auxiliary losses"})
    freeze_encoder: bool = field(
        default=False,
        metadata={"aliases": ["--freeze_feature_encoder"], "help": "train the head only"},
    )
    lora_r: int = field(
        default=0,
        metadata={
            "help": "LoRA rank on the attention projections "
            f"({', '.join(spec.name for spec in encoder_specs() if spec.lora_targets)}); 0 = off"
        },
    )


@dataclass
class DataArguments:
    """Where the ICBHI corpus (or a prepared ``datasets`` dataset) is and how it is split."""

    _argument_group_name = "data"  # HfArgumentParser: this dataclass's flags form one group

    data_dir: str | None = field(
        default=None,
        metadata={"help": "folder of an ICBHI download (or of a dataset written by respira prepare)"},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "instead of data_dir: a Hub dataset id or a folder written by respira prepare "
            "--output_dir; its own splits are used (the split options below do not apply)"
        },
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "dataset_name: its config; unset = the dataset's default config"}
    )
    audio_column_name: str = field(
        default="audio", metadata={"help": "dataset_name: the column holding the audio (datasets.Audio)"}
    )
    label_column_name: str = field(
        default="label",
        metadata={"help": "dataset_name: the column holding the class (normal, crackle, wheeze, both)"},
    )
    split_strategy: str = field(
        default="official",
        metadata={
            "help": "official, patient, patient_kfold (k-fold cross-validation over patients) or "
            "leave_one_device_out (one fold per stethoscope; test = all its recordings)"
        },
    )
    num_folds: int = field(
        default=5,
        metadata={"help": "patient_kfold: number of folds (every fold x seed is trained)"},
    )
    fold_stratify_by: str | None = field(
        default=None, metadata={"help": "patient_kfold: a column stratified besides the class"}
    )
    validation_size: float = field(
        default=0.2,
        metadata={"help": "official split / patient_kfold: share of the training cycles for validation"},
    )
    patient_split_fractions: str = field(default="0.6,0.2,0.2", metadata={"help": "patient split fractions"})
    stratify_by: str = field(default="chest_location")
    lowpass_cutoff: float | None = field(
        default=None,
        metadata={
            "help": "zero-phase Butterworth low-pass of the recordings (Hz); saved with the model, so "
            "evaluate, predict and the pipeline apply it too"
        },
    )
    lowpass_order: int = field(
        default=DEFAULT_LOWPASS_ORDER,
        metadata={"help": "order of that Butterworth low-pass (a prepared dataset's own is recorded)"},
    )
    split_seed: int = field(default=0, metadata={"help": "seed of the validation / patient split"})
    train_fraction: float = field(
        default=1.0,
        metadata={"help": "keep this share of the training patients' cycles (label-efficiency studies)"},
    )
    corpora: str | None = field(
        default=None,
        metadata={
            "help": "train on several corpora, e.g. icbhi,kauh (a recipe list: [icbhi, kauh]): ICBHI cycles "
            "from data_dir are split as usual; every recording of a recording-labelled corpus (kauh) "
            "joins training as a bag of windows (multiple-instance loss, the max of its windows)"
        },
    )
    corpus_dirs: str | None = field(
        default=None,
        metadata={"help": 'corpora: the folder of each corpus but icbhi, e.g. {"kauh": "../shared/kauh"}'},
    )
    corpus_window_seconds: float = field(
        default=DEFAULT_WINDOW_SECONDS,
        metadata={"help": "corpora: window length recordings are cut into (respira predict's default)"},
    )
    corpus_hop_seconds: float = field(
        default=DEFAULT_HOP_SECONDS, metadata={"help": "corpora: seconds between window starts"}
    )
    dataset_cache_dir: str | None = field(default=None)
    num_proc: int | None = field(default=None)


@dataclass
class RunArguments:
    """Seeds, schedule and output handling of a run."""

    _argument_group_name = "run"  # HfArgumentParser: this dataclass's flags form one group

    seeds: str | None = field(
        default=None, metadata={"help": "comma-separated seeds: one run each, mean ± std"}
    )
    schedule: str = field(
        default="standard", metadata={"help": "standard or contrastive_two_stage (Song et al. 2021)"}
    )
    two_stage_rounds: int = field(default=1, metadata={"help": "contrastive_two_stage: alternations"})
    head_epochs: float = field(
        default=10.0, metadata={"help": "contrastive_two_stage: epochs of each head stage"}
    )
    head_learning_rate: float = field(
        default=1e-3,
        metadata={"help": "contrastive_two_stage: learning rate of each head stage (a fresh linear head)"},
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace an output_dir that already holds a run"}
    )
