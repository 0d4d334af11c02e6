"""The ICBHI text files (annotations, official split, diagnoses, demographics) parsed line by line, every
error naming the file and the 1-based line; and the cycle index built from them alone (no audio read).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES, cycle_label
from .corpus_files import (
    NUM_CYCLES,
    NUM_RECORDINGS,
    OFFICIAL_CLASS_COUNTS,
    OFFICIAL_SPLIT_CYCLES,
    CorpusLayout,
    RecordingName,
    locate_corpus,
)
from .errors import CorpusCountError, CorpusFormatError, read_text

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
MISSING = frozenset({"NA", "N/A", "NaN", "nan", ""})
SPLIT_VALUES = frozenset({"train", "test"})
CLIP_TOLERANCE_SECONDS = 0.05
"""Seconds a cycle may run past its audio's end before its clipping is reported."""


class ClippedCycleWarning(UserWarning):
    """Annotated cycles that end more than their tolerance after their recording does: clipped to it."""


@dataclass(frozen=True)
class AnnotatedCycle:
    """One line of an annotation file."""

    line: int
    start: float
    end: float
    crackle: int
    wheeze: int


@dataclass(frozen=True)
class SplitEntry:
    """One line of the official split file."""

    line: int
    name: RecordingName
    split: str


def iter_fields(path: Path, separator: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(line_number, fields)`` of each non-blank line."""
    for number, raw in enumerate(read_text(path).removeprefix("\ufeff").splitlines(), start=1):
        if raw.strip():
            yield number, [field.strip() for field in raw.split(separator)]


def _number(path: Path, line: int, value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CorpusFormatError(path, f"{what} {value!r} is not a number", line=line) from None
    if not math.isfinite(number):
        raise CorpusFormatError(path, f"{what} {value!r} is not a finite number", line=line)
    return number


def _flag(path: Path, line: int, value: str, what: str) -> int:
    if value not in ("0", "1"):
        raise CorpusFormatError(path, f"{what} flag {value!r} should be 0 or 1", line=line)
    return int(value)


def check_cycles_fit(
    cycles: Iterable[tuple[str | Path, int, float, float, float]], tolerance: float = CLIP_TOLERANCE_SECONDS
) -> None:
    """A format error for a cycle (``(annotation, line, start, end, audio duration)``) starting at or after
    its audio's end; one :class:`ClippedCycleWarning` for those ending over ``tolerance`` s after."""
    clipped = []
    for annotation, line, start, end, duration in cycles:
        if start >= duration:
            raise CorpusFormatError(
                annotation,
                f"cycle {start}-{end} s starts after the end of its audio ({duration:.3f} s): is it the "
                "annotation of another recording?",
                line=int(line),
            )
        if end - duration > tolerance:
            clipped.append((end - duration, annotation, int(line), end, duration))
    if clipped:
        _, annotation, line, end, duration = max(clipped, key=lambda cycle: cycle[0])
        warnings.warn(
            f"{len(clipped)} cycle(s) end more than {tolerance} s after their audio and are clipped to it; "
            f"worst: {annotation}:{line} ends at {end} s, audio at {duration:.3f} s",
            ClippedCycleWarning,
            stacklevel=3,
        )


def read_annotations(path: Path) -> list[AnnotatedCycle]:
    """Parse ``start end crackle wheeze`` lines; reject malformed, negative, inverted or no cycles."""
    cycles = []
    for line, fields in iter_fields(path):
        if len(fields) != 4:
            raise CorpusFormatError(
                path,
                f"expected 4 fields 'start end crackle wheeze', found {len(fields)}: {fields}",
                line=line,
            )
        start = _number(path, line, fields[0], "start")
        end = _number(path, line, fields[1], "end")
        if start < 0:
            raise CorpusFormatError(path, f"start {fields[0]} is negative", line=line)
        if start >= end:
            raise CorpusFormatError(
                path,
                f"cycle start {fields[0]} is not before its end {fields[1]} (empty or inverted)",
                line=line,
            )
        flags = _flag(path, line, fields[2], "crackle"), _flag(path, line, fields[3], "wheeze")
        cycles.append(AnnotatedCycle(line, start, end, *flags))
    if not cycles:
        raise CorpusFormatError(path, "holds no cycles (expected 'start end crackle wheeze' lines)")
    return cycles


def read_split_file(path: Path) -> list[SplitEntry]:
    """Parse ``<recording stem>\\t<train|test>`` lines of ``ICBHI_challenge_train_test.txt``."""
    entries = []
    for line, fields in iter_fields(path):
        if len(fields) != 2:
            raise CorpusFormatError(path, f"expected '<recording> <train|test>', found {fields}", line=line)
        stem, split = fields
        try:
            name = RecordingName.parse(stem)
        except ValueError as error:
            raise CorpusFormatError(path, str(error), line=line) from None
        if split not in SPLIT_VALUES:
            raise CorpusFormatError(path, f"split {split!r} should be 'train' or 'test'", line=line)
        entries.append(SplitEntry(line, name, split))
    return entries


def _patient_rows(
    path: Path, expected: str, separator: str | None = None
) -> Iterator[tuple[int, int, list[str]]]:
    """``(line, patient, fields)`` of each row of ``expected`` fields, each patient once."""
    seen: set[int] = set()
    for line, fields in iter_fields(path, separator):
        if line == 1 and not fields[0].isdigit() and separator == ",":
            continue  # optional "ID,CLASS" header
        if len(fields) != len(expected.split()):
            raise CorpusFormatError(
                path, f"expected {len(expected.split())} fields '{expected}', found {fields}", line=line
            )
        if not fields[0].isdigit():
            raise CorpusFormatError(path, f"patient id {fields[0]!r} is not a number", line=line)
        if int(fields[0]) in seen:
            raise CorpusFormatError(path, f"patient {int(fields[0])} is listed twice", line=line)
        seen.add(int(fields[0]))
        yield line, int(fields[0]), fields


def read_diagnoses(path: Path) -> dict[int, str]:
    """Patient → diagnosis from ``ICBHI_Challenge_diagnosis.txt`` (tab) or ``patient_diagnosis.csv``."""
    rows = _patient_rows(path, "patient diagnosis", "," if path.suffix == ".csv" else None)
    return {patient: fields[1] for _, patient, fields in rows}


def read_demographics(path: Path) -> dict[int, tuple[float | str | None, ...]]:
    """Patient → (age, sex, adult BMI, child weight, child height); ``NA`` becomes ``None``."""
    demographics = {}
    for line, patient, fields in _patient_rows(path, "patient age sex adult_bmi child_weight child_height"):
        sex = None if fields[2] in MISSING else fields[2]
        if sex not in (None, "M", "F"):
            raise CorpusFormatError(path, f"sex {fields[2]!r} should be M, F or NA", line=line)
        numbers = zip(
            fields[1:2] + fields[3:], ("age", "adult BMI", "child weight", "child height"), strict=True
        )
        age, bmi, weight, height = (
            None if value in MISSING else _number(path, line, value, what) for value, what in numbers
        )
        demographics[patient] = (age, sex, bmi, weight, height)
    return demographics


# ------------------------------------------------------------ the cycle index
INDEX_COLUMNS: tuple[str, ...] = (
    "recording", "patient_id", "recording_index", "chest_location", "acquisition_mode", "device",
    "cycle_index", "start", "end", "crackle", "wheeze", "label", "official_split", "diagnosis", "age",
    "sex", "adult_bmi", "child_weight", "child_height", "annotation_line",
)  # fmt: skip
STRATA_COLUMNS: tuple[str, ...] = (
    "chest_location", "acquisition_mode", "device", "label", "diagnosis", "sex",
)  # fmt: skip
"""The index's categorical columns: what ``stratify_by`` and ``fold_stratify_by`` can stratify by."""


class PartialCorpusWarning(UserWarning):
    """Some recordings are missing (audio or annotations): they are left out, and this says how many."""


class MissingMetadataWarning(UserWarning):
    """The diagnosis or demographics file has no entry for some patients: their values are null."""


def read_icbhi_index(data_dir: str | Path) -> pd.DataFrame:
    """Every cycle of an ICBHI corpus, one row each (no audio read); the published counts checked on the
    complete database. Split entries missing from the folder: one :class:`PartialCorpusWarning`."""
    return index_from_layout(locate_corpus(data_dir))


def index_from_layout(layout: CorpusLayout) -> pd.DataFrame:
    names = {stem: RecordingName.parse(stem) for stem in layout.annotation_files}
    splits = _match_split_entries(layout, names)
    diagnoses = _merged_patients(layout.metadata_files("diagnosis"), read_diagnoses)
    demographics = _merged_patients(layout.metadata_files("demographics"), read_demographics)
    patients = {name.patient_id for name in names.values()}
    _warn_unlisted_patients(layout.metadata_files("diagnosis"), diagnoses, patients, "diagnosis")
    _warn_unlisted_patients(
        layout.metadata_files("demographics"), demographics, patients, "age, sex, BMI, weight and height"
    )
    rows = []
    for stem, path in sorted(layout.annotation_files.items()):
        name = names[stem]
        recording = (stem, *astuple(name))
        metadata = (splits.get(stem), diagnoses.get(name.patient_id))
        person = demographics.get(name.patient_id, (None,) * 5)
        for cycle_index, cycle in enumerate(read_annotations(path)):
            label = cycle_label(cycle.crackle, cycle.wheeze)
            annotated = (cycle_index, cycle.start, cycle.end, cycle.crackle, cycle.wheeze, label)
            rows.append((*recording, *annotated, *metadata, *person, cycle.line))
    import pandas as pd

    index = pd.DataFrame.from_records(rows, columns=list(INDEX_COLUMNS))
    numbers = dict.fromkeys(("age", "adult_bmi", "child_weight", "child_height"), "Float64")
    index = index.astype({**numbers, **dict.fromkeys(MULTI_LABEL_NAMES, "int8")})  # and the flags
    for column in ("official_split", "diagnosis", "sex"):
        index[column] = index[column].astype(object).where(index[column].notna(), None)
    if len(layout.annotation_files) == NUM_RECORDINGS:
        validate_counts(index)
    return index


def corpus_index(layout: CorpusLayout) -> pd.DataFrame:
    """The cycle index of a located ICBHI folder, less the recordings without audio (a partial corpus is
    reported when the dataset is built)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = index_from_layout(layout)
    return index[index["recording"].isin(set(layout.audio_files))]


def _warn_unlisted_patients(
    paths: list[Path], listed: dict[int, object], patients: set[int], what: str
) -> None:
    missing = sorted(patients - set(listed))
    if not paths or not missing:
        return
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    warnings.warn(
        f"{' and '.join(map(str, paths))} {'has' if len(paths) == 1 else 'have'} no entry for "
        f"{len(missing)} of the {len(patients)} patients with recordings "
        f"(patient {shown}): their {what} {'is' if what == 'diagnosis' else 'are'} null",
        MissingMetadataWarning,
        stacklevel=4,
    )


def _merged_patients(files: list[Path], read: Callable[[Path], dict[int, T]]) -> dict[int, T]:
    """Patient → value of every folder's metadata file (``read``); a format error for a patient two files
    give different values."""
    merged: dict[int, T] = {}
    origin: dict[int, Path] = {}
    for path in files:
        for patient, value in read(path).items():
            if patient in merged and merged[patient] != value:
                raise CorpusFormatError(
                    path, f"patient {patient}: {value!r} here, {merged[patient]!r} in {origin[patient]}"
                )
            merged.setdefault(patient, value)
            origin.setdefault(patient, path)
    return merged


def _split_entries(files: list[Path]) -> dict[tuple[int, str, str, str], tuple[Path, SplitEntry]]:
    """Every folder's split entries by recording key, with their file; a format error for a recording
    listed twice in one file, or on two sides in two."""
    entries: dict[tuple[int, str, str, str], tuple[Path, SplitEntry]] = {}
    for path in files:
        listed: set[tuple[int, str, str, str]] = set()
        for entry in read_split_file(path):
            key = entry.name.key
            if key in listed:
                raise CorpusFormatError(
                    path,
                    f"duplicate recording {entry.name.stem!r}: already listed on line {entries[key][1].line}",
                    line=entry.line,
                )
            listed.add(key)
            if key in entries and entries[key][1].split != entry.split:
                where, other = entries[key]
                raise CorpusFormatError(
                    path,
                    f"recording {entry.name.stem!r} is {entry.split!r} here, {other.split!r} in "
                    f"{where}:{other.line}",
                    line=entry.line,
                )
            entries.setdefault(key, (path, entry))
    return entries


def _match_split_entries(layout: CorpusLayout, names: dict[str, RecordingName]) -> dict[str, str]:
    files = layout.metadata_files("split")
    if not files:
        return {}
    found = _split_entries(files)
    entries = {key: entry for key, (_, entry) in found.items()}
    splits = {}
    for stem, name in sorted(names.items()):
        entry = entries.pop(name.key, None)
        if entry is None:
            raise CorpusFormatError(
                _split_file_of(layout, stem),
                f"has no entry for recording {stem!r} ({layout.annotation_files[stem].name})"
                + _unmatched_hint(entries.values(), name),
            )
        splits[stem] = entry.split
    if entries:
        where, first = min((found[key] for key in entries), key=lambda e: (files.index(e[0]), e[1].line))
        warnings.warn(
            f"{where}:{first.line}: names recording {first.name.stem!r}, which is not in "
            f"{layout.place}; {len(entries)} split entr{'y' if len(entries) == 1 else 'ies'} "
            f"name recordings that are not in {'these folders' if layout.parts else 'this folder'} "
            f"(using the {len(names)} that are)",
            PartialCorpusWarning,
            stacklevel=3,
        )
    return splits


def _split_file_of(layout: CorpusLayout, stem: str) -> Path:
    """The split file of the folder holding recording ``stem`` (else the first folder's that has one)."""
    own = next(part.split_file for part in layout.folders if stem in part.annotation_files)
    return own or layout.metadata_files("split")[0]


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
    checks = [("cycles", len(index), NUM_CYCLES)]
    if index["official_split"].notna().any():
        counts = class_counts(index)
        for split, expected in OFFICIAL_SPLIT_CYCLES.items():
            checks.append((f"{split} cycles", int((index["official_split"] == split).sum()), expected))
        for split, expected_counts in OFFICIAL_CLASS_COUNTS.items():
            for label, expected in expected_counts.items():
                checks.append((f"{split} {label}", counts.get(split, {}).get(label, 0), expected))
    else:
        totals = class_counts(index, by=None)["all"]
        for label in CLASS_NAMES:
            checks.append((label, totals[label], sum(c[label] for c in OFFICIAL_CLASS_COUNTS.values())))
    differences = [
        f"{what}: {found} (expected {expected})" for what, found, expected in checks if found != expected
    ]
    if differences:
        raise CorpusCountError(
            f"this corpus has all {NUM_RECORDINGS} recordings but does not reproduce the published ICBHI "
            "counts: " + "; ".join(differences)
        )
