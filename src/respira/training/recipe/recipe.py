"""Recipes: YAML files whose keys are fields of :data:`~respira.training.recipe.flags.DATACLASSES`,
overridden by ``--field value`` flags and parsed with ``HfArgumentParser``."""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ...utils.messages import one_line
from .arguments import RespiraTrainingArguments
from .flags import DATACLASSES, RecipeParser, check_keys, parse_flags
from .recipe_fields import DataArguments, ModelArguments, RunArguments

TRANSFORMERS_NAMES: dict[str, str] = {
    "model_name_or_path": "encoder_name_or_path",
    "max_length_seconds": "target_seconds",
    "freeze_feature_encoder": "freeze_encoder",
}
"""transformers' ``run_audio_classification.py`` names accepted for respira's fields."""

RECIPE_MAPPING = "the recipe mapping"  # how errors name a recipe given as a mapping


@dataclass(frozen=True)
class Recipe:
    """A recipe's options (dict values as JSON text) and the line of each key in its file (``path`` is
    ``None`` for a mapping)."""

    path: Path | None
    options: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str) -> str:
        """``path:line`` of ``key`` (``path`` when unknown; :data:`RECIPE_MAPPING` without a file)."""
        if self.path is None:
            return RECIPE_MAPPING
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line is not None else str(self.path)


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


def recipe_from_mapping(options: Mapping[str, Any]) -> Recipe:
    """A recipe given as a mapping of option: value (a path counts as its text, a tuple as a list), checked
    as :func:`read_recipe` checks a file."""
    if not isinstance(options, Mapping):
        raise ValueError(f"a recipe is a mapping of option: value, got a {type(options).__name__}")
    return _checked_recipe({key: _as_yaml_value(value) for key, value in options.items()}, None, {})


def _as_yaml_value(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return list(value) if isinstance(value, tuple) else value


def _checked_recipe(options: dict[Any, Any], path: Path | None, lines: dict[str, int]) -> Recipe:
    source = str(path) if path is not None else RECIPE_MAPPING
    twice = [key for key in options if TRANSFORMERS_NAMES.get(str(key)) in options]
    if twice:
        raise ValueError(
            f"{source}: {twice[0]} and {TRANSFORMERS_NAMES[twice[0]]} name the same option; keep one"
        )
    lines.update({TRANSFORMERS_NAMES[key]: line for key, line in lines.items() if key in TRANSFORMERS_NAMES})
    options = {TRANSFORMERS_NAMES.get(str(key), key): value for key, value in options.items()}
    check_keys([str(key) for key in options], source)
    recipe = Recipe(path, {}, lines)
    types = _field_types()
    for key, value in options.items():
        # mappings (aux_loss_options, augmentation...) travel as JSON text
        given = json.dumps(value) if isinstance(value, dict) else value
        try:
            recipe.options[key] = _typed(given, types[key])
        except ValueError as error:
            raise ValueError(f"{recipe.where(key)}: {key}: {error}, got {value!r}") from None
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
    read = as_recipe(recipe) if recipe is not None else None
    options = dict(read.options) if read is not None else {}
    options.update(flags)
    if options.get("encoder_name_or_path") and "encoder" not in options:
        family = checkpoint_encoder(options["encoder_name_or_path"])
        if family is not None:  # --model_name_or_path alone, as in transformers' examples
            options["encoder"] = family
    parser = RecipeParser(DATACLASSES)
    parser.set_defaults(**options)
    try:
        return tuple(parser.parse_args_into_dataclasses(args=[], look_for_args_file=False))
    except ValueError as error:
        message = one_line(error)
        if read is not None:  # a value from the recipe (not overridden): name its line
            named = [key for key in read.options if key not in flags]
            key = next((k for k in sorted(named, key=len, reverse=True) if message.startswith(k)), None)
            if key is not None:
                raise ValueError(f"{read.where(key)}: {message}") from None
        raise ValueError(message) from None


def as_recipe(recipe: str | Path | Recipe | Mapping[str, Any]) -> Recipe:
    """``recipe`` (a YAML file's path, a mapping or a :class:`Recipe`) read and checked."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, Mapping):
        return recipe_from_mapping(recipe)
    if isinstance(recipe, (str, Path)):
        return read_recipe(recipe)
    raise ValueError(
        f"a recipe is a YAML file's path or a mapping of option: value, got a {type(recipe).__name__}"
    )


def checkpoint_encoder(source: str) -> str | None:
    """The encoder family of a checkpoint's ``config.json``; ``None`` when unreadable or not respira's."""
    from transformers import PreTrainedConfig

    from ...models.respira.encoders import find_encoder_spec

    try:  # a local folder or a Hub id
        config, _ = PreTrainedConfig.get_config_dict(str(Path(source).expanduser()))
        spec = find_encoder_spec(config.get("model_type"))
    except Exception:
        return None
    return spec.name if spec is not None else None


def _field_types() -> dict[str, Any]:
    types: dict[str, Any] = {}
    for cls in DATACLASSES:
        hints = typing.get_type_hints(cls)
        types.update({f.name: hints.get(f.name, Any) for f in fields(cls) if f.init})
    return types


def _typed(value: Any, annotation: Any) -> Any:
    """``value`` as field type ``annotation`` accepts it (number and boolean strings kept for the parser; a
    list for a text field joined by commas), or ``ValueError`` saying what was expected."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            with contextlib.suppress(ValueError):
                return _typed(value, member)
        raise ValueError(f"expected {' or '.join(map(_describe, typing.get_args(annotation)))}")
    text, number = isinstance(value, str), isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str and (number or (isinstance(value, list) and value and all(map(_is_scalar, value)))):
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        accepted = text and value in {member.value for member in annotation}
    else:
        accepted = {
            type(None): value is None,
            bool: isinstance(value, bool) or (text and value.lower() in _BOOLEAN_TEXT),
            int: (number and isinstance(value, int)) or (text and _parses(int, value)),
            float: number or (text and _parses(float, value)),
            str: text,
            list: isinstance(value, list),
            dict: isinstance(value, (dict, str)),
        }.get(typing.get_origin(annotation) or annotation, True)  # other types: the parser judges them
    if accepted:
        return value
    raise ValueError(f"expected {_describe(annotation)}")


_BOOLEAN_TEXT = ("true", "false", "yes", "no", "1", "0")
_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text", dict: "a mapping"}


def _parses(kind: type, text: str) -> bool:
    try:
        return math.isfinite(kind(text))
    except ValueError:
        return False


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _describe(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    if annotation is list or typing.get_origin(annotation) is list:
        return "a list"
    return _KINDS.get(annotation) or getattr(annotation, "__name__", str(annotation))


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
