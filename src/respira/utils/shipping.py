"""What the code shipped with a model leaves out (:mod:`respira.hub.code_closure`).

A model folder exported with its code carries the part of respira's source its inference runs.
:func:`not_shipped` marks a method that inference never runs (building a model from a pretrained
encoder, freezing it for training, caching embeddings): the shipped copy of its class has no such
method, and nothing only it reaches ships. In respira the method is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["NOT_SHIPPED", "not_shipped"]

_Method = TypeVar("_Method", bound=Callable)

NOT_SHIPPED = "not_shipped"
"""The decorator's name, as :mod:`respira.hub.code_closure` finds it in the source."""


def not_shipped(method: _Method) -> _Method:
    """Leave ``method`` out of the code shipped with a model (it is returned as it is)."""
    return method
