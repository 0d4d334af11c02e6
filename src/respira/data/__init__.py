"""Corpora (ICBHI 2017, KAUH, SPRSound, a ``labels.csv`` folder) as ``datasets`` builders, with their
indexes, patient-wise splits and summaries; :mod:`.corpora` holds one :class:`CorpusSpec` per corpus.

Names are imported lazily (PEP 562), so ``respira.data.corpus_files`` is cheap to import.
"""

from __future__ import annotations

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
    "SYNTHETIC_MARKER": "corpus_files",
    "is_synthetic_corpus": "corpus_files",
    "ClippedCycleWarning": "text_files",
    "MissingMetadataWarning": "text_files",
    "PartialCorpusWarning": "text_files",
    "read_icbhi_index": "text_files",
    "device_folds": "folds",
    "is_fold_strategy": "folds",
    "patient_kfold": "folds",
    "patient_split": "splits",
    "summarize": "dataset_folder",
}
__all__ = list(_EXPORTS)  # the public names, each imported from its module on first use

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
