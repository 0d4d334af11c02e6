"""A site's archive as ``respira suggest`` reads it, and the model's view of it kept between rounds.

An archive is a folder in the labelled-folder layout (:mod:`respira.data.labelled`): audio files below it
and, optionally, a ``labels.csv`` whose rows may be labelled, blank (not yet labelled) or judged too poor to
label, and whose ``patient`` column groups recordings; a file the CSV does not list is not yet labelled.
:func:`read_archive` checks it all before any audio is decoded; :func:`embed_archive` runs the model only
over the recordings not in ``CACHE/<model key>.npz`` (reused while a file's path, size and modification
time are unchanged), so a second round loads no model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labels_csv import LabelledRow, read_labels_csv
from .sample import LabelledRecording, SiteSample

__all__ = ["Archive", "ArchiveRecording", "embed_archive", "read_archive"]

LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class ArchiveRecording:
    """One recording of an archive: its file, its ``labels.csv`` row (``None``: not listed) and its unit."""

    path: Path
    recording_id: str
    row: LabelledRow | None
    unit: str

    @property
    def labelled(self) -> bool:
        return self.row is not None and self.row.labelled

    @property
    def answered(self) -> bool:
        """Labelled, or judged too poor to label."""
        return self.row is not None and self.row.answered


@dataclass(frozen=True)
class Archive:
    """An archive read and checked: its recordings (the CSV's rows in order, then the files it does not
    list, in name order), whether units are patients, and its ``labels.csv`` (``None``: none)."""

    root: Path
    recordings: tuple[ArchiveRecording, ...]
    units_are_patients: bool
    labels_file: Path | None
    columns: tuple[str, ...]
    """The optional columns the CSV has (``patient``, ``device``, ``location``, ``quality``)."""

    def answered_units(self) -> set[str]:
        """Units whose every recording is answered (labelled, or judged too poor to label)."""
        return {r.unit for r in self.recordings} - {r.unit for r in self.recordings if not r.answered}

    def labelled_units(self) -> dict[str, bool]:
        """Answered units with a labelled recording → whether any of their labelled recordings is
        abnormal."""
        answered = self.answered_units()
        done: dict[str, bool] = {}
        for r in self.recordings:
            if r.unit in answered and r.labelled and r.row is not None:
                done[r.unit] = done.get(r.unit, False) or bool(r.row.crackle or r.row.wheeze)
        return done


def _audio_files(root: Path) -> list[Path]:
    from ..screening import AUDIO_SUFFIXES

    found = []
    for folder, names, files in os.walk(root):
        names[:] = sorted(name for name in names if not name.startswith("."))
        found += [
            Path(folder, name)
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES
        ]
    return found


def read_archive(data_dir: str | Path, unit: str | None = None) -> Archive:
    """The archive ``data_dir`` (see the module docstring), read and checked; ``unit``: ``patient``,
    ``recording`` or ``None`` (patients when ``labels.csv`` has a ``patient`` column). One-line errors
    name the folder, or the CSV's line and value."""
    from ..data.errors import LabelledFormatError

    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} does not exist or is not a folder")
    if unit not in (None, "patient", "recording"):
        raise ValueError(f"--unit must be patient or recording, got {unit!r}")
    labels_file = root / LABELS_FILE
    rows = read_labels_csv(labels_file, unlabelled=True) if labels_file.is_file() else []
    header = labels_file.read_text(encoding="utf-8-sig").splitlines()[0].lower() if rows else ""
    columns = tuple(name for name in ("patient", "device", "location", "quality") if name in header)
    has_patient = any(row.patient is not None for row in rows)
    if unit == "patient" and not has_patient:
        raise ValueError(
            f"--unit patient needs a {LABELS_FILE} in {root} with a patient column; without it each "
            "recording is its own unit (--unit recording)"
        )
    by_patient = has_patient if unit is None else unit == "patient"
    listed = {row.path for row in rows}
    recordings = [
        ArchiveRecording(row.path, row.file, row, row.patient if by_patient and row.patient else row.file)
        for row in rows
    ]
    for path in _audio_files(root):
        if path.resolve() in listed:
            continue
        name = path.relative_to(root).as_posix()
        if by_patient:
            raise LabelledFormatError(
                labels_file,
                f"file {name!r} is in the archive but not in {LABELS_FILE}: its patient is unknown; add a "
                "row with its patient (labels blank), or use --unit recording",
            )
        recordings.append(ArchiveRecording(path.resolve(), name, None, name))
    if not recordings:
        from ..screening import AUDIO_SUFFIXES

        raise ValueError(
            f"--data_dir {root} holds no audio file (looked for {', '.join(AUDIO_SUFFIXES)} below it)"
        )
    return Archive(root, tuple(recordings), by_patient, labels_file if rows else None, columns)


def model_key(model: str | Path) -> str:
    """The cache key of a model: its folder's file names, sizes and modification times (a Hub id as
    named)."""
    digest = hashlib.sha256(str(model).encode())
    folder = Path(model).expanduser()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _file_key(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def embed_archive(
    archive: Archive,
    model: str | Path,
    cache: Path,
    load_detector: Callable[[], Any],
    *,
    batch_size: int | None = None,
) -> tuple[SiteSample, int]:
    """The :class:`SiteSample` of every recording of ``archive`` (labels: the CSV's, ``False`` where
    blank) and how many recordings the model ran on (0: all from ``cache``). ``load_detector`` is called
    only when some recording is not cached."""
    from ..utils.files import atomic_path

    key = model_key(model)
    stored, index_file = cache / f"{key}.npz", cache / f"{key}.json"
    keys = [_file_key(r.path) for r in archive.recordings]
    names = [json.dumps(k) for k in keys]
    kept: SiteSample | None = None
    known: dict[str, int] = {}
    if stored.is_file() and index_file.is_file():
        try:
            kept = SiteSample.load(stored)
            known = {json.dumps(k): i for i, k in enumerate(json.loads(index_file.read_text())["files"])}
        except (OSError, ValueError, KeyError):
            kept, known = None, {}  # an unreadable cache is rebuilt
    missing = [i for i, name in enumerate(names) if name not in known]
    reused = [i for i, name in enumerate(names) if name in known]
    parts: list[SiteSample] = []
    if kept is not None and reused:  # the cached recordings still in the archive, unchanged
        parts.append(kept.subset(np.array([known[names[i]] for i in reused])))
    if missing:
        parts.append(_embed(archive, missing, load_detector(), batch_size))
    place = {names[i]: p for p, i in enumerate([*reused, *missing])}
    joined = _join(parts).subset(np.array([place[name] for name in names]))
    sample = replace(
        joined, recordings=_relabelled(joined, archive), units_are_patients=archive.units_are_patients
    )
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        sample.save(stored)
        with atomic_path(index_file) as staging:
            staging.write_text(json.dumps({"model": str(model), "files": keys}), encoding="utf-8")
    return sample, len(missing)


def _embed(archive: Archive, indices: Sequence[int], detector: Any, batch_size: int | None) -> SiteSample:
    from .embedding import embed_recordings

    recordings = [
        LabelledRecording(archive.recordings[i].path, False, False, "", str(archive.recordings[i].path))
        for i in indices  # ids by path: unique across rounds
    ]
    return embed_recordings(detector, recordings, batch_size=batch_size)


def _join(parts: Sequence[SiteSample]) -> SiteSample:
    """One sample of several (the newest's head, thresholds and rule)."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0, *(len(p.recordings) for p in parts[:-1])])
    return replace(
        parts[-1],
        embeddings=np.concatenate([p.embeddings for p in parts]),
        recording=np.concatenate([p.recording + o for p, o in zip(parts, offsets, strict=True)]),
        recordings=tuple(r for p in parts for r in p.recordings),
        base_logits=np.concatenate([p.base_logits for p in parts]),
    )


def _relabelled(sample: SiteSample, archive: Archive) -> tuple[LabelledRecording, ...]:
    """``sample``'s recordings (in the archive's order) with the archive's ids, units and labels."""
    return tuple(
        LabelledRecording(
            r.path,
            bool(r.row is not None and r.row.crackle),
            bool(r.row is not None and r.row.wheeze),
            r.unit,
            r.recording_id,
            s.duration,
        )
        for r, s in zip(archive.recordings, sample.recordings, strict=True)
    )
