"""PEP 562 lazy exports: a name imported on first use, then listed once by ``dir()``."""

from __future__ import annotations

import sys

import pytest

import respira.hub


def test_a_name_is_imported_on_first_use_and_listed_once() -> None:
    assert "load_model" in dir(respira.hub)
    assert respira.hub.load_model is sys.modules["respira.hub.loading"].load_model  # now in the namespace too
    names = dir(respira.hub)
    assert len(names) == len(set(names)) and "load_model" in names
    with pytest.raises(AttributeError, match=r"module 'respira\.hub' has no attribute 'nothing'"):
        respira.hub.nothing  # noqa: B018
