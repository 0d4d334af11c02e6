"""Line parsing of the ICBHI text files; every error names the file and the 1-based line."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import RecordingName
from .errors import ICBHIFormatError

MISSING = frozenset({"NA", "N/A", "NaN", "nan", ""})
SPLIT_VALUES = frozenset({"train", "test"})
CLIP_TOLERANCE_SECONDS = 0.05
"""Seconds an annotated cycle may run past its audio's end before its clipping is reported (the ICBHI
builder's default ``clip_tolerance``, and ``respira predict --annotations``')."""


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


@dataclass(frozen=True)
class Demographics:
    age: float | None
    sex: str | None
    adult_bmi: float | None
    child_weight: float | None
    child_height: float | None


def iter_fields(path: Path, separator: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for each non-blank line of a text file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ICBHIFormatError(path, "is not a UTF-8 text file", line=line) from None
    except OSError as error:
        raise ICBHIFormatError(path, f"cannot be read: {error.strerror}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield number, [field.strip() for field in raw.split(separator)]


def _number(path: Path, line: int, value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ICBHIFormatError(path, f"{what} {value!r} is not a number", line=line) from None
    if not math.isfinite(number):
        raise ICBHIFormatError(path, f"{what} {value!r} is not a finite number", line=line)
    return number


def _optional_number(path: Path, line: int, value: str, what: str) -> float | None:
    return None if value in MISSING else _number(path, line, value, what)


def _flag(path: Path, line: int, value: str, what: str) -> int:
    if value not in ("0", "1"):
        raise ICBHIFormatError(path, f"{what} flag {value!r} should be 0 or 1", line=line)
    return int(value)


def check_cycles_fit(
    cycles: Sequence[AnnotatedCycle], annotation: str | Path, recording: str, num_samples: int, rate: int
) -> None:
    """Check ``annotation``'s cycles against a recording of ``num_samples`` at ``rate`` Hz.

    A cycle starting at or after the end is an :class:`ICBHIFormatError`; cycles ending more than
    :data:`CLIP_TOLERANCE_SECONDS` after it give one :class:`ClippedCycleWarning`.
    """
    duration = num_samples / rate
    for cycle in cycles:
        if cycle.start >= duration or round(cycle.start * rate) >= num_samples:
            raise ICBHIFormatError(
                annotation,
                f"cycle {cycle.start}-{cycle.end} s starts after the end of {recording} ({duration:.3f} s): "
                "is it the annotation of another recording?",
                line=cycle.line,
            )
    clipped = [cycle for cycle in cycles if cycle.end - duration > CLIP_TOLERANCE_SECONDS]
    if clipped:
        worst = max(clipped, key=lambda cycle: cycle.end)
        warnings.warn(
            f"{annotation}: {len(clipped)} cycle(s) end more than {CLIP_TOLERANCE_SECONDS} s after "
            f"{recording} ends and are clipped to it; worst: line {worst.line} ends at {worst.end} s, "
            f"audio at {duration:.3f} s",
            ClippedCycleWarning,
            stacklevel=2,
        )


def read_annotations(path: Path) -> list[AnnotatedCycle]:
    """Parse ``start end crackle wheeze`` lines; reject malformed, negative, inverted or no cycles."""
    cycles = []
    for line, fields in iter_fields(path):
        if len(fields) != 4:
            raise ICBHIFormatError(
                path,
                f"expected 4 fields 'start end crackle wheeze', found {len(fields)}: {fields}",
                line=line,
            )
        start = _number(path, line, fields[0], "start")
        end = _number(path, line, fields[1], "end")
        if start < 0:
            raise ICBHIFormatError(path, f"start {fields[0]} is negative", line=line)
        if start >= end:
            raise ICBHIFormatError(
                path,
                f"cycle start {fields[0]} is not before its end {fields[1]} (empty or inverted)",
                line=line,
            )
        cycles.append(
            AnnotatedCycle(
                line,
                start,
                end,
                _flag(path, line, fields[2], "crackle"),
                _flag(path, line, fields[3], "wheeze"),
            )
        )
    if not cycles:
        raise ICBHIFormatError(path, "holds no cycles (expected 'start end crackle wheeze' lines)")
    return cycles


def read_split_file(path: Path) -> list[SplitEntry]:
    """Parse ``<recording stem>\\t<train|test>`` lines of ``ICBHI_challenge_train_test.txt``."""
    entries = []
    for line, fields in iter_fields(path):
        if len(fields) != 2:
            raise ICBHIFormatError(path, f"expected '<recording> <train|test>', found {fields}", line=line)
        stem, split = fields
        try:
            name = RecordingName.parse(stem)
        except ValueError as error:
            raise ICBHIFormatError(path, str(error), line=line) from None
        if split not in SPLIT_VALUES:
            raise ICBHIFormatError(path, f"split {split!r} should be 'train' or 'test'", line=line)
        entries.append(SplitEntry(line, name, split))
    return entries


def _patient(path: Path, line: int, value: str) -> int:
    if not value.isdigit():
        raise ICBHIFormatError(path, f"patient id {value!r} is not a number", line=line)
    return int(value)


def read_diagnoses(path: Path) -> dict[int, str]:
    """Patient → diagnosis from ``ICBHI_Challenge_diagnosis.txt`` (tab) or ``patient_diagnosis.csv``."""
    separator = "," if path.suffix == ".csv" else None
    diagnoses: dict[int, str] = {}
    for line, fields in iter_fields(path, separator):
        if line == 1 and not fields[0].isdigit() and separator == ",":
            continue  # optional "ID,CLASS" header
        if len(fields) != 2:
            raise ICBHIFormatError(path, f"expected '<patient> <diagnosis>', found {fields}", line=line)
        patient = _patient(path, line, fields[0])
        if patient in diagnoses:
            raise ICBHIFormatError(path, f"patient {patient} is listed twice", line=line)
        diagnoses[patient] = fields[1]
    return diagnoses


def read_demographics(path: Path) -> dict[int, Demographics]:
    """Patient → age, sex, adult BMI, child weight and height; ``NA`` becomes ``None``."""
    demographics: dict[int, Demographics] = {}
    for line, fields in iter_fields(path):
        if len(fields) != 6:
            raise ICBHIFormatError(
                path,
                "expected 6 fields 'patient age sex adult_bmi child_weight child_height', "
                f"found {len(fields)}",
                line=line,
            )
        patient = _patient(path, line, fields[0])
        sex = None if fields[2] in MISSING else fields[2]
        if sex not in (None, "M", "F"):
            raise ICBHIFormatError(path, f"sex {fields[2]!r} should be M, F or NA", line=line)
        if patient in demographics:
            raise ICBHIFormatError(path, f"patient {patient} is listed twice", line=line)
        demographics[patient] = Demographics(
            age=_optional_number(path, line, fields[1], "age"),
            sex=sex,
            adult_bmi=_optional_number(path, line, fields[3], "adult BMI"),
            child_weight=_optional_number(path, line, fields[4], "child weight"),
            child_height=_optional_number(path, line, fields[5], "child height"),
        )
    return demographics
