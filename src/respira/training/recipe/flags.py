"""The ``--field value`` flags of ``respira train`` and ``respira sweep``, and their ``--help``.

One argparse parser is built by ``HfArgumentParser`` from the four recipe dataclasses
(:data:`respira.training.recipe.recipe_keys.DATACLASSES`): each dataclass is one argument group (its
``_argument_group_name``: model, data, run, training), each field one flag with its type, its help text
(the field's ``metadata["help"]``) and its default. The commands use it as an argparse *parent*, so
``--help`` lists the fields and a flag's value is converted (or refused, in one line) while the command
line is parsed. Every flag's default is ``argparse.SUPPRESS``: parsing yields only the flags given,
which then override the recipe (:func:`respira.training.recipe.recipe.parse_recipe`).

``transformers.TrainingArguments`` has over a hundred fields: all are accepted, the help lists
respira's own and :data:`COMMON_TRAINING_OPTIONS`, each ending with its default and then what BENCHMARKS.md
measured of it (:mod:`respira.measured`). ``TrainingArguments.debug`` is left to recipes:
on the command line ``--debug`` shows respira's tracebacks.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from transformers import TrainingArguments
from transformers.hf_argparser import string_to_bool

from ...measured import split_note, with_note
from .arguments import RespiraTrainingArguments
from .recipe_keys import DATACLASSES, _check_keys, _RecipeParser

__all__ = [
    "COMMON_TRAINING_OPTIONS",
    "FlagHelpFormatter",
    "command_line_options",
    "flag_parser",
    "parse_flags",
]

COMMON_TRAINING_OPTIONS: tuple[str, ...] = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "optim",
    "max_grad_norm",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "load_best_model_at_end",
    "metric_for_best_model",
    "logging_steps",
    "seed",
    "bf16",
    "fp16",
    "use_cpu",
    "dataloader_num_workers",
    "report_to",
    "resume_from_checkpoint",
)
"""The ``TrainingArguments`` fields ``--help`` lists (all the others are accepted too)."""

_NOT_FLAGS = ("debug",)  # TrainingArguments.debug: recipes only (``--debug`` is respira's traceback switch)
_GROUP_DESCRIPTIONS = {
    "model": "Which encoder, and how the classifier around it is built. transformers' names are "
    "accepted too: --model_name_or_path, --max_length_seconds, --freeze_feature_encoder.",
    "data": "Where the ICBHI corpus is and how it is split; or a prepared dataset (--dataset_name, "
    "names as in transformers' run_audio_classification.py) with its own splits.",
    "run": "Seeds, schedule and output handling of a run.",
    "training": "respira's options (auxiliary loss, batches, augmentation) and the most used "
    "transformers.TrainingArguments options. Every TrainingArguments field is accepted as --field value "
    "(https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments).",
}
_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT", string_to_bool: "BOOL"}


def _shown_default(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, (list, tuple)):
        return ",".join(str(getattr(item, "value", item)) for item in value) or "none"
    return str(getattr(value, "value", value))


def _training_defaults() -> dict[str, Any]:
    """The values a default ``RespiraTrainingArguments`` resolves to (``metric_for_best_model`` is
    ``icbhi_score``, not ``None``); the fields' declared defaults if it cannot be built here."""
    try:
        arguments = RespiraTrainingArguments()
    except Exception:
        return {}
    return {f.name: getattr(arguments, f.name) for f in fields(arguments) if f.init}


def flag_parser() -> argparse.ArgumentParser:
    """A parent parser (no ``-h``) with one flag per recipe field, in the groups model, data, run, training.

    Flags default to ``argparse.SUPPRESS`` (only given flags are parsed); each listed flag's help ends
    with the field's default. Its own errors are one-line ``ValueError``s.
    """
    parser = _RecipeParser(DATACLASSES, add_help=False, allow_abbrev=False, conflict_handler="resolve")
    # replaces TrainingArguments' --debug (argparse's conflict resolution removes that action)
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
    )
    trainer_fields = {f.name for f in fields(TrainingArguments)}
    own_fields = {f.name for cls in DATACLASSES for f in fields(cls)} - trainer_fields
    for group in parser._action_groups:
        if group.title in _GROUP_DESCRIPTIONS:
            group.description = textwrap.fill(_GROUP_DESCRIPTIONS[group.title], 90, break_long_words=False)
    # respira's own training options first, then TrainingArguments' (a parser copies its parents'
    # actions in this order; the sort is stable, so every other order is kept)
    parser._actions.sort(key=lambda action: action.dest in trainer_fields)
    for group in parser._action_groups:
        group._group_actions.sort(key=lambda action: action.dest in trainer_fields)
    resolved = _training_defaults()
    for action in parser._actions:
        if (
            action.dest in _NOT_FLAGS
            or not action.option_strings
            or action.dest not in trainer_fields | own_fields
        ):
            continue
        complement = (
            action.option_strings[0] != f"--{action.dest}"
        )  # --no_field of a field defaulting to True
        listed = action.dest in own_fields or action.dest in COMMON_TRAINING_OPTIONS
        if complement or not listed:
            action.help = argparse.SUPPRESS
        else:
            text, _ = split_note((action.help or "").strip())  # a field's own help may carry its note
            default = resolved.get(action.dest, action.default)
            shown = f"{text.rstrip('.')} (default: {_shown_default(default)})"
            action.help = with_note(action.dest, shown).replace("%", "%%")
            if action.choices is None or len(action.choices) > 6:
                action.metavar = _METAVARS.get(action.type, "VALUE") if action.choices is None else "NAME"
        action.default = argparse.SUPPRESS
    return parser


def command_line_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given as flags in ``namespace`` (from a parser with :func:`flag_parser`'s flags)."""
    names = {f.name for cls in DATACLASSES for f in fields(cls) if f.init} - set(_NOT_FLAGS)
    return {name: value for name, value in vars(namespace).items() if name in names}


def parse_flags(arguments: Sequence[str]) -> dict[str, Any]:
    """``--field value`` strings as typed field values; unknown flags are named (with the closest fields)."""
    if not arguments:
        return {}
    namespace, extra = flag_parser().parse_known_args(list(arguments), argparse.Namespace())
    unknown = [arg[2:].split("=", 1)[0] for arg in extra if arg.startswith("--")]
    _check_keys(unknown, "the command line")
    if extra:
        raise ValueError(f"command line: unexpected argument {extra[0]!r} (options are --field value)")
    return command_line_options(namespace)


class FlagHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with one spelling per flag (``--learning_rate FLOAT``, not also ``--learning-rate``)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        names = [  # leave out the hyphenated alias HfArgumentParser adds (--learning-rate)
            name
            for name in action.option_strings
            if not ("-" in name[2:] and "--" + name[2:].replace("-", "_") in action.option_strings)
        ]
        if action.nargs == 0:
            return ", ".join(names)
        argument = self._format_args(action, self._get_default_metavar_for_optional(action))
        return ", ".join(f"{name} {argument}" for name in names)
