"""Parsed JSON checked against type hints: :func:`convert_json` builds a (nested) dataclass, and a value that
does not fit, an unknown or a missing key raises ``ValueError`` naming the key path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

__all__ = ["convert_json", "json_type"]


def json_type(value: Any) -> str:
    """How JSON names the type of ``value`` (``an object``, ``a string``, ``null``...)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


_SCALARS: dict[type, Any] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def convert_json(value: Any, annotation: Any, where: str = "") -> Any:
    """``value`` (parsed JSON) as ``annotation``; ``ValueError`` naming ``where`` when it does not fit."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, annotation, where)
    if dataclasses.is_dataclass(annotation):
        return _convert_dataclass(value, annotation, where)
    if origin in (list, tuple, dict):
        return _convert_container(value, annotation, where)
    if annotation not in _SCALARS:  # pragma: no cover - a field type this checker does not know
        raise TypeError(f"unsupported field type {annotation!r} at {where}")
    if not _SCALARS[annotation](value):
        raise _mismatch(value, annotation, where)
    return value


def _convert_union(value: Any, annotation: Any, where: str) -> Any:
    options = [option for option in typing.get_args(annotation) if option is not type(None)]
    if value is None and len(options) < len(typing.get_args(annotation)):
        return None
    errors = []
    for option in options:
        try:
            return convert_json(value, option, where)
        except ValueError as error:
            errors.append(error)
    raise errors[0] if len(errors) == 1 else _mismatch(value, annotation, where)


def _convert_container(value: Any, annotation: Any, where: str) -> Any:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if not isinstance(value, dict if origin is dict else list):
        raise _mismatch(value, annotation, where)
    if origin is dict:
        return {str(k): convert_json(v, arguments[1], _join(where, str(k))) for k, v in value.items()}
    items = [convert_json(v, arguments[0], f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _convert_dataclass(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise _mismatch(value, cls, where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in value if key not in fields]
    if unknown:
        raise ValueError(f"unknown key {_join(where, unknown[0])!r}")
    missing = [
        name
        for name, f in fields.items()
        if name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"missing key {_join(where, missing[0])!r}")
    kwargs = {key: convert_json(item, hints[key], _join(where, key)) for key, item in value.items()}
    return cls(**kwargs)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _mismatch(value: Any, annotation: Any, where: str) -> ValueError:
    return ValueError(f"{where or 'the record'} should be {_type_name(annotation)}, got {json_type(value)}")
