"""Recipes: YAML files of model, data, run and training options, parsed with ``HfArgumentParser``.

Every key of a recipe is a field of one of :class:`ModelArguments`, :class:`DataArguments`,
:class:`RunArguments` or :class:`RespiraTrainingArguments`; command-line flags (``--field value``)
override it. Unknown keys and flags are errors that name them (with the closest valid names).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from ..labels import MULTI_LABEL, SINGLE_LABEL
from ..models.encoders import DEFAULT_ENCODER, encoder_names, encoder_specs
from .arguments import RespiraTrainingArguments, _as_dict

_DEFAULT_CHECKPOINTS = ", ".join(
    f"{spec.name} default: {spec.default_checkpoint}" for spec in encoder_specs() if spec.default_checkpoint
)


@dataclass
class ModelArguments:
    """Which encoder, and how the classifier around it is built (see :class:`respira.RespiraConfig`)."""

    encoder: str = field(
        default=DEFAULT_ENCODER,
        metadata={"help": f"{', '.join(encoder_names()[:-1])} or {encoder_names()[-1]}"},
    )
    encoder_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": f"pretrained encoder: a Hub id or folder ({_DEFAULT_CHECKPOINTS}); none = random init"
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
    target_seconds: float = field(default=8.0, metadata={"help": "fixed cycle length in seconds"})
    pad_mode: str = field(default="repeat", metadata={"help": "repeat or zero"})
    crop_mode: str = field(default="start", metadata={"help": "start or center"})
    ast_length_policy: str = field(default="adapt", metadata={"help": "AST: pad (to 1024 frames) or adapt"})
    spec_augment: str | None = field(default=None, metadata={"help": "JSON SpecAugment options"})
    pooling: str = field(default="mean", metadata={"help": "mean, cls, cls_distill or attention"})
    head: str = field(default="linear", metadata={"help": "linear or mlp"})
    head_dropout: float = field(default=0.1)
    projector_dim: int | None = field(default=128, metadata={"help": "projection size for auxiliary losses"})
    class_weights: str | None = field(
        default=None, metadata={"help": "'balanced' (inverse train frequency) or comma-separated weights"}
    )
    freeze_encoder: bool = field(default=False)
    lora_r: int = field(
        default=0,
        metadata={
            "help": "LoRA rank on the attention projections "
            f"({', '.join(spec.name for spec in encoder_specs() if spec.lora_targets)}); 0 = off"
        },
    )


@dataclass
class DataArguments:
    """Where the ICBHI corpus is and how it is split."""

    data_dir: str | None = field(default=None, metadata={"help": "folder of an ICBHI download (required)"})
    split_strategy: str = field(default="official", metadata={"help": "official or patient"})
    validation_size: float = field(
        default=0.2, metadata={"help": "official split: share of train for validation"}
    )
    patient_split_fractions: str = field(default="0.6,0.2,0.2", metadata={"help": "patient split fractions"})
    stratify_by: str = field(default="chest_location")
    lowpass_cutoff: float | None = field(default=None, metadata={"help": "Butterworth low-pass (Hz)"})
    split_seed: int = field(default=0, metadata={"help": "seed of the validation / patient split"})
    train_fraction: float = field(
        default=1.0,
        metadata={"help": "keep this share of the training patients' cycles (label-efficiency studies)"},
    )
    dataset_cache_dir: str | None = field(default=None)
    num_proc: int | None = field(default=None)


@dataclass
class RunArguments:
    """Seeds, schedule and output handling of a run."""

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
    overwrite: bool = field(
        default=False, metadata={"help": "replace an output_dir that already holds a run"}
    )


DATACLASSES = (ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments)


def _field_names() -> set[str]:
    return {f.name for cls in DATACLASSES for f in fields(cls) if f.init}


def _check_keys(keys: list[str], source: str) -> None:
    valid = _field_names()
    unknown = [key for key in keys if key not in valid]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=2)
            hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise ValueError(f"unknown option(s) in {source}: {', '.join(hints)}")


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The options of a YAML recipe, checked against the known fields."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {str(path)!r} not found")
    try:
        options = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(options, dict):
        raise ValueError(f"{path}: a recipe is a mapping of option: value, got a {type(options).__name__}")
    _check_keys(list(options), str(path))
    return {key: json.dumps(value) if isinstance(value, dict) else value for key, value in options.items()}


def parse_recipe(
    recipe: str | Path | None, overrides: list[str] | None = None, **forced: Any
) -> tuple[ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments]:
    """Parse a recipe and ``--field value`` overrides into the four argument dataclasses."""
    options = load_recipe(recipe) if recipe is not None else {}
    options.update(forced)
    flags = [arg[2:].split("=", 1)[0] for arg in overrides or [] if arg.startswith("--")]
    _check_keys(flags, "the command line")
    parser = HfArgumentParser(DATACLASSES)
    parser.set_defaults(**options)
    return tuple(parser.parse_args_into_dataclasses(args=list(overrides or [])))


def parse_seeds(seeds: str | int | list | None, default: int) -> list[int]:
    if seeds is None or seeds == "":
        return [default]
    if isinstance(seeds, int):
        return [seeds]
    values = seeds if isinstance(seeds, list) else str(seeds).replace(" ", "").split(",")
    try:
        return [int(value) for value in values if str(value) != ""]
    except ValueError:
        raise ValueError(f"seeds must be comma-separated integers, got {seeds!r}") from None


def json_option(value: str | dict | None, name: str) -> dict[str, Any]:
    return _as_dict(value, name)
