"""Fixtures for the Hub and ONNX tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def onnx_registry_once() -> Iterator[None]:
    """torch's ONNX exporter builds its registry of torchlib functions anew for every export (re-reading
    each function's source: about a second); a module's exports share one, each given its own copy. What an
    export reads of it is the same, so are the bytes it writes. Without that exporter: nothing changes."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        yield
        return
    registry = _registration.ONNXRegistry
    build = registry.__dict__.get("from_torchlib")
    if not isinstance(build, classmethod):
        yield
        return
    built: dict[Any, Any] = {}

    def from_torchlib(cls: type, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = build.__func__(cls, *args, **kwargs)
        own = copy.copy(built[key])
        own.functions = {target: list(metas) for target, metas in built[key].functions.items()}
        return own

    registry.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        registry.from_torchlib = build
