"""Marks for the code shipped with a model (:mod:`respira.hub.code_closure`); no-ops in respira."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["STAGES", "not_shipped", "shipped_when"]

_Method = TypeVar("_Method", bound=Callable)
_Definition = TypeVar("_Definition")

STAGES: tuple[str, ...] = ("spec_augment", "pooling_autopool")
"""A model's optional stages: SpecAugment (training) and auto-pooling (``config.pooling``)."""


def not_shipped(method: _Method) -> _Method:
    """Leave ``method`` out of the code shipped with a model (it is returned as it is)."""
    return method


def shipped_when(stage: str) -> Callable[[_Definition], _Definition]:
    """Ship the decorated definition only with a model that runs ``stage`` (a literal of :data:`STAGES`)."""
    if stage not in STAGES:
        raise ValueError(f"shipped_when({stage!r}): not one of the stages {', '.join(STAGES)}")

    def mark(definition: _Definition) -> _Definition:
        return definition

    return mark
