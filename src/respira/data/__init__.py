"""Corpora (ICBHI 2017, KAUH, SPRSound, a ``labels.csv`` folder) as ``datasets`` builders, with their
indexes, patient-wise splits and summaries; :mod:`.corpora` holds one :class:`CorpusSpec` per corpus.

Names are imported lazily (PEP 562), so ``respira.data.corpus`` is cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RecordingName": "corpus",
    "CORPORA": "corpora",
    "CorpusFacts": "corpora",
    "CorpusSpec": "corpora",
    "get_corpus": "corpora",
    "register_corpus": "corpora",
    "ICBHICountError": "errors",
    "ICBHIError": "errors",
    "ICBHIFormatError": "errors",
    "SplitError": "errors",
    "KAUHCountError": "errors",
    "KAUHError": "errors",
    "KAUHFormatError": "errors",
    "KAUH": "kauh",
    "KAUHConfig": "kauh",
    "load_kauh": "kauh",
    "kauh_patient_folds": "kauh",
    "recording_windows": "recording_windows",
    "read_kauh_index": "kauh",
    "LabelledError": "errors",
    "LabelledFormatError": "errors",
    "Labelled": "labelled",
    "LabelledConfig": "labelled",
    "load_labelled": "labelled",
    "read_labelled_index": "labelled",
    "SPRSoundCountError": "errors",
    "SPRSoundError": "errors",
    "SPRSoundFormatError": "errors",
    "SPRSound": "sprsound",
    "SPRSoundConfig": "sprsound",
    "load_sprsound": "sprsound",
    "read_sprsound_events": "sprsound",
    "read_sprsound_index": "sprsound",
    "sprsound_patient_folds": "sprsound",
    "ICBHI": "icbhi",
    "ICBHIConfig": "icbhi_config",
    "assign_splits": "icbhi",
    "load_icbhi": "icbhi",
    "SYNTHETIC_MARKER": "layout",
    "is_synthetic_corpus": "layout",
    "ClippedCycleWarning": "text_files",
    "MissingMetadataWarning": "index",
    "PartialCorpusWarning": "index",
    "class_counts": "index",
    "read_icbhi_index": "index",
    "validate_counts": "index",
    "carve_validation": "splits",
    "compose_fold": "folds",
    "device_folds": "folds",
    "is_fold_strategy": "folds",
    "fold_splits": "folds",
    "patient_kfold": "folds",
    "patient_split": "splits",
    "summarize": "summary",
}
__all__ = [
    "CORPORA",
    "ICBHI",
    "KAUH",
    "SYNTHETIC_MARKER",
    "ClippedCycleWarning",
    "CorpusFacts",
    "CorpusSpec",
    "ICBHIConfig",
    "ICBHICountError",
    "ICBHIError",
    "ICBHIFormatError",
    "KAUHConfig",
    "KAUHCountError",
    "KAUHError",
    "KAUHFormatError",
    "Labelled",
    "LabelledConfig",
    "LabelledError",
    "LabelledFormatError",
    "MissingMetadataWarning",
    "PartialCorpusWarning",
    "RecordingName",
    "SPRSound",
    "SPRSoundConfig",
    "SPRSoundCountError",
    "SPRSoundError",
    "SPRSoundFormatError",
    "SplitError",
    "assign_splits",
    "carve_validation",
    "class_counts",
    "compose_fold",
    "device_folds",
    "fold_splits",
    "get_corpus",
    "is_fold_strategy",
    "is_synthetic_corpus",
    "kauh_patient_folds",
    "load_icbhi",
    "load_kauh",
    "load_labelled",
    "load_sprsound",
    "patient_kfold",
    "patient_split",
    "read_icbhi_index",
    "read_kauh_index",
    "read_labelled_index",
    "read_sprsound_events",
    "read_sprsound_index",
    "recording_windows",
    "register_corpus",
    "sprsound_patient_folds",
    "summarize",
    "validate_counts",
]

if TYPE_CHECKING:
    from .corpora import CORPORA, CorpusFacts, CorpusSpec, get_corpus, register_corpus
    from .corpus import RecordingName
    from .errors import (
        ICBHICountError,
        ICBHIError,
        ICBHIFormatError,
        KAUHCountError,
        KAUHError,
        KAUHFormatError,
        LabelledError,
        LabelledFormatError,
        SplitError,
        SPRSoundCountError,
        SPRSoundError,
        SPRSoundFormatError,
    )
    from .folds import compose_fold, device_folds, fold_splits, is_fold_strategy, patient_kfold
    from .icbhi import ICBHI, assign_splits, load_icbhi
    from .icbhi_config import ICBHIConfig
    from .index import (
        MissingMetadataWarning,
        PartialCorpusWarning,
        class_counts,
        read_icbhi_index,
        validate_counts,
    )
    from .kauh import KAUH, KAUHConfig, kauh_patient_folds, load_kauh, read_kauh_index
    from .labelled import Labelled, LabelledConfig, load_labelled, read_labelled_index
    from .layout import SYNTHETIC_MARKER, is_synthetic_corpus
    from .recording_windows import recording_windows
    from .splits import carve_validation, patient_split
    from .sprsound import (
        SPRSound,
        SPRSoundConfig,
        load_sprsound,
        read_sprsound_events,
        read_sprsound_index,
        sprsound_patient_folds,
    )
    from .summary import summarize
    from .text_files import ClippedCycleWarning


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
