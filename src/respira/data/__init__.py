"""ICBHI 2017 data: corpus index, ``datasets`` builder, patient-wise splits and a synthetic corpus.

Names are imported lazily (PEP 562), so ``respira.data.corpus`` facts are cheap to import without
loading ``datasets``, pandas or scipy. The label scheme lives in :mod:`respira.labels`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "RecordingName": "corpus",
    "ICBHICountError": "errors",
    "ICBHIError": "errors",
    "ICBHIFormatError": "errors",
    "SplitError": "errors",
    "ICBHI": "icbhi",
    "ICBHIConfig": "icbhi",
    "assign_splits": "icbhi",
    "load_icbhi": "icbhi",
    "PartialCorpusWarning": "index",
    "class_counts": "index",
    "read_icbhi_index": "index",
    "validate_counts": "index",
    "carve_validation": "splits",
    "patient_split": "splits",
    "summarize": "summary",
    "make_synthetic_icbhi": "synthetic",
}
__all__ = [
    "ICBHI",
    "ICBHIConfig",
    "ICBHICountError",
    "ICBHIError",
    "ICBHIFormatError",
    "PartialCorpusWarning",
    "RecordingName",
    "SplitError",
    "assign_splits",
    "carve_validation",
    "class_counts",
    "load_icbhi",
    "make_synthetic_icbhi",
    "patient_split",
    "read_icbhi_index",
    "summarize",
    "validate_counts",
]

if TYPE_CHECKING:
    from .corpus import RecordingName
    from .errors import ICBHICountError, ICBHIError, ICBHIFormatError, SplitError
    from .icbhi import ICBHI, ICBHIConfig, assign_splits, load_icbhi
    from .index import PartialCorpusWarning, class_counts, read_icbhi_index, validate_counts
    from .splits import carve_validation, patient_split
    from .summary import summarize
    from .synthetic import make_synthetic_icbhi


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
