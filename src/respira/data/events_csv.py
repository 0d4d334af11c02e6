"""``events.csv``: where in a recording a site heard crackles and wheezes, beside its ``labels.csv``.

``respira label`` writes it (one row per marked event; rewritten whole, atomically, at each mark), and
anyone may write it by hand. The file (UTF-8) has a header line and one row per event, in any order:

* ``file``: the recording, written as in the ``file`` column of the ``labels.csv`` beside it;
* ``onset``, ``offset``: seconds from the recording's start, ``0 <= onset < offset <=`` its duration;
* ``type``: ``crackle`` or ``wheeze`` (the ``type`` column of ``respira predict --events``).

:func:`read_events_csv` checks every row and raises, for the first problem, a
:class:`~respira.data.errors.LabelledFormatError` of one line naming ``events.csv:LINE`` and the value: a
missing column, a time that is no number, an onset at or after its offset, an offset past the recording's
end, a file ``labels.csv`` does not list, a type that is neither label.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..labels import MULTI_LABEL_NAMES
from .errors import LabelledFormatError

EVENTS_FILE = "events.csv"
"""The events file's name, beside ``labels.csv``."""
EVENT_FILE_COLUMNS: tuple[str, ...] = ("file", "onset", "offset", "type")
END_TOLERANCE = 1e-3
"""Seconds an offset may run past the recording's end (a mark dragged to the very edge, rounded)."""
_DECIMALS = 3


@dataclass(frozen=True)
class MarkedEvent:
    """One marked event: the recording (as ``labels.csv`` writes it), its times in seconds, its type, and
    the line of ``events.csv`` it was read from (0 for one not read from a file)."""

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
        raise LabelledFormatError(
            events_file, f"{name} is {text!r}: write a number of seconds >= 0", line=line
        )
    return value


def read_events_csv(
    events_file: str | Path,
    *,
    files: Collection[str] | None = None,
    duration: Callable[[str], float] | None = None,
) -> list[MarkedEvent]:
    """Every event of ``events_file`` in file order, checked (see the module docstring). ``files``: the
    recordings ``labels.csv`` lists (``None``: not checked); ``duration(file)``: a recording's length in
    seconds (``None``: offsets are not checked against it)."""
    events_file = Path(events_file)
    lines = events_file.read_text(encoding="utf-8-sig").splitlines()
    reader = csv.reader(lines)
    header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
    if header is None:
        raise LabelledFormatError(events_file, f"the file is empty: expected {', '.join(EVENT_FILE_COLUMNS)}")
    columns = [cell.strip().lower() for cell in header]
    missing = [name for name in EVENT_FILE_COLUMNS if name not in columns]
    if missing:
        raise LabelledFormatError(
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
            raise LabelledFormatError(
                events_file, f"file {cell['file']!r} is not listed in labels.csv", line=line
            )
        onset = _seconds(events_file, line, "onset", cell["onset"])
        offset = _seconds(events_file, line, "offset", cell["offset"])
        if onset >= offset:
            raise LabelledFormatError(
                events_file, f"onset {cell['onset']} is not before offset {cell['offset']}", line=line
            )
        if duration is not None and offset > (length := duration(cell["file"])) + END_TOLERANCE:
            raise LabelledFormatError(
                events_file,
                f"offset {cell['offset']} is past the end of {cell['file']} ({length:.3f} s)",
                line=line,
            )
        kind = cell["type"].lower()
        if kind not in MULTI_LABEL_NAMES:
            raise LabelledFormatError(
                events_file,
                f"type {cell['type']!r} is not {' or '.join(MULTI_LABEL_NAMES)}",
                line=line,
            )
        events.append(MarkedEvent(cell["file"], onset, offset, kind, line))
    return events


def format_events_csv(events: Iterable[MarkedEvent]) -> str:
    """``events`` as the text of an ``events.csv`` (times to the millisecond), sorted by file, then onset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_FILE_COLUMNS)
    for event in sorted(events, key=lambda e: (e.file, e.onset, e.offset, e.type)):
        writer.writerow(
            [event.file, f"{event.onset:.{_DECIMALS}f}", f"{event.offset:.{_DECIMALS}f}", event.type]
        )
    return buffer.getvalue()
