"""A module that moved keeps its old path for one release: :func:`moved_module` gives the old module's
``__getattr__``, which answers every name from the new home with a ``DeprecationWarning``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_module"]


def moved_module(old: str, new: str) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` of ``old``, now at ``new``: each name is imported from ``new`` by
    name at run time (the new home may sit in a higher layer than the old path), with a warning."""

    def attribute(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(
            f"{old} is deprecated (removed in the next release): import {name} from {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return attribute
