"""What the code shipped with a model leaves out (:mod:`respira.hub.code_closure`).

:func:`not_shipped` marks a method inference never runs (or a faster path:
:class:`respira.models.features.kernel_choice.FasterPaths`); :func:`shipped_when` one that ships only
with models running one of :data:`STAGES`. In respira the definitions are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["STAGES", "not_shipped", "shipped_when"]

_Method = TypeVar("_Method", bound=Callable)
_Definition = TypeVar("_Definition")

STAGES: tuple[str, ...] = (
    "spec_augment",
    "pooling_autopool",
)
"""The optional stages of a model: SpecAugment (in training) and auto-pooling (``config.pooling``)."""


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
