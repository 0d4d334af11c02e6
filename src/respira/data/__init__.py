"""ICBHI 2017 data: corpus index, ``datasets`` builder, patient-wise splits and a synthetic corpus."""

from .corpus import CLASS_NAMES, RecordingName, cycle_label
from .errors import ICBHICountError, ICBHIError, ICBHIFormatError, SplitError
from .icbhi import ICBHI, ICBHIConfig, assign_splits, load_icbhi
from .index import PartialCorpusWarning, class_counts, read_icbhi_index, validate_counts
from .splits import carve_validation, patient_split
from .summary import summarize
from .synthetic import make_synthetic_icbhi

__all__ = [
    "CLASS_NAMES",
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
    "cycle_label",
    "load_icbhi",
    "make_synthetic_icbhi",
    "patient_split",
    "read_icbhi_index",
    "summarize",
    "validate_counts",
]
