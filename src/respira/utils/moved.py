"""A module that moved keeps its old path for one release, without a file at the old path.

:func:`moved_module` gives an old module's ``__getattr__``, which answers every name from the new home
with a ``DeprecationWarning``; :func:`install_moved_modules` puts a finder on ``sys.meta_path`` that
answers ``import old.path`` (and ``from old.path import name``) with such a module, so a package's
old modules need no alias files of their own."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["install_moved_modules", "moved_module"]


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


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds each old module name of ``moved`` and makes it a module that forwards to its new home."""

    def __init__(self, moved: Mapping[str, str]) -> None:
        self.moved = dict(moved)

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        new = self.moved[module.__name__]
        module.__doc__ = f"Deprecated alias of :mod:`{new}` (removed in the next release)."
        module.__getattr__ = moved_module(module.__name__, new)  # type: ignore[attr-defined]


def install_moved_modules(moved: Mapping[str, str]) -> None:
    """Make every old module name of ``moved`` (old -> new, absolute) importable as a deprecated alias of
    its new home; calling it again with the same names changes nothing."""
    for finder in sys.meta_path:
        if isinstance(finder, _MovedModules):
            finder.moved.update(moved)
            return
    sys.meta_path.append(_MovedModules(moved))
