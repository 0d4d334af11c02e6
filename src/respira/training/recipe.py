"""Recipes: YAML files whose keys are fields of :data:`DATACLASSES`, overridden by ``--field value`` flags
(:func:`flag_parser`, defaulting to ``argparse.SUPPRESS`` so that parsing yields only the flags given); every
error is one line naming the option and its value. The whole recipe is checked before any work by
:func:`respira.training.run_checks.validate_run`."""

from __future__ import annotations

import argparse
import difflib
import re
import textwrap
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainingArguments
from transformers.hf_argparser import string_to_bool

from ..measured import split_note, with_note
from ..options import OptionError, OptionParser, checked_values, option_specs, unrecognized
from ..utils.messages import one_line, unknown_names
from .training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
)

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
    "accepted too: --model_name_or_path, --max_length_seconds, --freeze_feature_encoder (as theirs: a "
    "wav2vec 2.0-family encoder's convolutional feature encoder; --freeze_encoder trains the head only).",
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
    """One recipe field's flag: the spellings ``--help`` lists, those accepted unlisted, its keywords."""

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
    parser = OptionParser([], add_help=False, allow_abbrev=False)
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
    unknown = [arg.split("=", 1)[0] for arg in extra if arg.startswith("--")]
    if unknown:
        raise OptionError(unrecognized(unknown, (), field_suggestions))
    if extra:
        raise ValueError(f"command line: unexpected argument {extra[0]!r} (options are --field value)")
    return command_line_options(namespace)


TRANSFORMERS_NAMES: dict[str, str] = {
    alias[2:]: f.name for cls in DATACLASSES for f in fields(cls) for alias in f.metadata.get("aliases", ())
}
"""transformers' ``run_audio_classification.py`` names accepted for respira's fields (their flag aliases)."""

RECIPE_MAPPING = "the recipe mapping"  # how errors name a recipe given as a mapping


@dataclass(frozen=True)
class Recipe:
    """A recipe's options (as their flags read them; mappings as JSON text) and the line of each key in its
    file (``path`` is ``None`` for a mapping)."""

    path: Path | None
    options: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str) -> str:
        """``path:line`` of ``key`` (``path`` when unknown; :data:`RECIPE_MAPPING` without a file)."""
        if self.path is None:
            return RECIPE_MAPPING
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    def named(self, error: Exception, keys: Iterable[str]) -> ValueError:
        """``error`` in one line, after the :meth:`where` of the one of ``keys`` it begins with (``KEY ...``,
        ``argument --KEY ...``)."""
        message = one_line(error)
        key = next((key for key in keys if re.match(rf"(argument --)?{key}\b", message)), None)
        return ValueError(message if key is None else f"{self.where(key)}: {message}")


def _key_lines(text: str) -> dict[str, int]:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


def _yaml_error(path: Path, error: yaml.YAMLError) -> str:
    """``FILE:LINE:COLUMN: not valid YAML: ...`` (PyYAML's message names ``"<unicode string>"``)."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    said = "; ".join(one_line(part) for part in parts if part) or one_line(error)
    return f"{where}: not valid YAML: {said}"


def read_recipe(path: str | Path) -> Recipe:
    """A YAML recipe, its keys checked against the known fields and its values against their types."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8")
        options = yaml.safe_load(text) or {}
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as error:
        raise ValueError(_yaml_error(path, error)) from None
    if not isinstance(options, dict):
        raise ValueError(f"{path}: a recipe is a mapping of option: value, got a {type(options).__name__}")
    return _checked_recipe(options, path, _key_lines(text))


def _checked_recipe(options: dict[Any, Any], path: Path | None, lines: dict[str, int]) -> Recipe:
    """``options`` (keys in transformers' names too) read as their flags are (:func:`checked_values`); a null:
    the field's ``None``, where its type takes one."""
    source = str(path) if path is not None else RECIPE_MAPPING
    twice = [key for key in options if TRANSFORMERS_NAMES.get(str(key)) in options]
    if twice:
        raise ValueError(
            f"{source}: {twice[0]} and {TRANSFORMERS_NAMES[twice[0]]} name the same option; keep one"
        )
    lines.update({TRANSFORMERS_NAMES[key]: line for key, line in lines.items() if key in TRANSFORMERS_NAMES})
    options = {TRANSFORMERS_NAMES.get(str(key), key): value for key, value in options.items()}
    unknown = [str(key) for key in options if key not in _field_names()]
    if unknown:
        raise ValueError(
            f"unknown option(s) in {source}: {unknown_names(unknown, suggest=field_suggestions)}"
        )
    recipe = Recipe(path, {}, lines)
    hints = {name: hint for cls in DATACLASSES for name, hint in typing.get_type_hints(cls).items()}
    nulls = [key for key, value in options.items() if value is None]
    for key in nulls:
        if type(None) not in typing.get_args(hints[key]):
            raise ValueError(f"{recipe.where(key)}: {key} cannot be null")
    try:
        recipe.options.update(checked_values(options, DATACLASSES))
    except OptionError as error:
        raise recipe.named(error, options) from None
    recipe.options.update(dict.fromkeys(nulls))
    return recipe


def parse_recipe(
    recipe: str | Path | Recipe | Mapping[str, Any] | None,
    overrides: list[str] | None = None,
    *,
    given: Mapping[str, Any] | None = None,
) -> tuple[ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments]:
    """The four argument dataclasses of ``recipe`` (a file, a :class:`Recipe` or a mapping) overridden by
    ``given`` (typed field values), then ``overrides`` (``--field value`` strings). Errors are one-line
    ``ValueError``s; a bad value from the recipe names its file and line."""
    flags = {**(given or {}), **parse_flags(overrides or [])}
    read = as_recipe(recipe) if recipe is not None else Recipe(None, {}, {})
    options = {**read.options, **flags}
    if options.get("encoder_name_or_path") and "encoder" not in options:
        family = checkpoint_encoder(options["encoder_name_or_path"])
        if family is not None:  # --model_name_or_path alone, as in transformers' examples
            options["encoder"] = family
    try:
        return tuple(
            cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options}) for cls in DATACLASSES
        )
    except ValueError as error:  # a value from the recipe (not overridden): named by its line
        raise read.named(error, [key for key in read.options if key not in flags]) from None


def as_recipe(recipe: str | Path | Recipe | Mapping[str, Any]) -> Recipe:
    """``recipe`` (a YAML file's path, a mapping or a :class:`Recipe`) read and checked."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, Mapping):  # checked as a file is
        return _checked_recipe(dict(recipe), None, {})
    if isinstance(recipe, (str, Path)):
        return read_recipe(recipe)
    raise ValueError(
        f"a recipe is a YAML file's path or a mapping of option: value, got a {type(recipe).__name__}"
    )


def checkpoint_encoder(source: str) -> str | None:
    """The encoder family of a checkpoint's ``config.json``; ``None`` when unreadable or not respira's."""
    from transformers import PreTrainedConfig

    from ..models.respira.encoders import find_encoder_spec

    try:  # a local folder or a Hub id
        config, _ = PreTrainedConfig.get_config_dict(str(Path(source).expanduser()))
        spec = find_encoder_spec(config.get("model_type"))
    except Exception:
        return None
    return spec.name if spec is not None else None
