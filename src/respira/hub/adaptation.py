"""Deprecated alias of :mod:`respira.sites.adaptation` (moved there: a site's fitting, adaptation and quality
verdict live together in :mod:`respira.sites`); kept for one release."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

NEW_HOME = "respira.sites.adaptation"


def __getattr__(name: str) -> Any:
    """Every name of :data:`NEW_HOME`, with a ``DeprecationWarning`` (imported by name: the new home is
    in a higher layer)."""
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(
        f"{__name__} is deprecated (removed in the next release): import {name} from {NEW_HOME}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(NEW_HOME), name)
