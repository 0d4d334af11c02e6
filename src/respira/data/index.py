"""The cycle index: one row per annotated respiratory cycle, built from the text files alone."""

from __future__ import annotations

import warnings
from dataclasses import astuple
from pathlib import Path

import pandas as pd

from ..labels import CLASS_NAMES, MULTI_LABEL_NAMES, cycle_label
from .corpus import (
    NUM_CYCLES,
    NUM_RECORDINGS,
    OFFICIAL_CLASS_COUNTS,
    OFFICIAL_SPLIT_CYCLES,
    RecordingName,
)
from .errors import ICBHICountError, ICBHIFormatError
from .layout import CorpusLayout, locate_corpus
from .text_files import (
    Demographics,
    SplitEntry,
    read_annotations,
    read_demographics,
    read_diagnoses,
    read_split_file,
)

INDEX_COLUMNS: tuple[str, ...] = (
    "recording",
    "patient_id",
    "recording_index",
    "chest_location",
    "acquisition_mode",
    "device",
    "cycle_index",
    "start",
    "end",
    "crackle",
    "wheeze",
    "label",
    "official_split",
    "diagnosis",
    "age",
    "sex",
    "adult_bmi",
    "child_weight",
    "child_height",
    "annotation_line",
)
STRATA_COLUMNS: tuple[str, ...] = (
    "chest_location",
    "acquisition_mode",
    "device",
    "label",
    "diagnosis",
    "sex",
)
"""The index's categorical columns: what ``stratify_by`` and ``fold_stratify_by`` can stratify by."""
_NO_DEMOGRAPHICS = Demographics(None, None, None, None, None)


class PartialCorpusWarning(UserWarning):
    """Some recordings are missing (audio or annotations): they are left out, and this says how many."""


class MissingMetadataWarning(UserWarning):
    """The diagnosis or demographics file has no entry for some patients: their values are null."""


def read_icbhi_index(data_dir: str | Path, *, strict: bool = False) -> pd.DataFrame:
    """Read every annotation file of an ICBHI corpus into a DataFrame, one row per cycle (no audio read).

    On the complete database the published counts are checked (:class:`~respira.data.errors.ICBHICountError`);
    split-file entries missing from the folder give one :class:`PartialCorpusWarning` (an error with
    ``strict=True``).
    """
    return index_from_layout(locate_corpus(data_dir), strict=strict)


def index_from_layout(layout: CorpusLayout, *, strict: bool = False) -> pd.DataFrame:
    """:func:`read_icbhi_index` for an already located corpus."""
    names = {stem: RecordingName.parse(stem) for stem in layout.annotation_files}
    splits = _match_split_entries(layout, names, strict=strict)
    diagnoses = read_diagnoses(layout.diagnosis_file) if layout.diagnosis_file else {}
    demographics = read_demographics(layout.demographics_file) if layout.demographics_file else {}
    patients = {name.patient_id for name in names.values()}
    _warn_unlisted_patients(layout.diagnosis_file, diagnoses, patients, "diagnosis")
    _warn_unlisted_patients(
        layout.demographics_file, demographics, patients, "age, sex, BMI, weight and height"
    )
    rows = []
    for stem, path in sorted(layout.annotation_files.items()):
        name = names[stem]
        recording = (stem, *astuple(name))
        metadata = (splits.get(stem), diagnoses.get(name.patient_id))
        person = astuple(demographics.get(name.patient_id, _NO_DEMOGRAPHICS))
        for cycle_index, cycle in enumerate(read_annotations(path)):
            label = cycle_label(cycle.crackle, cycle.wheeze)
            annotated = (cycle_index, cycle.start, cycle.end, cycle.crackle, cycle.wheeze, label)
            rows.append((*recording, *annotated, *metadata, *person, cycle.line))
    index = pd.DataFrame.from_records(rows, columns=list(INDEX_COLUMNS))
    index = _with_nullable_dtypes(index)
    if len(layout.annotation_files) == NUM_RECORDINGS:
        validate_counts(index)
    return index


def _warn_unlisted_patients(
    path: Path | None, listed: dict[int, object], patients: set[int], what: str
) -> None:
    """A :class:`MissingMetadataWarning` naming ``path`` when patients with recordings have no entry."""
    missing = sorted(patients - set(listed))
    if path is None or not missing:
        return
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    warnings.warn(
        f"{path} has no entry for {len(missing)} of the {len(patients)} patients with recordings "
        f"(patient {shown}): their {what} {'is' if what == 'diagnosis' else 'are'} null",
        MissingMetadataWarning,
        stacklevel=4,
    )


def _with_nullable_dtypes(index: pd.DataFrame) -> pd.DataFrame:
    for column in ("age", "adult_bmi", "child_weight", "child_height"):
        index[column] = index[column].astype("Float64")
    for column in ("official_split", "diagnosis", "sex"):
        index[column] = index[column].astype(object).where(index[column].notna(), None)
    for column in MULTI_LABEL_NAMES:  # the flag columns
        index[column] = index[column].astype("int8")
    return index


def _match_split_entries(
    layout: CorpusLayout, names: dict[str, RecordingName], *, strict: bool
) -> dict[str, str]:
    """Recording stem → official split, matching on the first four name fields."""
    if layout.split_file is None:
        return {}
    entries: dict[tuple[int, str, str, str], SplitEntry] = {}
    for entry in read_split_file(layout.split_file):
        if entry.name.key in entries:
            raise ICBHIFormatError(
                layout.split_file,
                f"duplicate recording {entry.name.stem!r}: "
                f"already listed on line {entries[entry.name.key].line}",
                line=entry.line,
            )
        entries[entry.name.key] = entry
    splits = {}
    for stem, name in sorted(names.items()):
        entry = entries.pop(name.key, None)
        if entry is None:
            raise ICBHIFormatError(
                layout.split_file,
                f"has no entry for recording {stem!r} ({layout.annotation_files[stem].name})"
                + _unmatched_hint(entries.values(), name),
            )
        splits[stem] = entry.split
    if entries:
        first = min(entries.values(), key=lambda e: e.line)
        message = (
            f"{layout.split_file}:{first.line}: names recording {first.name.stem!r}, which is not in "
            f"{layout.recordings_dir}; {len(entries)} split entr{'y' if len(entries) == 1 else 'ies'} "
            "name recordings that are not in this folder"
        )
        if strict:
            raise ICBHIFormatError(layout.split_file, message.split(": ", 1)[1], line=first.line)
        warnings.warn(f"{message} (using the {len(names)} that are)", PartialCorpusWarning, stacklevel=3)
    return splits


def _unmatched_hint(unmatched, name: RecordingName) -> str:
    same_patient = sorted(
        (e for e in unmatched if e.name.patient_id == name.patient_id), key=lambda entry: entry.line
    )
    if not same_patient:
        return ""
    listed = ", ".join(f"line {e.line} {e.name.stem!r}" for e in same_patient[:3])
    return f"; unmatched entries for patient {name.patient_id}: {listed}"


def class_counts(index: pd.DataFrame, by: str | None = "official_split") -> dict[str, dict[str, int]]:
    """Cycle counts per class, per value of ``by`` (or ``{"all": ...}`` when ``by`` is None)."""
    groups = {"all": index} if by is None else dict(tuple(index.groupby(by, dropna=True)))
    return {
        str(group): {label: int((frame["label"] == label).sum()) for label in CLASS_NAMES}
        for group, frame in groups.items()
    }


def validate_counts(index: pd.DataFrame) -> None:
    """Check a complete corpus against the published ICBHI counts; raise listing every difference."""
    differences = []
    if len(index) != NUM_CYCLES:
        differences.append(f"cycles: {len(index)} (expected {NUM_CYCLES})")
    if index["official_split"].notna().any():
        for split, expected in OFFICIAL_SPLIT_CYCLES.items():
            found = int((index["official_split"] == split).sum())
            if found != expected:
                differences.append(f"{split} cycles: {found} (expected {expected})")
        found_counts = class_counts(index)
        for split, expected_counts in OFFICIAL_CLASS_COUNTS.items():
            for label, expected in expected_counts.items():
                found = found_counts.get(split, {}).get(label, 0)
                if found != expected:
                    differences.append(f"{split} {label}: {found} (expected {expected})")
    else:
        totals = class_counts(index, by=None)["all"]
        for label in CLASS_NAMES:
            expected = sum(counts[label] for counts in OFFICIAL_CLASS_COUNTS.values())
            if totals[label] != expected:
                differences.append(f"{label}: {totals[label]} (expected {expected})")
    if differences:
        raise ICBHICountError(
            f"this corpus has all {NUM_RECORDINGS} recordings but does not reproduce the published ICBHI "
            "counts: " + "; ".join(differences)
        )
