"""One's own labelled recordings as a ``datasets`` builder: a folder holding ``labels.csv``
(:mod:`respira.data.labels_csv`), one example per listed recording, all in one ``test`` split, for
``evaluate``, ``fit-site`` and training (``--dataset labelled --data_dir FOLDER``). ``patient_id`` numbers
the ``patient`` column's values in order of first appearance; without the column every recording is its
own patient.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import datasets

from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES, RECORDING_LABELS, cycle_label
from .corpus_files import DataDir, FolderClaims, files_fingerprint, locate_folders, merged_fingerprint
from .errors import CorpusError, CorpusFormatError, read_text
from .labels_csv import LABELS_FILE, LabelledRow, read_labels_csv
from .loaders import FolderBuilder, WholeRecordings, load_folder


@dataclass(frozen=True)
class LabelledLayout:
    """A labelled folder: its ``labels.csv`` and the rows read from it (several folders: :attr:`parts`,
    each with its own ``labels.csv``, their rows one after the other)."""

    root: Path
    labels_file: Path
    rows: tuple[LabelledRow, ...] = field(repr=False)
    parts: tuple[LabelledLayout, ...] = field(default=(), repr=False)

    @property
    def audio_files(self) -> dict[str, Path]:
        """Recording name (the ``file`` cell as written) → its path, in the CSV's order."""
        return {row.file: row.path for row in self.rows}

    def fingerprint(self) -> str:
        """A hash of ``labels.csv`` and of every recording's name, size and modification time."""
        if self.parts:
            return merged_fingerprint(self.parts)
        files = [self.labels_file.resolve(), *self.audio_files.values()]
        return files_fingerprint(Path(os.path.commonpath(files)), files)


def locate_labelled(data_dir: DataDir) -> LabelledLayout:
    """The labelled folder ``data_dir``, its ``labels.csv`` read and checked (nothing decoded); or each of a
    list of labelled folders that together hold one corpus (no recording and no patient in two)."""
    return locate_folders(data_dir, "labelled data_dir", _locate_folder, _merged)


def _locate_folder(root: Path) -> LabelledLayout:
    labels_file = root / LABELS_FILE
    if not labels_file.is_file():
        raise CorpusError(
            f"no {LABELS_FILE} in {root}: a labelled folder lists its recordings there, one row each, with "
            "columns file, crackle, wheeze (optional: patient, device, location)"
        )
    return LabelledLayout(root=root, labels_file=labels_file, rows=tuple(read_labels_csv(labels_file)))


def _merged(parts: list[LabelledLayout]) -> LabelledLayout:
    """One layout of several folders'; a format error naming both ``labels.csv`` lines for a recording, or a
    patient, that two folders list, or two recordings of one name (the ``recording`` column)."""
    claims, names = FolderClaims(), {}
    for part in parts:
        for row in part.rows:
            where = Path(f"{part.labels_file}:{row.line}")
            claims.claim(where, part.root, row.path, row.patient)
            if row.file in names:
                raise CorpusFormatError(
                    where, f"file {row.file!r} names another recording in {names[row.file]}: rename one"
                )
            names[row.file] = where
    rows = tuple(row for part in parts for row in part.rows)
    return LabelledLayout(parts[0].root, parts[0].labels_file, rows, parts=tuple(parts))


def _recordings(layout: LabelledLayout) -> list[dict[str, Any]]:
    """The builder's task of each recording (:class:`~respira.data.loaders.FolderBuilder`); ``patient_id``
    numbers the ``patient`` values in order of first appearance, or the rows when there are none."""
    numbers: dict[str, int] = {}
    tasks = []
    for place, row in enumerate(layout.rows, start=1):
        patient_id = place if row.patient is None else numbers.setdefault(row.patient, len(numbers) + 1)
        columns = {
            "recording": row.file,
            "patient_id": patient_id,
            "patient": row.patient,
            "device": row.device,
            "chest_location": row.location,
            "crackle": row.crackle,
            "wheeze": row.wheeze,
            "normal": int(row.crackle == row.wheeze == 0),
            "label": cycle_label(row.crackle, row.wheeze),
        }
        tasks.append({"path": str(row.path), "segments": None, "columns": columns})
    return tasks


class Labelled(FolderBuilder, WholeRecordings, datasets.GeneratorBasedBuilder):
    """One's own labelled recordings from a folder holding ``labels.csv``: one ``test`` split."""

    LOCATE = staticmethod(locate_labelled)
    layout: LabelledLayout

    COLUMNS: ClassVar[dict[str, Any]] = {
        "recording": datasets.Value("string"),
        "patient_id": datasets.Value("int32"),
        **{name: datasets.Value("string") for name in ("patient", "device", "chest_location")},
        **{flag: datasets.Value("int8") for flag in RECORDING_LABELS},
        "label": datasets.ClassLabel(names=list(CLASS_NAMES)),
    }

    RECORDINGS = staticmethod(_recordings)


read_labelled_index = Labelled.read_index
"""One row per recording, from ``labels.csv`` alone: the example columns and ``path``."""


def split_definition(options: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    """What a dataset card says of its one split (the spec's ``split_definition``)."""
    return [
        "`test`: every recording listed in labels.csv. respira evaluates models on it (`respira evaluate "
        "--dataset labelled`), fits them to it (`respira fit-site`) or trains on all of it "
        "(a recipe's `corpora`). A patient's recordings stay together in every fold and bootstrap resample; "
        "without a patient column each recording is its own patient."
    ]


def load_labelled(data_dir: DataDir, **options: Any) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) the dataset of a labelled folder, or of a list of them that together hold
    one corpus: one ``test`` split of recordings
    (``options``: :func:`~respira.data.loaders.load_folder`'s)."""
    return load_folder(Labelled, load_labelled, data_dir, **options)


# ------------------------------------------------------------ events.csv, the sidecar of labels.csv
# Where a site heard crackles and wheezes (``respira label`` writes it).
EVENTS_FILE = "events.csv"
EVENT_FILE_COLUMNS: tuple[str, ...] = ("file", "onset", "offset", "type")
END_TOLERANCE = 1e-3
"""Seconds an offset may run past the recording's end (a mark dragged to the very edge, rounded)."""
_DECIMALS = 3


@dataclass(frozen=True)
class MarkedEvent:
    """One marked event of a recording (its ``labels.csv`` name); ``line``: of ``events.csv`` (0: none)."""

    file: str
    onset: float
    offset: float
    type: str
    line: int = 0


def _seconds(events_file: Path, line: int, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise CorpusFormatError(events_file, f"{name} is {text!r}: write a number of seconds >= 0", line=line)
    return value


def read_events_csv(
    events_file: str | Path,
    *,
    files: Collection[str] | None = None,
    duration: Callable[[str], float] | None = None,
) -> list[MarkedEvent]:
    """Every event of ``events_file``, checked against ``files`` (those ``labels.csv`` lists) and
    ``duration(file)`` when given (a one-line error names ``events.csv:LINE`` and the value)."""
    events_file = Path(events_file)
    lines = read_text(events_file).removeprefix("\ufeff").splitlines()
    reader = csv.reader(lines)
    header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
    if header is None:
        raise CorpusFormatError(events_file, f"the file is empty: expected {', '.join(EVENT_FILE_COLUMNS)}")
    columns = [cell.strip().lower() for cell in header]
    missing = [name for name in EVENT_FILE_COLUMNS if name not in columns]
    if missing:
        raise CorpusFormatError(
            events_file,
            f"no {' or '.join(map(repr, missing))} column (found: {', '.join(columns)}; expected: "
            f"{', '.join(EVENT_FILE_COLUMNS)})",
            line=reader.line_num,
        )
    index = {name: columns.index(name) for name in EVENT_FILE_COLUMNS}
    events = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        line = reader.line_num
        cell = {name: (cells[at].strip() if at < len(cells) else "") for name, at in index.items()}
        if files is not None and cell["file"] not in files:
            raise CorpusFormatError(
                events_file, f"file {cell['file']!r} is not listed in labels.csv", line=line
            )
        onset = _seconds(events_file, line, "onset", cell["onset"])
        offset = _seconds(events_file, line, "offset", cell["offset"])
        if onset >= offset:
            raise CorpusFormatError(
                events_file, f"onset {cell['onset']} is not before offset {cell['offset']}", line=line
            )
        if duration is not None and offset > (length := duration(cell["file"])) + END_TOLERANCE:
            raise CorpusFormatError(
                events_file,
                f"offset {cell['offset']} is past the end of {cell['file']} ({length:.3f} s)",
                line=line,
            )
        kind = cell["type"].lower()
        if kind not in MULTI_LABEL_NAMES:
            message = f"type {cell['type']!r} is not {' or '.join(MULTI_LABEL_NAMES)}"
            raise CorpusFormatError(events_file, message, line=line)
        events.append(MarkedEvent(cell["file"], onset, offset, kind, line))
    return events


def format_events_csv(events: Iterable[MarkedEvent]) -> str:
    """``events`` as the text of an ``events.csv``, sorted by file, then onset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_FILE_COLUMNS)
    for event in sorted(events, key=lambda e: (e.file, e.onset, e.offset, e.type)):
        writer.writerow(
            [event.file, f"{event.onset:.{_DECIMALS}f}", f"{event.offset:.{_DECIMALS}f}", event.type]
        )
    return buffer.getvalue()
