"""``labels.csv``: one's own recordings labelled per recording, read and checked row by row.

The file (UTF-8, a byte-order mark allowed; columns separated by commas, or by semicolons or tabs when
the header holds no comma) has a header line and one row per recording. Column names are matched
without regard to case or surrounding spaces:

* ``file`` (required): the recording's path, relative to the folder of ``labels.csv`` (an absolute path
  is taken as it is); any format :func:`respira.audio.read_audio` decodes (WAV, FLAC, OGG, MP3...).
* ``crackle``, ``wheeze`` (required): ``1`` when the recording holds crackles / wheezes, ``0`` when it
  does not; ``true``/``false`` and ``yes``/``no`` (any case) are read as 1/0. **Both blank: not yet
  labelled** (a list ``respira suggest`` wrote, being labelled); one blank and the other not is an error.
* ``patient`` (optional): who was recorded; recordings of one patient stay on one side of every split,
  fold and bootstrap resample. Without the column every recording is its own patient.
* ``device``, ``location`` (optional): the stethoscope and the chest site, free text (empty: not known).
* ``quality`` (optional): ``poor`` (any case) marks a recording judged too poor to label (``respira
  label`` writes it, with crackle and wheeze blank): an answer, not a row left blank; it is left out of
  every fit and score whatever its flags. Blank or ``good``: judged on its sounds.
* ``reason`` (optional): why ``respira suggest`` chose the recording; kept for the reader, not used.

Whoever learns from or scores the labels (``fit-site``, ``evaluate``, ``prepare``...) reads
the labelled rows alone (:func:`read_labels_csv`), and says in one :class:`UnlabelledRowsWarning` how many
rows were labelled, left blank and judged too poor to label; ``respira suggest`` reads them all
(``unlabelled=True``).

Other columns are left out with one :class:`LabelsCSVWarning` naming them. A row that cannot be read
raises :class:`~respira.data.errors.LabelledFormatError`, one line starting ``labels.csv:LINE:`` (the line
as a text editor numbers it) and naming the value: a file that does not exist, a file listed twice, a
label that is not 0/1, one label blank and the other not, an empty patient, a quality that is neither
blank, ``good`` nor ``poor``; a missing required column, a file without rows or without a labelled row is
named the same way (line 1).
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..labels import MULTI_LABEL_NAMES
from .errors import LabelledFormatError

REQUIRED_COLUMNS: tuple[str, ...] = ("file", "crackle", "wheeze")
OPTIONAL_COLUMNS: tuple[str, ...] = ("patient", "device", "location", "reason", "quality")
FLAG_SPELLINGS: dict[str, int] = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1}
"""How a ``crackle`` / ``wheeze`` cell may be written (lower-cased, spaces stripped) → its 0/1 flag."""
QUALITY_COLUMN = "quality"
POOR = "poor"
QUALITY_VALUES = ("", "good", POOR)
"""What a ``quality`` cell may hold (lower-cased): blank or ``good`` (judged on its sounds), ``poor``."""
_DELIMITERS = (",", ";", "\t")


def delimiter_of(header: str) -> str:
    """The column separator of a labels file whose header line is ``header``: the first of comma,
    semicolon and tab it holds, else a comma."""
    return next((mark for mark in _DELIMITERS if mark in header), ",")


class LabelsCSVWarning(UserWarning):
    """Something in ``labels.csv`` is left out (a column respira does not read); reading goes on."""


class UnlabelledRowsWarning(UserWarning):
    """Rows of ``labels.csv`` not yet labelled (crackle and wheeze blank) or judged too poor to label are
    left out: how many of each, in one line."""


@dataclass(frozen=True)
class LabelledRow:
    """One recording of ``labels.csv``, checked: its line, the file as written and where it is, its
    flags (both ``None``: not yet labelled), and the optional columns (``None`` when not given)."""

    line: int
    file: str
    path: Path
    crackle: int | None
    wheeze: int | None
    patient: str | None
    device: str | None
    location: str | None
    reason: str | None = None
    quality: str | None = None

    @property
    def poor(self) -> bool:
        """Whether the recording was judged too poor to label (``quality`` ``poor``): answered, unlabelled."""
        return (self.quality or "").lower() == POOR

    @property
    def labelled(self) -> bool:
        """Whether the row holds its crackle and wheeze labels and is not judged too poor to label."""
        return self.crackle is not None and self.wheeze is not None and not self.poor

    @property
    def answered(self) -> bool:
        """Whether the row is labelled or judged too poor to label (else: not yet labelled)."""
        return self.labelled or self.poor


def read_labels_csv(labels_file: str | Path, *, unlabelled: bool = False) -> list[LabelledRow]:
    """The labelled rows of ``labels_file`` (see the module docstring), in file order, and one
    :class:`UnlabelledRowsWarning` saying how many were labelled, left blank and judged too poor to label;
    ``unlabelled=True``: every row, silently. The first problem found raises
    :class:`~respira.data.errors.LabelledFormatError` naming the file, line and value (a file without a
    labelled row, unless ``unlabelled``)."""
    labels_file = Path(labels_file)
    text = labels_file.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), None)
    if header is None:
        raise LabelledFormatError(
            labels_file, f"the file is empty: expected a header line with {', '.join(REQUIRED_COLUMNS)}"
        )
    reader = csv.reader(lines, delimiter=delimiter_of(header))
    header_line, columns = _header(reader)
    index = {name: position for position, name in enumerate(columns)}
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        raise LabelledFormatError(
            labels_file,
            f"no {' or '.join(repr(name) for name in missing)} column (found: {', '.join(columns)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)})",
            line=header_line,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1 and name})
    if repeated:
        raise LabelledFormatError(labels_file, f"column {repeated[0]!r} appears twice", line=header_line)
    others = [name for name in columns if name not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
    if others:
        warnings.warn(
            f"{labels_file}: column(s) {', '.join(repr(name) for name in others)} left out (read: "
            f"{', '.join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))})",
            LabelsCSVWarning,
            stacklevel=2,
        )
    rows: list[LabelledRow] = []
    seen: dict[Path, LabelledRow] = {}
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        row = _row(labels_file, reader.line_num, cells, index, len(columns))
        if row.path in seen:
            raise LabelledFormatError(
                labels_file,
                f"file {row.file!r} is listed twice (first on line {seen[row.path].line}); keep one row",
                line=row.line,
            )
        seen[row.path] = row
        rows.append(row)
    if not rows:
        raise LabelledFormatError(labels_file, "no recordings below the header line", line=header_line)
    if unlabelled:
        return rows
    labelled = [row for row in rows if row.labelled]
    poor = sum(row.poor for row in rows)
    blank = len(rows) - len(labelled) - poor
    if not labelled:
        raise LabelledFormatError(
            labels_file,
            f"no row is labelled yet: crackle and wheeze are blank on {blank} of {len(rows)} rows (fill "
            "them: 0 or 1)" + (f"; {poor} judged too poor to label" if poor else ""),
            line=header_line,
        )
    if blank or poor:
        warnings.warn(
            f"{labels_file}: {len(labelled)} labelled, {blank} left blank (not yet labelled), {poor} judged "
            f"too poor to label; reading the {len(labelled)} labelled",
            UnlabelledRowsWarning,
            stacklevel=2,
        )
    return labelled


def _header(reader: csv.Reader) -> tuple[int, list[str]]:
    """The header's line number and its column names (lower-cased, spaces stripped)."""
    for cells in reader:
        if any(cell.strip() for cell in cells):
            return reader.line_num, [cell.strip().lower() for cell in cells]
    raise AssertionError("read_labels_csv checks for a header line first")


def _row(labels_file: Path, line: int, cells: list[str], index: dict[str, int], width: int) -> LabelledRow:
    """One data row checked (see the module docstring)."""

    def fail(message: str) -> LabelledFormatError:
        return LabelledFormatError(labels_file, message, line=line)

    if len(cells) > width:
        raise fail(f"{len(cells)} values, but the header names {width} columns: {cells!r}")

    def cell(name: str) -> str | None:
        position = index.get(name)
        if position is None:
            return None
        value = cells[position].strip() if position < len(cells) else ""
        return value or None

    file = cell("file")
    if file is None:
        raise fail("no file named (the 'file' column is empty)")
    path = Path(labels_file.parent, file).expanduser()
    if not path.is_file():
        raise fail(f"file {file!r} does not exist (looked for {path})")
    values = {name: cell(name) for name in MULTI_LABEL_NAMES}
    flags: dict[str, int | None] = dict.fromkeys(MULTI_LABEL_NAMES)
    if any(value is not None for value in values.values()):  # both blank: not yet labelled
        for name, value in values.items():
            flag = FLAG_SPELLINGS.get((value or "").lower())
            if flag is None:
                shown = "empty" if value is None else repr(value)
                raise fail(
                    f"{name} is {shown}: write 0 or 1 (true/false, yes/no are read too; both crackle "
                    "and wheeze blank: not yet labelled)"
                )
            flags[name] = flag
    patient = cell("patient")
    if "patient" in index and patient is None:
        raise fail(f"file {file!r} has no patient: give every row one, or drop the patient column")
    quality = cell(QUALITY_COLUMN)
    if (quality or "").lower() not in QUALITY_VALUES:
        raise fail(f"quality is {quality!r}: write poor, good or nothing")
    return LabelledRow(
        line=line,
        file=file,
        path=path.resolve(),
        crackle=flags["crackle"],
        wheeze=flags["wheeze"],
        patient=patient,
        device=cell("device"),
        location=cell("location"),
        reason=cell("reason"),
        quality=quality,
    )
