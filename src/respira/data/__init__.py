"""Corpora (ICBHI 2017, KAUH, SPRSound, a ``labels.csv`` folder) as ``datasets`` builders, with their
indexes, patient-wise splits and summaries; :mod:`.corpora` holds one :class:`CorpusSpec` per corpus.

Names are imported lazily (PEP 562), so ``respira.data.corpus`` is cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "CorpusFacts": "corpora",
    "CorpusSpec": "corpora",
    "register_corpus": "corpora",
    "CorpusCountError": "errors",
    "CorpusFormatError": "errors",
    "ICBHI": "icbhi",
    "load_icbhi": "icbhi",
    "load_kauh": "kauh",
    "load_labelled": "labelled",
    "load_sprsound": "sprsound",
    "read_sprsound_events": "sprsound",
    "read_sprsound_index": "sprsound",
    "SYNTHETIC_MARKER": "layout",
    "is_synthetic_corpus": "layout",
    "ClippedCycleWarning": "text_files",
    "MissingMetadataWarning": "text_files",
    "PartialCorpusWarning": "text_files",
    "read_icbhi_index": "text_files",
    "device_folds": "folds",
    "is_fold_strategy": "folds",
    "patient_kfold": "folds",
    "patient_split": "splits",
    "summarize": "summary",
}
__all__ = [
    "ICBHI",
    "SYNTHETIC_MARKER",
    "ClippedCycleWarning",
    "CorpusCountError",
    "CorpusFacts",
    "CorpusFormatError",
    "CorpusSpec",
    "MissingMetadataWarning",
    "PartialCorpusWarning",
    "device_folds",
    "is_fold_strategy",
    "is_synthetic_corpus",
    "load_icbhi",
    "load_kauh",
    "load_labelled",
    "load_sprsound",
    "patient_kfold",
    "patient_split",
    "read_icbhi_index",
    "read_sprsound_events",
    "read_sprsound_index",
    "register_corpus",
    "summarize",
]

if TYPE_CHECKING:
    from .corpora import CorpusFacts, CorpusSpec, register_corpus
    from .errors import CorpusCountError, CorpusFormatError
    from .folds import device_folds, is_fold_strategy, patient_kfold
    from .icbhi import ICBHI, load_icbhi
    from .kauh import load_kauh
    from .labelled import load_labelled
    from .layout import SYNTHETIC_MARKER, is_synthetic_corpus
    from .splits import patient_split
    from .sprsound import load_sprsound, read_sprsound_events, read_sprsound_index
    from .summary import summarize
    from .text_files import (
        ClippedCycleWarning,
        MissingMetadataWarning,
        PartialCorpusWarning,
        read_icbhi_index,
    )


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
