"""A recipe's keys as ``respira train``'s ``--field value`` flags, and their ``--help``.

``HfArgumentParser``'s ``add_argument`` calls for :data:`DATACLASSES` are recorded
(:func:`respira.options.option_specs`) and replayed with respira's help into :func:`flag_parser`, whose
flags default to ``argparse.SUPPRESS`` so that parsing yields only the flags given.
"""

from __future__ import annotations

import argparse
import difflib
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NoReturn

from transformers import HfArgumentParser, TrainingArguments
from transformers.hf_argparser import string_to_bool

from ...measured import split_note, with_note
from ...options import checked_values, option_specs
from .arguments import RespiraTrainingArguments
from .recipe_fields import DataArguments, ModelArguments, RunArguments

DATACLASSES = (ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments)
_ALIASES: dict[str, str] = {  # other tools' names for an option (suggested before close spellings)
    "epochs": "num_train_epochs",
    "max_epochs": "num_train_epochs",
    "lr": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "train_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
}


def _field_names() -> set[str]:
    return {f.name for cls in DATACLASSES for f in fields(cls) if f.init}


def field_suggestions(key: str) -> list[str]:
    """The fields an unknown ``key`` may mean: respira's name for another tool's (``lr``), else up to three
    close spellings or fields containing it."""
    alias = _ALIASES.get(key.replace("-", "_"))
    if alias:
        return [alias]
    valid = _field_names()
    close = difflib.get_close_matches(key, valid, n=2)
    ratios = [difflib.SequenceMatcher(None, key, name).ratio() for name in close]
    close = [name for name, ratio in zip(close, ratios, strict=True) if ratio >= ratios[0] - 0.1]
    return close + [name for name in sorted(valid) if key in name and name not in close][: 3 - len(close)]


def check_keys(keys: list[str], source: str) -> None:
    """Raise a one-line ``ValueError`` naming the ``keys`` that are no recipe field, with suggestions."""
    unknown = [key for key in keys if key not in _field_names()]
    if unknown:
        hints = []
        for key in unknown:
            close = field_suggestions(key)
            hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise ValueError(f"unknown option(s) in {source}: {', '.join(hints)}")


class RecipeParser(HfArgumentParser):
    """``HfArgumentParser`` whose errors are one-line ``ValueError``s, not a usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(f"command line: {message}")


COMMON_TRAINING_OPTIONS: tuple[str, ...] = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "per_device_train_batch_size",
    "seed",
    "resume_from_checkpoint",
)
"""The ``TrainingArguments`` fields ``--help`` lists; the others are accepted but not listed."""

RECIPE_ONLY_OPTIONS: tuple[str, ...] = (
    "ast_length_policy",
    "head",
    "lowpass_order",
    "dataset_cache_dir",
    "num_proc",
    "corpus_window_seconds",
    "corpus_hop_seconds",
    "two_stage_rounds",
    "head_epochs",
    "head_learning_rate",
    "group_by_key",
    "concat_classes",
    "threshold_folds",
    "mil_weight",
)
"""respira's fields a recipe sets beside the option they serve: accepted as flags, left out of ``--help``."""

_NOT_FLAGS = ("debug",)  # TrainingArguments.debug: recipes only (``--debug`` is respira's traceback switch)
FLAG_GROUPS: dict[str, str] = {
    "model": "Which encoder, and how the classifier around it is built. transformers' names are "
    "accepted too: --model_name_or_path, --max_length_seconds, --freeze_feature_encoder.",
    "data": "Where the ICBHI corpus is and how it is split; or a prepared dataset (--dataset_name, "
    "names as in transformers' run_audio_classification.py) with its own splits.",
    "run": "Seeds, schedule and output handling of a run.",
    "training": "respira's options (auxiliary loss, batches, augmentation) and the transformers."
    "TrainingArguments options set most. Every TrainingArguments field is accepted as --field value "
    "(https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments).",
}
"""The dataclasses' ``_argument_group_name``, in ``--help``'s order, with its description."""
_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT", string_to_bool: "BOOL"}


@dataclass(frozen=True)
class Flag:
    """One recipe field's flag: its group, field, listed spellings, ``add_argument`` keywords, whether
    ``--help`` lists it, the spellings accepted unlisted and whether it is recipe-only."""

    group: str
    dest: str
    option_strings: tuple[str, ...]
    options: dict[str, Any]
    listed: bool
    hidden_strings: tuple[str, ...] = ()
    recipe_only: bool = False


def _shown_default(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, (list, tuple)):
        return ",".join(str(getattr(item, "value", item)) for item in value) or "none"
    return str(getattr(value, "value", value))


def _training_defaults() -> dict[str, Any]:
    try:
        arguments = RespiraTrainingArguments()
    except Exception:
        return {}
    return {f.name: getattr(arguments, f.name) for f in fields(arguments) if f.init}


def _flag(group: str, names: tuple[str, ...], options: dict[str, Any], resolved: dict[str, Any]) -> Flag:
    """One recorded ``add_argument`` call; a listed one gets its default, measured note and a metavar."""
    trainer_fields = {f.name for f in fields(TrainingArguments)}
    own_fields = {f.name for cls in DATACLASSES for f in fields(cls)} - trainer_fields
    dest = options.get("dest") or names[0][2:]
    complement = names[0] != f"--{dest}"  # --no_field of a field defaulting to True
    shown = tuple(name for name in names if "-" not in name[2:])
    hidden = tuple(name for name in names if name not in shown)
    recipe_only = not complement and dest in RECIPE_ONLY_OPTIONS
    listed = not complement and not recipe_only and (dest in own_fields or dest in COMMON_TRAINING_OPTIONS)
    default = resolved.get(dest, options.get("default"))
    options = {**options, "default": argparse.SUPPRESS}
    if not listed and not recipe_only:
        return Flag(group, dest, (), {**options, "help": argparse.SUPPRESS}, False, names)
    text, _ = split_note(str(options.get("help") or "").strip())  # a field's own help may carry its note
    described = f"{text.rstrip('.')} (default: {_shown_default(default)})"
    options["help"] = with_note(dest, described).replace("%", "%%")
    choices = options.get("choices")
    if choices is None or len(choices) > 6:
        options["metavar"] = _METAVARS.get(options.get("type"), "VALUE") if choices is None else "NAME"
    if recipe_only:
        return Flag(group, dest, (), options, False, names, recipe_only=True)
    return Flag(group, dest, shown, options, True, hidden)


def recipe_flags() -> tuple[Flag, ...]:
    """Every recipe field's flags, by group, respira's own before ``TrainingArguments``' (less ``debug``)."""
    trainer_fields = {f.name for f in fields(TrainingArguments)}
    resolved = _training_defaults()
    flags = [_flag(*call, resolved) for call in option_specs(DATACLASSES)]
    flags = [flag for flag in flags if flag.dest not in _NOT_FLAGS]
    order = list(FLAG_GROUPS)
    return tuple(sorted(flags, key=lambda flag: (order.index(flag.group), flag.dest in trainer_fields)))


def flag_parser() -> argparse.ArgumentParser:
    """A parent parser (no ``-h``) with one flag per recipe field, by group."""
    parser = RecipeParser([], add_help=False, allow_abbrev=False)
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
    )
    groups = {
        title: parser.add_argument_group(title, textwrap.fill(text, 90, break_long_words=False))
        for title, text in FLAG_GROUPS.items()
    }
    for flag in recipe_flags():
        group = groups[flag.group]
        if flag.option_strings:
            group.add_argument(*flag.option_strings, **flag.options)
        if flag.hidden_strings:
            hidden = {k: v for k, v in flag.options.items() if k != "metavar"}
            hidden.update(dest=flag.dest, help=argparse.SUPPRESS)
            group.add_argument(*flag.hidden_strings, **hidden)
    return parser


def command_line_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given as flags in ``namespace`` (from a parser with :func:`flag_parser`'s flags)."""
    names = _field_names() - set(_NOT_FLAGS)
    return {name: value for name, value in vars(namespace).items() if name in names}


def override_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Recipe fields given as Python values (``None``: not given), checked as their flags are."""
    return checked_values(values, DATACLASSES, suggest=field_suggestions)


def parse_flags(arguments: Sequence[str]) -> dict[str, Any]:
    """``--field value`` strings as typed field values; unknown flags are named (with the closest fields)."""
    if not arguments:
        return {}
    namespace, extra = flag_parser().parse_known_args(list(arguments), argparse.Namespace())
    unknown = [arg[2:].split("=", 1)[0] for arg in extra if arg.startswith("--")]
    check_keys(unknown, "the command line")
    if extra:
        raise ValueError(f"command line: unexpected argument {extra[0]!r} (options are --field value)")
    return command_line_options(namespace)
