"""``respira suggest`` from Python: which recordings of an archive a site should label next.

:func:`suggest_labels` checks every input first (:func:`respira.sites.archive.read_archive`), runs the model
once over the recordings it has not seen (:func:`respira.sites.archive.embed_archive`, cached beside the
output), orders the units not yet labelled by :data:`respira.sites.suggestion.DEFAULT_STRATEGY` (those
labelled count with their own labels; a recording judged too poor to label is answered) and writes a
``labels.csv`` atomically: the answered rows, then the recordings of the ``budget`` units to label next, in
order, labels blank, each with its ``reason``, then the other rows not yet labelled. The user's
``ARCHIVE/labels.csv`` is rewritten only when it is the output.
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .archive import Archive, ArchiveRecording, embed_archive, read_archive
from .suggestion import DEFAULT_STRATEGY, Suggestion, suggest_units

__all__ = ["CACHE_FOLDER", "SuggestResult", "suggest_labels"]

CACHE_FOLDER = ".respira_suggest"
"""The folder beside the output that keeps the model's view of the archive between rounds."""


@dataclass(frozen=True)
class SuggestResult:
    """What :func:`suggest_labels` wrote: the file, the units to label next in order (with their reason
    and recordings), how many units were labelled already, and the model pass's timing."""

    output: Path
    suggestions: tuple[Suggestion, ...]
    recordings: dict[str, tuple[str, ...]]
    """Unit → the files (as written) of its recordings to label."""
    labelled_units: int
    units_are_patients: bool
    strategy: str
    embedded: int
    """Recordings the model ran on this round (0: every one came from the cache)."""
    cached: int
    audio_seconds: float
    embedding_seconds: float

    def line(self) -> str:
        """One line: what was written."""
        unit = "patients" if self.units_are_patients else "recordings"
        files = sum(len(files) for files in self.recordings.values())
        return (
            f"wrote {self.output}: the {len(self.suggestions)} {unit} to label next, in order ({files} "
            f"recordings, labels blank, each with its reason; strategy {self.strategy}); "
            f"{self.labelled_units} {unit} already labelled kept"
        )

    def timing_line(self) -> str:
        """One line: the model pass (or the cache)."""
        if not self.embedded:
            return f"the model's view of all {self.cached} recordings read from the cache"
        speed = self.audio_seconds / max(self.embedding_seconds, 1e-9)
        return (
            f"the model ran on {self.embedded} recordings in {self.embedding_seconds:.1f} s "
            f"({speed:.0f} × real time over the archive's audio); {self.cached} from the cache"
        )


def suggest_labels(
    model: str | Path,
    data_dir: str | Path,
    output: str | Path,
    *,
    budget: int,
    unit: str | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | None = None,
    overwrite: bool = False,
    threads: int | None = None,
) -> SuggestResult:
    """Write to ``output`` the ``budget`` units of the archive ``data_dir`` to label next (see the module
    docstring); ``unit``: ``patient`` or ``recording`` (default: patients when ``labels.csv`` names them).
    One-line errors, before any model is loaded, for a budget outside 1 .. the units not yet labelled, an
    output that exists (unless ``overwrite``, or it is the archive's own ``labels.csv``), an archive
    without audio and a ``labels.csv`` row that cannot be read."""
    from ..utils.threads import apply_num_threads

    apply_num_threads(requested=threads)
    if budget < 1:
        raise ValueError(f"--budget must be at least 1, got {budget}")
    archive = read_archive(data_dir, unit)
    target = _check_output(Path(output).expanduser(), archive, overwrite)
    labelled = archive.labelled_units()
    pending = len({r.unit for r in archive.recordings} - archive.answered_units())
    unit_name = "patients" if archive.units_are_patients else "recordings"
    if budget > pending:
        raise ValueError(
            f"--budget {budget} is more than the {pending} {unit_name} not yet labelled in {archive.root}"
        )

    def load() -> Any:
        from ..inference.detector import Detector

        return Detector.from_pretrained(model, device=device, onnx=False)

    started = time.perf_counter()
    sample, embedded = embed_archive(
        archive, model, target.parent / CACHE_FOLDER, load, batch_size=batch_size
    )
    seconds = time.perf_counter() - started
    judged = np.array([i for i, r in enumerate(archive.recordings) if not (r.row is not None and r.row.poor)])
    chosen = suggest_units(sample.subset(judged), budget, labelled=labelled, seed=seed)
    files = _write(archive, chosen, target)
    return SuggestResult(
        output=target,
        suggestions=tuple(chosen),
        recordings=files,
        labelled_units=len(labelled),
        units_are_patients=archive.units_are_patients,
        strategy=DEFAULT_STRATEGY,
        embedded=embedded,
        cached=len(archive.recordings) - embedded,
        audio_seconds=float(sample.duration.sum()),
        embedding_seconds=seconds,
    )


def _check_output(target: Path, archive: Archive, overwrite: bool) -> Path:
    own = archive.root / "labels.csv"
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


def _file_cell(root: Path, file: str, folder: Path) -> str:
    """The ``file`` cell of a recording the archive names ``file`` (relative to ``root``, or absolute), for
    a labels.csv in ``folder``: the archive's own name, a symlink's not followed."""
    if Path(file).is_absolute():
        return Path(file).as_posix()
    return Path(os.path.relpath(root / file, folder)).as_posix()  # both made absolute, symlinks kept


def _write(archive: Archive, chosen: list[Suggestion], target: Path) -> dict[str, tuple[str, ...]]:
    """Write the list (staged, then moved into place); unit → the files written for it."""
    from ..utils.files import write_text_atomic

    reasons = {s.unit: s.reason for s in chosen}
    optional = list(archive.columns)
    if archive.units_are_patients and "patient" not in optional:
        optional.insert(0, "patient")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "crackle", "wheeze", *optional, "reason"])

    def row(recording: ArchiveRecording, reason: str) -> list[str]:
        source = recording.row
        flags = ["", ""]
        if source is not None and source.crackle is not None and source.wheeze is not None:
            flags = [str(int(bool(source.crackle))), str(int(bool(source.wheeze)))]
        values = {
            "patient": recording.unit if archive.units_are_patients else (source.patient if source else None),
            "device": source.device if source else None,
            "location": source.location if source else None,
            "quality": source.quality if source else None,
        }
        name = _file_cell(archive.root, recording.recording_id, target.parent)
        return [name, *flags, *(values[c] or "" for c in optional), reason]

    files: dict[str, list[str]] = {s.unit: [] for s in chosen}
    for recording in archive.recordings:
        if recording.answered:
            writer.writerow(row(recording, (recording.row.reason if recording.row else None) or ""))
    for suggestion in chosen:
        for recording in archive.recordings:
            if recording.unit == suggestion.unit and not recording.answered:
                written = row(recording, suggestion.reason)
                files[suggestion.unit].append(written[0])
                writer.writerow(written)
    for recording in archive.recordings:
        if recording.row is not None and not recording.answered and recording.unit not in reasons:
            writer.writerow(row(recording, ""))
    write_text_atomic(target, buffer.getvalue())
    return {unit: tuple(names) for unit, names in files.items()}
