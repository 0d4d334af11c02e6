"""``respira.utils.typed_json``: parsed JSON checked against dataclass type hints, errors naming the key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from respira.utils.typed_json import convert_json, json_type


@dataclass
class Inner:
    count: int
    share: float | None = None


@dataclass
class Outer:
    name: str
    inner: Inner
    pair: tuple[float, ...] | None = None
    items: list[Inner] = field(default_factory=list)
    table: dict[str, int] = field(default_factory=dict)
    extra: Any = None


def test_nested_json_becomes_the_dataclasses_with_tuples_and_unions() -> None:
    data = json.loads(
        '{"name": "a", "inner": {"count": 2, "share": 1}, "pair": [0.5, 1], "items": [{"count": 3}], '
        '"table": {"x": 1}, "extra": [null, "z"]}'
    )
    assert convert_json(data, Outer) == Outer(
        name="a", inner=Inner(2, 1), pair=(0.5, 1), items=[Inner(3)], table={"x": 1}, extra=[None, "z"]
    )
    assert convert_json({"name": "b", "inner": {"count": 0, "share": None}}, Outer).inner.share is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a"}, "missing key 'inner'"),
        ({"name": "a", "inner": {"count": 1}, "colour": 1}, "unknown key 'colour'"),
        ({"name": "a", "inner": {"count": True}}, "inner.count should be int, got a boolean"),
        ({"name": "a", "inner": {"count": 1.5}}, "inner.count should be int, got a number"),
        ({"name": "a", "inner": {"count": 1}, "items": [{"count": "3"}]}, "items[0].count should be int"),
        ({"name": "a", "inner": {"count": 1}, "table": {"x": "1"}}, "table.x should be int, got a string"),
        ({"name": "a", "inner": []}, "inner should be Inner, got an array"),
        ([], "the record should be Outer, got an array"),
    ],
)
def test_what_does_not_fit_is_a_value_error_naming_the_key(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        convert_json(data, Outer)


def test_json_type_names_values_as_json_does() -> None:
    assert [json_type(v) for v in ({}, [], "s", True, None, 1, 1.5)] == [
        "an object",
        "an array",
        "a string",
        "a boolean",
        "null",
        "a number",
        "a number",
    ]
