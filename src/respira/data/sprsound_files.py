"""SPRSound files: names (``{patient}_{age}_{sex 0/1}_{p1..p4}_{recording}``, e.g.
``40686765_6.7_1_p1_3025.wav``) and JSON annotations (a record label and events, times in milliseconds)
read into plain values, and the corpus found in a folder. Nothing is guessed: an unknown label or type, or
a bad time, is an error naming the file and the event (from 1).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import CorpusCountError, CorpusError, CorpusFormatError
from .layout import AUDIO_SUFFIXES, corpus_root, files_fingerprint, files_in, walk_dirs
from .text_files import PartialCorpusWarning

RECORD_LABELS: tuple[str, ...] = ("Normal", "Poor Quality", "CAS", "DAS", "CAS & DAS")
"""Record labels (CAS: wheeze, rhonchi, stridor; DAS: crackles) in the challenge organisers' class order."""
RECORD_FLAGS: dict[str, tuple[int, int, int, int]] = {  # (crackle, wheeze, normal, poor_quality)
    "Normal": (0, 0, 1, 0), "CAS": (0, 1, 0, 0), "DAS": (1, 0, 0, 0), "CAS & DAS": (1, 1, 0, 0),
    "Poor Quality": (0, 0, 0, 1),
}  # fmt: skip
EVENT_TYPES: tuple[str, ...] = (
    "Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"
)  # fmt: skip
"""Event types in the challenge organisers' class order."""
EVENT_CLASSES: dict[str, str] = {
    "Normal": "normal", "Fine Crackle": "crackle", "Coarse Crackle": "crackle", "Wheeze": "wheeze",
    "Rhonchi": "wheeze", "Stridor": "wheeze", "Wheeze+Crackle": "both",
}  # fmt: skip
"""Event type → ICBHI class (:data:`respira.labels.CLASS_NAMES`)."""
CHEST_LOCATIONS: dict[str, str] = {
    "p1": "left posterior", "p2": "left lateral", "p3": "right posterior", "p4": "right lateral"
}  # fmt: skip
"""Location code of a file name → chest location."""
SEXES: dict[str, str] = {"0": "M", "1": "F"}

RECORD_KEYS: tuple[str, ...] = ("record_annotation", "recording_annotation")
EVENTS_KEY = "event_annotation"
_PATTERN = "{patient}_{age}_{sex}_{location}_{recording} (e.g. 40686765_6.7_1_p1_3025)"
_AGE = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class SPRSoundName:
    """What an SPRSound file name says."""

    stem: str
    patient_id: int
    age: float  # years
    sex: str  # M or F
    chest_location: str  # a value of CHEST_LOCATIONS
    location_code: str  # p1 .. p4
    recording_number: int

    @classmethod
    def parse(cls, stem: str) -> SPRSoundName:
        """Parse a file stem; a one-line :class:`CorpusError` names the wrong field."""
        fields = stem.split("_")
        if len(fields) != 5:
            raise CorpusError(f"expected 5 '_'-separated fields {_PATTERN}, found {len(fields)}")
        patient, age, sex, location, recording = (field.strip() for field in fields)
        for valid, problem in (
            (patient.isdigit(), f"patient {patient!r} is not a whole number"),
            (_AGE.match(age), f"age {age!r} is not a number of years"),
            (sex in SEXES, f"sex {sex!r} is not 0 (male) or 1 (female)"),
            (
                location.lower() in CHEST_LOCATIONS,
                f"location {location!r} is not p1 (left posterior), p2 (left lateral), p3 (right posterior) "
                "or p4 (right lateral)",
            ),
            (recording.isdigit(), f"recording {recording!r} is not a whole number"),
        ):
            if not valid:
                raise CorpusError(f"{problem} (file names are {_PATTERN})")
        return cls(
            stem=stem,
            patient_id=int(patient),
            age=float(age),
            sex=SEXES[sex],
            chest_location=CHEST_LOCATIONS[location.lower()],
            location_code=location.lower(),
            recording_number=int(recording),
        )


class SPRSoundEvent(NamedTuple):
    """One annotated event: ``(start, end, type)``, times in seconds."""

    start: float
    end: float
    type: str


@dataclass(frozen=True)
class SPRSoundAnnotation:
    """A recording's JSON annotation: its record label and its events (times in seconds)."""

    record_label: str
    events: tuple[SPRSoundEvent, ...]

    @property
    def flags(self) -> dict[str, int]:
        """The record label's ``crackle``, ``wheeze``, ``normal`` and ``poor_quality`` flags (0/1)."""
        names = ("crackle", "wheeze", "normal", "poor_quality")
        return dict(zip(names, RECORD_FLAGS[self.record_label], strict=True))


def read_annotation(path: str | Path) -> SPRSoundAnnotation:
    """Read one SPRSound JSON annotation; a one-line :class:`CorpusFormatError` names the file and event."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CorpusFormatError(path, f"not valid JSON ({where}): {error.msg}", line=error.lineno) from None
    except UnicodeDecodeError as error:
        raise CorpusFormatError(path, f"not a UTF-8 text file (byte {error.start})") from None
    if not isinstance(data, dict):
        raise CorpusFormatError(path, f"expected a JSON object, found {type(data).__name__}")
    labels = {key: data[key] for key in RECORD_KEYS if key in data}
    if not labels:
        raise CorpusFormatError(path, f"no record label ({' or '.join(map(repr, RECORD_KEYS))} key)")
    if len(set(map(str, labels.values()))) > 1:
        raise CorpusFormatError(path, f"the two record-label keys disagree: {labels}")
    label = next(iter(labels.values()))
    if label not in RECORD_LABELS:
        raise CorpusFormatError(path, f"unknown record label {label!r} (known: {', '.join(RECORD_LABELS)})")
    entries = data.get(EVENTS_KEY)
    if not isinstance(entries, list):
        found = "none" if entries is None else type(entries).__name__
        raise CorpusFormatError(path, f"{EVENTS_KEY!r} must be a list of events, found {found}")
    events = tuple(_event(path, number, entry) for number, entry in enumerate(entries, start=1))
    return SPRSoundAnnotation(record_label=label, events=events)


def _event(path: Path, number: int, entry: Any) -> SPRSoundEvent:
    if not isinstance(entry, dict) or not {"start", "end", "type"} <= set(entry):
        raise CorpusFormatError(
            path, f"event {number}: expected an object with start, end and type, found {entry!r}"
        )
    kind = entry["type"]
    if kind not in EVENT_TYPES:
        raise CorpusFormatError(
            path, f"event {number}: unknown type {kind!r} (known: {', '.join(EVENT_TYPES)})"
        )
    start, end = (_milliseconds(path, number, name, entry[name]) for name in ("start", "end"))
    if end <= start:
        raise CorpusFormatError(
            path,
            f"event {number}: end {entry['end']!r} ms is not after start {entry['start']!r} ms "
            "(an empty or inverted event)",
        )
    return SPRSoundEvent(start / 1000.0, end / 1000.0, kind)


def _milliseconds(path: Path, number: int, name: str, value: Any) -> float:
    """A time of event ``number`` in milliseconds (a number or a string holding one), checked."""
    try:
        if isinstance(value, bool):
            raise TypeError
        milliseconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        milliseconds = math.nan
    if not math.isfinite(milliseconds):
        raise CorpusFormatError(path, f"event {number}: {name} {value!r} is not a number of milliseconds")
    if milliseconds < 0:
        raise CorpusFormatError(path, f"event {number}: {name} {value!r} ms is negative")
    return milliseconds


# ------------------------------------------------------------ the corpus in a folder
PARTS: dict[str, tuple[str, str]] = {
    "train": ("train_wav", "train_json"),
    "inter_test": ("test_wav", "test_json/inter_test_json"),
    "intra_test": ("test_wav", "test_json/intra_test_json"),
}
"""Official part → (audio folder, annotation folder), relative to the corpus folder."""
OFFICIAL_PARTS: tuple[str, ...] = tuple(PARTS)


@dataclass(frozen=True)
class SPRSoundLayout:
    """Where the recordings of one SPRSound corpus live: those with both a ``.wav`` and a ``.json``."""

    root: Path
    corpus_dir: Path
    audio_files: dict[str, Path] = field(repr=False)
    annotation_files: dict[str, Path] = field(repr=False)
    official_parts: dict[str, str] = field(repr=False)

    def fingerprint(self) -> str:
        """A hash of every recording's and annotation's name, size and modification time."""
        return files_fingerprint(self.root, [*self.audio_files.values(), *self.annotation_files.values()])


class SPRSoundRecording(NamedTuple):
    """One recording: its parsed name and annotation, official part and files."""

    name: SPRSoundName
    annotation: SPRSoundAnnotation
    part: str
    audio: Path
    json: Path


def locate_sprsound(data_dir: str | Path, parts: Sequence[str] | None = None) -> SPRSoundLayout:
    """Find an SPRSound corpus: ``data_dir`` or the first folder below it (3 levels) in the official layout
    (unpaired files left out with one :class:`~respira.data.text_files.PartialCorpusWarning`): the official
    ``parts`` alone, each required (default: every part there)."""
    bad = parts is not None and (isinstance(parts, str) or not isinstance(parts, Sequence) or not parts)
    if bad or any(part not in PARTS for part in parts or ()):
        raise ValueError(f"parts: a list of SPRSound's parts ({', '.join(PARTS)}), not {parts!r}")
    root = corpus_root(data_dir, "SPRSound")
    for folder in [root, *walk_dirs(root)]:
        if any((folder / audio).is_dir() and (folder / notes).is_dir() for audio, notes in PARTS.values()):
            return _layout(root, folder, parts)
    from .corpora import layout_hint

    raise CorpusError(
        f"no SPRSound layout (train_wav/ with train_json/, or test_wav/ with test_json/inter_test_json/ or "
        f"test_json/intra_test_json/) in {root} or in the folders below it{layout_hint(root, 'sprsound')}"
    )


def _layout(root: Path, corpus: Path, chosen: Sequence[str] | None) -> SPRSoundLayout:
    audio: dict[str, Path] = {}
    notes: dict[str, Path] = {}
    parts: dict[str, str] = {}
    without_audio: list[Path] = []
    read = {part: PARTS[part] for part in (PARTS if chosen is None else chosen)}
    for part, (audio_dir, notes_dir) in read.items():
        wavs = files_in(corpus / audio_dir, AUDIO_SUFFIXES)
        for stem, path in files_in(corpus / notes_dir, (".json",)).items():
            if stem in notes:
                raise CorpusFormatError(
                    path, f"duplicate recording: {notes[stem]} annotates {stem} too; keep one of them"
                )
            if stem not in wavs:
                without_audio.append(path)
                continue
            audio[stem], notes[stem], parts[stem] = wavs[stem], path, part
    for part in [part for part in chosen or () if part not in parts.values()]:
        why = " and ".join(f"{name}/" for name in PARTS[part] if not (corpus / name).is_dir())
        why = f"{why} missing" if why else "no .wav in {}/ has its .json in {}/".format(*PARTS[part])
        raise CorpusError(f"{corpus} has no SPRSound {part} part: {why}")
    elsewhere = [files_in(corpus / PARTS[part][1], (".json",)) for part in PARTS if part not in read]
    without_notes = [
        path
        for audio_dir in dict.fromkeys(audio_dir for audio_dir, _ in read.values())
        for stem, path in files_in(corpus / audio_dir, AUDIO_SUFFIXES).items()
        if audio.get(stem) != path and not any(stem in listed for listed in elsewhere)
    ]
    if without_audio or without_notes:
        first = (without_notes or without_audio)[0]
        warnings.warn(
            f"{corpus}: {len(without_notes)} audio file(s) without their .json annotation and "
            f"{len(without_audio)} .json annotation(s) without their .wav are left out; first: "
            f"{first.relative_to(corpus)}",
            PartialCorpusWarning,
            stacklevel=3,
        )
    if not audio:
        raise CorpusError(f"{corpus}: no SPRSound recording with both its .wav and its .json annotation")
    return SPRSoundLayout(root, corpus, audio, notes, parts)


def sprsound_recordings(layout: SPRSoundLayout) -> list[SPRSoundRecording]:
    """Every recording's parsed name and annotation, by official part then name, structure checked."""
    recordings = []
    for stem, audio in layout.audio_files.items():
        try:
            name = SPRSoundName.parse(stem)
        except CorpusError as error:
            raise CorpusFormatError(audio, str(error)) from None
        notes = layout.annotation_files[stem]
        part = layout.official_parts[stem]
        recordings.append(SPRSoundRecording(name, read_annotation(notes), part, audio, notes))
    _check_patients(layout, recordings)
    return recordings


def _check_patients(layout: SPRSoundLayout, recordings: list[SPRSoundRecording]) -> None:
    """A patient of ``inter_test`` in another part is an error."""
    parts: dict[int, dict[str, Path]] = defaultdict(dict)
    for recording in recordings:
        parts[recording.name.patient_id].setdefault(recording.part, recording.json)
    for patient, found in sorted(parts.items()):
        if "inter_test" in found and len(found) > 1:
            other = next(part for part in found if part != "inter_test")
            raise CorpusCountError(
                f"SPRSound patient {patient} has recordings in the official inter_test part "
                f"({found['inter_test'].relative_to(layout.corpus_dir)}) and in {other} "
                f"({found[other].relative_to(layout.corpus_dir)}): inter_test holds the patients absent from "
                "the training part of the release, so none can be in another part"
            )
