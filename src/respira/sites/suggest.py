"""``respira suggest`` from Python: which recordings of an archive (a labelled folder whose ``labels.csv``
rows may be blank, or files it does not list) a site should label next; the model's view is cached beside
the output per file path, size and modification time."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data.corpus_files import DataDir, FolderClaims, corpus_roots, shown_dirs
from ..data.errors import CorpusFormatError
from ..data.labels_csv import (
    LABELS_FILE,
    PATIENT_PATTERN_EXAMPLE,
    LabelledRow,
    LabelsTable,
    compile_patient_pattern,
    hold_labels,
    patient_from_name,
    read_labels_csv,
)
from ..models.respira.audio_decoding import check_whole
from ..models.respira.decision import present
from ..models.respira.labels import MULTI_LABEL_NAMES
from .heads import logit
from .scores import recording_probabilities
from .site_sample import (
    CACHE_FOLDER,
    LabelledRecording,
    SiteSample,
    cache_file,
    embed_cached,
    embed_recordings,
)

STRATEGY = "uncertainty"
"""How :func:`suggest_units` orders the units (``benchmarks/suggest.py`` chose it)."""


@dataclass(frozen=True)
class Suggestion:
    """One unit to label next and why it was chosen (one line)."""

    unit: str
    reason: str


def suggest_units(sample: SiteSample, budget: int, *, labelled: Collection[str] = ()) -> list[Suggestion]:
    """The ``budget`` units of ``sample`` to label next, never one of ``labelled``: smallest doubt first
    (the logit distance of any of its recordings' probabilities to its threshold)."""
    units = tuple(dict.fromkeys(str(unit) for unit in sample.units))
    position = {unit: place for place, unit in enumerate(units)}
    owner = np.array([position[str(unit)] for unit in sample.units], dtype=np.int64)
    thresholds = np.asarray(sample.base_thresholds)
    recording = recording_probabilities(
        sample.base_logits, sample.recording, len(sample.recordings), sample.aggregation, sample.top_k
    )
    probability = np.zeros((len(units), 2))
    doubt = np.full(len(units), np.inf)
    abnormal = np.zeros(len(units), dtype=bool)
    np.maximum.at(probability, owner, recording)
    np.minimum.at(doubt, owner, np.abs(logit(recording) - logit(thresholds)[None, :]).min(axis=1))
    np.logical_or.at(abnormal, owner, present(recording, sample.base_thresholds).any(axis=1))
    pool = [index for index, unit in enumerate(units) if unit not in labelled]
    chosen = []
    for i in sorted(pool, key=lambda i: (doubt[i], i))[:budget]:
        shown = ", ".join(
            f"{name} {probability[i, label]:.2f}" for label, name in enumerate(MULTI_LABEL_NAMES)
        )
        call = f"the model calls it {'abnormal' if abnormal[i] else 'normal'} ({shown})"
        chosen.append(
            Suggestion(units[i], f"the model is unsure: {call}, {doubt[i]:.2f} logits from a threshold")
        )
    return chosen


@dataclass(frozen=True)
class ArchiveRecording:
    """One recording of an archive: its file, its ``labels.csv`` row (``None``: not listed), its unit and
    its patient (``None``: none named)."""

    path: Path
    recording_id: str
    row: LabelledRow | None
    unit: str
    patient: str | None = None

    @property
    def answered(self) -> bool:
        return self.row is not None and self.row.answered


@dataclass(frozen=True)
class Archive:
    """An archive read and checked: the CSV's rows in order, then the files it does not list."""

    root: Path
    """Its folder: the first, where its ``labels.csv`` is, of the folders it spans."""
    recordings: tuple[ArchiveRecording, ...]
    units_are_patients: bool
    columns: tuple[str, ...]  # the optional columns to write (patient when the patients are named)
    folders: tuple[Path, ...] = ()
    """Every folder it spans (:attr:`root` first)."""

    @property
    def patients_named(self) -> bool:
        """Whether every recording's patient is known (a ``patient`` column or ``--patient_pattern``)."""
        return "patient" in self.columns

    def answered_units(self) -> set[str]:
        """Units whose every recording is answered."""
        return {r.unit for r in self.recordings} - {r.unit for r in self.recordings if not r.answered}

    def labelled_units(self) -> set[str]:
        """Answered units with a labelled recording."""
        return {r.unit for r in self.recordings if r.row and r.row.labelled} & self.answered_units()


def read_archive(data_dir: DataDir, unit: str | None = None, patient_pattern: str | None = None) -> Archive:
    """The archive ``data_dir`` read and checked (one-line errors): a folder, or the folders it spans, the
    first holding its ``labels.csv`` (the others none; its rows may name any folder's files); patients from
    ``labels.csv``'s ``patient`` column, else from ``patient_pattern`` (the first group of a regular
    expression on the file name); ``unit`` ``None``: patients when they are named, else recordings. A
    recording, or a patient, in two of the folders is refused naming both files."""
    from ..screening.sources import AUDIO_SUFFIXES, audio_files

    pattern = None if patient_pattern is None else compile_patient_pattern(patient_pattern)
    roots = corpus_roots(data_dir, "--data_dir")
    root, labels_file = roots[0], _labels_file(roots)
    table = LabelsTable.read(labels_file) if labels_file.is_file() else None
    rows = read_labels_csv(table, unlabelled=True) if table else []
    names = table.columns if table else []
    has_column = "patient" in names
    if unit == "patient" and not (has_column or pattern):
        raise ValueError(
            f"--unit patient needs each recording's patient: a {LABELS_FILE} in {root} with a patient "
            f"column, or --patient_pattern (e.g. '{PATIENT_PATTERN_EXAMPLE}' for KAUH's names)"
        )
    by_patient = bool(has_column or pattern) if unit is None else unit == "patient"
    listed = {row.path for row in rows}
    recordings, claims = [], FolderClaims()
    for row in rows:
        patient = _patient(row, pattern, labels_file) if has_column or pattern else None
        claims.claim(Path(f"{labels_file}:{row.line}"), _folder_of(row.path, roots), row.path, patient)
        recordings.append(
            ArchiveRecording(row.path, row.file, row, patient if by_patient else row.file, patient)
        )
    found = [(folder, path) for folder in roots for path in audio_files(folder)]
    for folder, path in found:
        if path.resolve() in listed:
            continue
        name = Path(os.path.relpath(path, root)).as_posix()
        if has_column and pattern is None:  # a row written without a patient would be refused by every reader
            raise CorpusFormatError(
                labels_file,
                f"file {name!r} is in the archive but not in {LABELS_FILE}: its patient is unknown; add a "
                "row with its patient (labels blank), pass --patient_pattern, or drop the patient column",
            )
        patient = patient_from_name(pattern, name) if pattern else None
        claims.claim(path, folder, path.resolve(), patient)
        recordings.append(
            ArchiveRecording(path.resolve(), name, None, patient if by_patient else name, patient)
        )
    if not recordings:
        raise ValueError(
            f"--data_dir {shown_dirs(roots)} holds no audio file (looked for {', '.join(AUDIO_SUFFIXES)} "
            "below it)"
        )
    optional = [name for name in ("device", "location", "quality") if name in names]
    named = ("patient",) if has_column or pattern else ()
    return Archive(root, tuple(recordings), by_patient, (*named, *optional), tuple(roots))


def _labels_file(roots: list[Path]) -> Path:
    """The archive's ``labels.csv``: its first folder's; one-line error for one in another folder."""
    other = next((folder / LABELS_FILE for folder in roots[1:] if (folder / LABELS_FILE).exists()), None)
    if other is not None:
        raise ValueError(
            f"--data_dir: {other}: an archive of several folders keeps its {LABELS_FILE} in the first "
            f"({roots[0]}), whose rows may name the other folders' files: give {other.parent} first, or "
            "merge the two"
        )
    return roots[0] / LABELS_FILE


def _folder_of(path: Path, roots: list[Path]) -> Path:
    """The folder of ``roots`` that holds ``path`` (a file named from elsewhere: the first)."""
    return next((root for root in roots if path.is_relative_to(root.resolve())), roots[0])


def _patient(row: LabelledRow, pattern: re.Pattern[str] | None, labels_file: Path) -> str:
    """``row``'s patient: its cell, which ``pattern`` (when given) must agree with, else ``pattern``'s."""
    named = None if pattern is None else patient_from_name(pattern, row.file)
    if row.patient is not None and named is not None and named != row.patient:
        raise CorpusFormatError(
            labels_file,
            f"patient {row.patient!r}, but --patient_pattern '{pattern.pattern}' gives {named!r} for "  # type: ignore[union-attr]
            f"{row.file!r}: correct the cell, or drop --patient_pattern",
            line=row.line,
        )
    return row.patient if row.patient is not None else named  # type: ignore[return-value]


def embed_archive(
    archive: Archive,
    model: str | Path,
    cache: Path,
    *,
    batch_size: int | None = None,
    device: str | None = None,
) -> tuple[SiteSample, int]:
    """The :class:`SiteSample` of every recording of ``archive`` and how many the model ran on, through the
    cache folder ``cache`` (:func:`~respira.sites.site_sample.embed_cached`)."""

    def embed(fresh: list[LabelledRecording], missing: list[int], reused: int) -> SiteSample:
        from ..inference.detector import Detector

        detector = Detector.from_pretrained(model, device=device, onnx=False)
        count = len({archive.recordings[i].unit for i in missing})
        units = ("patient" if count == 1 else "patients") if archive.units_are_patients else "units"
        labelled = sum(bool(r.row and r.row.labelled) for r in (archive.recordings[i] for i in missing))
        described = (
            f"embedding the archive's recordings not yet in the cache, of {count} {units}; {labelled} of "
            f"them labelled, {reused} from the cache"
        )
        return embed_recordings(detector, fresh, batch_size=batch_size, description=described)

    flags = [(bool(r.row and r.row.crackle), bool(r.row and r.row.wheeze)) for r in archive.recordings]
    recordings = [
        LabelledRecording(r.path, *pair, r.unit, r.recording_id)
        for r, pair in zip(archive.recordings, flags, strict=True)
    ]
    sample, embedded = embed_cached(recordings, cache_file(model, cache), embed)
    return replace(sample, units_are_patients=archive.units_are_patients), embedded


@dataclass(frozen=True)
class SuggestResult:
    """What :func:`suggest_labels` wrote, and the model pass's timing."""

    output: Path
    suggestions: tuple[Suggestion, ...]
    recordings: dict[str, tuple[str, ...]]  # unit → the files written for it
    labelled_units: int
    units_are_patients: bool
    patients_named: bool
    listed: int  # every recording of the archive: the chosen ones, then the others
    strategy: str
    embedded: int  # recordings the model ran on this round
    cached: int
    audio_seconds: float
    embedding_seconds: float

    def line(self) -> str:
        """One line: what was written."""
        unit = "patients" if self.units_are_patients else "recordings"
        files = sum(len(files) for files in self.recordings.values())
        if not self.suggestions:
            named = ", each with its patient" if self.patients_named else ""
            every = f"every one of the archive's {self.listed} recordings{named}"
            return f"wrote {self.output}: {every}, none suggested"
        return (
            f"wrote {self.output}: the {len(self.suggestions)} {unit} to label next first, in order ({files} "
            f"recordings, labels blank, each with its reason; strategy {self.strategy}), then the archive's "
            f"other {self.listed - files} recordings; {self.labelled_units} {unit} already labelled kept"
        )

    def timing_line(self) -> str:
        """One line: the model pass (or the cache)."""
        if not self.embedded:
            if not self.cached:
                return "the model did not run (--budget 0: every recording listed, none suggested)"
            return f"the model's view of all {self.cached} recordings read from the cache"
        speed = self.audio_seconds / max(self.embedding_seconds, 1e-9)
        return (
            f"the model ran on {self.embedded} recordings in {self.embedding_seconds:.1f} s "
            f"({speed:.0f} × real time over the archive's audio); {self.cached} from the cache"
        )


def suggest_labels(
    model: str | Path,
    data_dir: DataDir,
    output: str | Path,
    *,
    budget: int,
    unit: str | None = None,
    patient_pattern: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    overwrite: bool = False,
    threads: int | None = None,
) -> SuggestResult:
    """Write to ``output`` every recording of the archive ``data_dir``: first those of the ``budget`` units
    to label next, then the others (their patients from ``patient_pattern`` where the archive names none).
    One-line errors, before any model is loaded, for a bad budget, pattern, archive or ``labels.csv`` row,
    or an ``output`` that exists (unless ``overwrite``, or it is the archive's own ``labels.csv``)."""
    from ..utils.threads import apply_num_threads

    apply_num_threads(requested=threads)
    check_whole(budget, "--budget", 0)
    archive = read_archive(data_dir, unit, patient_pattern)
    target = _check_output(Path(output).expanduser(), archive, overwrite)
    labelled = archive.labelled_units()
    pending = len({r.unit for r in archive.recordings} - archive.answered_units())
    unit_name = "patients" if archive.units_are_patients else "recordings"
    if budget > pending:
        raise ValueError(
            f"--budget {budget} is more than the {pending} {unit_name} not yet labelled in "
            f"{shown_dirs(archive.folders)}"
        )
    hold_labels(target).release()  # refused now, not after the model, while a labelling page writes it

    started = time.perf_counter()
    chosen, embedded, audio = [], 0, 0.0
    if budget:  # --budget 0 lists every recording (and names its patient) without the model
        cache = target.parent / CACHE_FOLDER
        sample, embedded = embed_archive(archive, model, cache, batch_size=batch_size, device=device)
        judged = [i for i, r in enumerate(archive.recordings) if not (r.row is not None and r.row.poor)]
        chosen = suggest_units(sample.subset(np.array(judged)), budget, labelled=labelled)
        audio = float(sample.duration.sum())
    seconds = time.perf_counter() - started
    files = _write(archive, chosen, target)
    return SuggestResult(
        output=target,
        suggestions=tuple(chosen),
        recordings=files,
        labelled_units=len(labelled),
        units_are_patients=archive.units_are_patients,
        patients_named=archive.patients_named,
        listed=len(archive.recordings),
        strategy=STRATEGY,
        embedded=embedded,
        cached=len(archive.recordings) - embedded if budget else 0,
        audio_seconds=audio,
        embedding_seconds=seconds,
    )


def _check_output(target: Path, archive: Archive, overwrite: bool) -> Path:
    own = archive.root / LABELS_FILE
    if target.is_dir():
        raise IsADirectoryError(f"--output {target} is a folder; name the labels.csv to write")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"--output {target}: its folder {target.parent} does not exist")
    is_own = target.exists() and own.exists() and target.resolve() == own.resolve()
    if target.exists() and not (is_own or overwrite):
        raise FileExistsError(
            f"--output {target} exists; pass --overwrite to replace it (or name the archive's own labels.csv)"
        )
    return target


def _write(archive: Archive, chosen: list[Suggestion], target: Path) -> dict[str, tuple[str, ...]]:
    """Write every recording of the archive: those of the ``chosen`` units not yet answered first, with
    their reasons, then the others in the archive's order (checked as ``respira label`` reads it, then as it
    writes it); unit → the files written for it."""
    optional = list(archive.columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "crackle", "wheeze", *optional, "reason"])

    def row(recording: ArchiveRecording, reason: str) -> list[str]:
        source = recording.row
        flags = ["", ""]
        if source is not None and source.crackle is not None and source.wheeze is not None:
            flags = [str(int(bool(source.crackle))), str(int(bool(source.wheeze)))]
        values = {c: getattr(source, c, None) for c in ("device", "location", "quality")}
        values["patient"] = recording.patient
        file = recording.recording_id  # relative to the archive, or absolute; symlinks not followed
        name = Path(file if Path(file).is_absolute() else os.path.relpath(archive.root / file, target.parent))
        return [name.as_posix(), *flags, *(values[c] or "" for c in optional), reason]

    files: dict[str, list[str]] = {s.unit: [] for s in chosen}
    first: set[int] = set()
    for suggestion in chosen:
        for at, recording in enumerate(archive.recordings):
            if recording.unit == suggestion.unit and not recording.answered:
                written = row(recording, suggestion.reason)
                files[suggestion.unit].append(written[0])
                writer.writerow(written)
                first.add(at)
    for at, recording in enumerate(archive.recordings):
        if at not in first:
            kept = (recording.row.reason if recording.row and recording.answered else None) or ""
            writer.writerow(row(recording, kept))
    LabelsTable.parse(target, buffer.getvalue()).save()
    return {unit: tuple(names) for unit, names in files.items()}
