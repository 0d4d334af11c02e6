"""SPRSound 2022 (Zhang et al., IEEE TBioCAS 16(5), 2022; children, a Yunting II stethoscope, 8 kHz) as a
``datasets`` builder: config ``events`` (default), one example per annotated event, or ``recordings``, one
per recording with its ``events``. Events running past the audio are clipped (one starting after it is
left out), with one :class:`~respira.data.text_files.ClippedCycleWarning` per build.

Its file names (``{patient}_{age}_{sex 0/1}_{p1..p4}_{recording}``, e.g. ``40686765_6.7_1_p1_3025.wav``)
and JSON annotations (a record label and events, times in milliseconds) are read into plain values; nothing
is guessed: an unknown label or type, or a bad time, is an error naming the file and the event (from 1).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import datasets
import pandas as pd

from ..models.respira.audio_decoding import check_whole
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES
from .corpus_files import (
    AUDIO_SUFFIXES,
    DataDir,
    FolderClaims,
    data_dirs,
    files_fingerprint,
    files_in,
    locate_folders,
    merged_fingerprint,
    walk_dirs,
)
from .errors import CorpusCountError, CorpusError, CorpusFormatError, LayoutNotFoundError, read_text
from .loaders import AudioBuilderConfig, FolderBuilder, audio_durations, load_folder
from .splits import parse_split_fractions, split_by_fractions
from .text_files import ClippedCycleWarning, PartialCorpusWarning

RECORD_LABELS: tuple[str, ...] = ("Normal", "Poor Quality", "CAS", "DAS", "CAS & DAS")
"""Record labels (CAS: wheeze, rhonchi, stridor; DAS: crackles) in the challenge organisers' class order."""
FLAGS = ("crackle", "wheeze", "normal", "poor_quality")
RECORD_FLAGS: dict[str, tuple[int, int, int, int]] = {  # FLAGS of each record label
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
"""Event type → ICBHI class (:data:`respira.models.respira.labels.CLASS_NAMES`)."""
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
        return dict(zip(FLAGS, RECORD_FLAGS[self.record_label], strict=True))


def read_annotation(path: str | Path) -> SPRSoundAnnotation:
    """Read one SPRSound JSON annotation; a one-line :class:`CorpusFormatError` names the file and event."""
    path = Path(path)
    try:
        data = json.loads(read_text(path).removeprefix("\ufeff"))
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CorpusFormatError(path, f"not valid JSON ({where}): {error.msg}", line=error.lineno) from None
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


@dataclass(frozen=True)
class SPRSoundLayout:
    """Where the recordings of one SPRSound corpus live: those with both a ``.wav`` and a ``.json`` (in one
    folder, or several: :attr:`parts`)."""

    root: Path
    corpus_dir: Path
    audio_files: dict[str, Path] = field(repr=False)
    annotation_files: dict[str, Path] = field(repr=False)
    official_parts: dict[str, str] = field(repr=False)
    parts: tuple[SPRSoundLayout, ...] = field(default=(), repr=False)
    """A corpus spanning several folders: each folder's own layout (the fields above merge them)."""

    def fingerprint(self) -> str:
        """A hash of every recording's and annotation's name, size and modification time."""
        if self.parts:
            return merged_fingerprint(self.parts)
        return files_fingerprint(self.root, [*self.audio_files.values(), *self.annotation_files.values()])

    def shown(self, path: Path) -> Path:
        """``path`` as messages name it: relative to the corpus folder that holds it."""
        for part in self.parts or (self,):
            if path.is_relative_to(part.corpus_dir):
                return path.relative_to(part.corpus_dir)
        return path


class SPRSoundRecording(NamedTuple):
    """One recording: its parsed name and annotation, official part and files."""

    name: SPRSoundName
    annotation: SPRSoundAnnotation
    part: str
    audio: Path
    json: Path


def locate_sprsound(data_dir: DataDir, parts: Sequence[str] | None = None) -> SPRSoundLayout:
    """Find an SPRSound corpus: ``data_dir`` or the first folder below it (3 levels) in the official layout
    (unpaired files left out with one :class:`~respira.data.text_files.PartialCorpusWarning`): the official
    ``parts`` alone, each required (default: every part there); or in each of a list of folders that
    together hold one corpus (no recording and no patient in two; each part required of them all)."""
    bad = parts is not None and (isinstance(parts, str) or not isinstance(parts, Sequence) or not parts)
    if bad or any(part not in PARTS for part in parts or ()):
        raise ValueError(f"parts: a list of SPRSound's parts ({', '.join(PARTS)}), not {parts!r}")
    several = len(data_dirs(data_dir)) > 1
    layout = locate_folders(
        data_dir,
        "SPRSound data_dir",
        lambda root: _locate_folder(root, None if several else parts),
        _merged,
    )
    return _only_parts(layout, parts) if several and parts is not None else layout


def _locate_folder(root: Path, parts: Sequence[str] | None) -> SPRSoundLayout:
    for folder in [root, *walk_dirs(root)]:
        if any((folder / audio).is_dir() and (folder / notes).is_dir() for audio, notes in PARTS.values()):
            return _layout(root, folder, parts)
    raise LayoutNotFoundError(
        f"no SPRSound layout (train_wav/ with train_json/, or test_wav/ with test_json/inter_test_json/ or "
        f"test_json/intra_test_json/) in {root} or in the folders below it"
    )


def _merged(parts: list[SPRSoundLayout]) -> SPRSoundLayout:
    """One layout of several folders'; a format error naming both files for a recording, or a patient,
    that two folders hold."""
    claims = FolderClaims()
    for part in parts:
        for stem, path in part.audio_files.items():
            try:
                patient: int | None = SPRSoundName.parse(stem).patient_id
            except CorpusError:
                patient = None  # named by sprsound_recordings, before any work
            claims.claim(path, part.root, stem, patient)
    merged = [{k: v for part in parts for k, v in getattr(part, name).items()} for name in _MERGED]
    return SPRSoundLayout(parts[0].root, parts[0].corpus_dir, *merged, parts=tuple(parts))


_MERGED = ("audio_files", "annotation_files", "official_parts")


def _only_parts(layout: SPRSoundLayout, chosen: Sequence[str]) -> SPRSoundLayout:
    """``layout``'s recordings of the official parts ``chosen``, each required (its folders' too: what the
    cache key hashes)."""
    lacking = [part for part in chosen if part not in layout.official_parts.values()]
    if lacking:
        places = " and ".join(str(part.corpus_dir) for part in layout.parts)
        raise CorpusError(f"{places} have no SPRSound {lacking[0]} part (no .wav with its .json there)")
    return replace(_subset(layout, chosen), parts=tuple(_subset(part, chosen) for part in layout.parts))


def _subset(layout: SPRSoundLayout, chosen: Sequence[str]) -> SPRSoundLayout:
    kept = [stem for stem, part in layout.official_parts.items() if part in chosen]
    merged = [{stem: getattr(layout, name)[stem] for stem in kept} for name in _MERGED]
    return replace(layout, **dict(zip(_MERGED, merged, strict=True)))


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
                f"({layout.shown(found['inter_test'])}) and in {other} "
                f"({layout.shown(found[other])}): inter_test holds the patients absent from "
                "the training part of the release, so none can be in another part"
            )


# ------------------------------------------------------------ the builder
SPLITS: dict[str, tuple[str, ...]] = {"official": tuple(PARTS), "patient": ("train", "validation", "test")}
DEVICE = "Yunting II"
RECORDING_COLUMNS = ("recording", "patient_id", "age", "sex", "chest_location", "official_part")
INDEX_COLUMNS: tuple[str, ...] = ("path", *RECORDING_COLUMNS, "record_label", *FLAGS, "n_events")
EVENT_COLUMNS: tuple[str, ...] = (
    "path", *RECORDING_COLUMNS, "record_label", "event_index", "start", "end", "event_type", "label",
    "crackle", "wheeze",
)  # fmt: skip


def _recording_columns(recording: SPRSoundRecording) -> dict[str, Any]:
    name = recording.name
    return {
        "recording": name.stem,
        "patient_id": name.patient_id,
        "age": name.age,
        "sex": name.sex,
        "chest_location": name.chest_location,
        "official_part": recording.part,
        "record_label": recording.annotation.record_label,
    }


def _event_flags(event_type: str) -> dict[str, Any]:
    label = EVENT_CLASSES[event_type]
    crackle, wheeze = label in ("crackle", "both"), label in ("wheeze", "both")
    return {"label": label, "crackle": int(crackle), "wheeze": int(wheeze)}


def sprsound_reference_events(example: dict[str, Any]) -> list[tuple[float, float, str]]:
    """The crackle and wheeze events of one ``recordings`` example, as ``(start, end, label)``."""
    events = []
    for span in example["events"]:
        kind = span["type"]
        flags = _event_flags(EVENT_TYPES[kind] if isinstance(kind, int) else kind)
        events += [(span["start"], span["end"], name) for name in MULTI_LABEL_NAMES if flags[name]]
    return events


def read_sprsound_index(data_dir: DataDir) -> pd.DataFrame:
    """One row per SPRSound recording from names and JSON alone: :data:`INDEX_COLUMNS`."""
    rows = [
        {
            "path": str(recording.audio),
            **_recording_columns(recording),
            **recording.annotation.flags,
            "n_events": len(recording.annotation.events),
        }
        for recording in sprsound_recordings(locate_sprsound(data_dir))
    ]
    return pd.DataFrame.from_records(rows, columns=list(INDEX_COLUMNS))


def read_sprsound_events(data_dir: DataDir) -> pd.DataFrame:
    """One row per annotated event (seconds, unclipped) from names and JSON alone: :data:`EVENT_COLUMNS`."""
    rows = [
        {
            "path": str(recording.audio),
            **_recording_columns(recording),
            "event_index": number,
            "start": event.start,
            "end": event.end,
            "event_type": event.type,
            **_event_flags(event.type),
        }
        for recording in sprsound_recordings(locate_sprsound(data_dir))
        for number, event in enumerate(recording.annotation.events, start=1)
    ]
    return pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS))


@dataclass
class SPRSoundConfig(AudioBuilderConfig):
    """Options of the SPRSound builder besides the audio ones: ``split_strategy`` ``official`` (the parts)
    or ``patient`` (``patient_split_fractions``, drawn with ``seed``)."""

    split_strategy: str = "official"
    patient_split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if self.split_strategy not in SPLITS:
            known = ", ".join(SPLITS)
            raise ValueError(f"split_strategy must be one of {known}, got {self.split_strategy!r}")
        self.patient_split_fractions = parse_split_fractions(self.patient_split_fractions)
        self.seed = check_whole(self.seed, "seed", 0)


class SPRSound(FolderBuilder, datasets.GeneratorBasedBuilder):
    """SPRSound from a local folder: one example per event (``events``) or per recording (``recordings``)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = SPRSoundConfig
    BUILDER_CONFIGS: ClassVar[list[SPRSoundConfig]] = [
        SPRSoundConfig(name="events", version=VERSION, description="One example per annotated event."),
        SPRSoundConfig(name="recordings", version=VERSION, description="One example per recording."),
    ]
    DEFAULT_CONFIG_NAME = "events"
    config: SPRSoundConfig

    LOCATE = staticmethod(locate_sprsound)
    layout: SPRSoundLayout

    def _features(self) -> datasets.Features:
        features: dict[str, Any] = {
            "audio": datasets.Audio(sampling_rate=self.config.sampling_rate),
            "recording": datasets.Value("string"),
            "patient_id": datasets.Value("int32"),
            "age": datasets.Value("float64"),
            **{
                name: datasets.Value("string")
                for name in ("sex", "chest_location", "official_part", "device")
            },
            "record_label": datasets.ClassLabel(names=list(RECORD_LABELS)),
        }
        event_type = datasets.ClassLabel(names=list(EVENT_TYPES))
        if self.config.name == "recordings":
            features.update({flag: datasets.Value("int8") for flag in FLAGS})
            span = {"start": datasets.Value("float64"), "end": datasets.Value("float64"), "type": event_type}
            features["events"] = datasets.List(span)
        else:
            seconds, flag = datasets.Value("float64"), datasets.Value("int8")
            features.update(
                event_index=datasets.Value("int32"), start=seconds, end=seconds, event_type=event_type
            )
            features.update(label=datasets.ClassLabel(names=list(CLASS_NAMES)), crackle=flag, wheeze=flag)
        return datasets.Features(features)

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        recordings = sprsound_recordings(self.layout)
        config = self.config
        splits = [recording.part for recording in recordings]  # official
        if config.split_strategy == "patient":
            index = pd.DataFrame.from_records([_recording_columns(recording) for recording in recordings])
            fractions = config.patient_split_fractions
            splits = split_by_fractions(
                index, fractions, seed=config.seed, stratify_by="record_label", require_all=None
            ).tolist()
        durations = audio_durations(self.layout.audio_files)  # fail early
        events = _fit_events(recordings, durations)
        tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for recording, split, spans in zip(recordings, splits, events, strict=True):
            path, columns = str(recording.audio), {**_recording_columns(recording), "device": DEVICE}
            if self.config.name == "recordings":
                kept = [{"start": start, "end": end, "type": kind} for _, start, end, kind in spans]
                whole = {**columns, **recording.annotation.flags, "events": kept}
                tasks[split].append({"path": path, "columns": whole, "segments": None})
                continue
            segments = [
                (
                    {
                        "event_index": number,
                        "start": start,
                        "end": end,
                        "event_type": kind,
                        **_event_flags(kind),
                    },
                    (path, None, f"event {number} ({start:g}-{end:g} s)"),
                )
                for number, start, end, kind in spans
            ]
            tasks[split].append({"path": path, "columns": columns, "segments": segments})
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"recordings": tasks[split]})
            for split in SPLITS[self.config.split_strategy]
            if tasks[split]
        ]


def _fit_events(
    recordings: list[SPRSoundRecording], durations: dict[str, float]
) -> list[list[tuple[int, float, float, str]]]:
    """Each recording's ``(number, start, end, type)`` events clipped to its audio (one warning for the
    whole build)."""
    fitted, clipped, dropped, first = [], 0, 0, ""
    for recording in recordings:
        duration, spans = durations[recording.name.stem], []
        for number, event in enumerate(recording.annotation.events, start=1):
            if event.end > duration and not first:
                times = f"{event.start:g}-{event.end:g} s, audio {duration:.3f} s"
                first = f"{recording.json} event {number} ({times})"
            if event.start >= duration:
                dropped += 1
                continue
            clipped += event.end > duration
            spans.append((number, event.start, min(event.end, duration), event.type))
        fitted.append(spans)
    if clipped or dropped:
        warnings.warn(
            f"{clipped + dropped} SPRSound event(s) end after their recording: {clipped} clipped to its end, "
            f"{dropped} starting at or after it left out; first: {first}",
            ClippedCycleWarning,
            stacklevel=3,
        )
    return fitted


def load_sprsound(
    data_dir: DataDir, *, parts: Sequence[str] | None = None, **options: Any
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) SPRSound from a local folder, or a list of folders that together hold one
    corpus: its official ``parts`` alone, each required
    (default: every part there); ``options``: :func:`~respira.data.loaders.load_folder`'s and further
    :class:`SPRSoundConfig` fields."""
    return load_folder(SPRSound, load_sprsound, data_dir, parts=parts, **options)


# ------------------------------------------------ its dataset card (the spec's split_table, split_definition)
_OFFICIAL = {
    "train": "`train`: the official training part (`train_wav/`, `train_json/`).",
    "inter_test": "`inter_test`: the official test recordings of patients absent from the training part of "
    "the complete release (`test_json/inter_test_json/`).",
    "intra_test": "`intra_test`: the official test recordings of patients who also have recordings in the "
    "training part (`test_json/intra_test_json/`): not patient-disjoint from `train`, by definition.",
}


def split_table(dataset: datasets.DatasetDict) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split: events per class or recordings per record label, patients, parts."""
    first = next(iter(dataset.values()))
    per_recording = "events" in first.column_names
    if per_recording:
        header = ["split", "recordings", "patients", "events", *RECORD_LABELS, "official parts"]
    else:
        header = ["split", "events", "recordings", "patients", *CLASS_NAMES, "official parts"]
    rows = []
    for split, part in dataset.items():
        label = "record_label" if per_recording else "label"
        columns = [label, "recording", "patient_id", "official_part", *(["events"] if per_recording else [])]
        frame = part.select_columns(columns).to_pandas()
        names = RECORD_LABELS if per_recording else CLASS_NAMES
        counts = Counter(int(value) for value in frame[label])
        labels = [str(counts[index]) for index in range(len(names))]
        parts = frame.drop_duplicates("recording")["official_part"].value_counts()
        official = ", ".join(f"{name} {int(parts[name])}" for name in sorted(parts.index))
        recordings, patients = str(frame["recording"].nunique()), str(frame["patient_id"].nunique())
        if per_recording:
            events = str(sum(len(spans) for spans in frame["events"]))
            rows.append([split, recordings, patients, events, *labels, official])
        else:
            rows.append([split, str(len(frame)), recordings, patients, *labels, official])
    return header, rows


def split_definition(options: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    """Sentences saying how the splits were made: the official parts, or a patient-wise split."""
    if options.get("split_strategy") == "patient":
        fractions = "/".join(f"{float(f):g}" for f in options.get("patient_split_fractions", ()))
        return [
            f"A patient-wise split ({', '.join(splits)}; fractions {fractions} of the recordings), no "
            f"patient in two splits, stratified by record label, drawn with seed {options.get('seed', 0)} "
            "(`split_strategy=patient`); each recording's official part is in `official_part`."
        ]
    return [_OFFICIAL[split] for split in splits if split in _OFFICIAL]
