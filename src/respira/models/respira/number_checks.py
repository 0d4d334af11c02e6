"""The number checks of every layer, the model folder's included: a real number, not a bool (:func:`is_real`,
:func:`is_number`), and a whole number in a range, with its one-line error (:func:`check_whole`)."""

from __future__ import annotations

import math
import numbers
from typing import Any


def is_real(value: object, *, whole: bool = False) -> bool:
    """Whether ``value`` is a real number (an integer when ``whole``), numpy's included, not a bool."""
    return isinstance(value, numbers.Integral if whole else numbers.Real) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (:func:`is_real`) other than NaN."""
    return is_real(value) and not math.isnan(value)


def check_whole(value: Any, name: str, low: int = 1, high: int | None = None, *, exact: bool = False) -> int:
    """``value`` as an int (``4.0`` too, unless ``exact``: an integer type only); a one-line ``ValueError``
    naming ``name`` and ``value`` unless it is a whole number, not a bool, in ``[low, high]`` (``high=None``:
    no upper bound)."""
    whole = is_real(value, whole=True) if exact else is_real(value) and float(value).is_integer()
    if not whole or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a whole number {bounds}, got {value!r}")
    return int(value)
