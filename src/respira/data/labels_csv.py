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

**Edited** (``respira label``, :class:`LabelsTable`): read as above, but a blank ``crackle`` and ``wheeze``
is *not yet labelled*, and every row it does not answer keeps its text byte for byte (quoting, spaces,
line endings, a byte-order mark, columns respira does not read such as ``reason``). An answer
(:data:`ANSWERS`) writes the row's two flags; *poor* (too poor to judge) leaves them blank and writes
``poor`` in the ``quality`` column, which the first such answer adds at the end of the header (every
other row then ends with one more, empty, cell). :meth:`LabelsTable.save` replaces the file atomically
(:func:`respira.utils.files.write_text_atomic`): a killed process leaves the old file or the new one.
Checked when read, in one line naming ``labels.csv:LINE`` and the value: the required columns, a row
with no file, a file that does not exist or is listed twice, a flag that is neither blank nor 0/1, one
flag blank and not the other, a ``quality`` cell that is neither blank, ``good`` nor ``poor``.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..labels import MULTI_LABEL_NAMES
from ..utils.files import write_text_atomic
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


# ------------------------------------------------------------ labels.csv edited (respira label)
ANSWERS: dict[str, tuple[str, str]] = {
    "crackle": ("1", "0"),
    "wheeze": ("0", "1"),
    "both": ("1", "1"),
    "normal": ("0", "0"),
    "poor": ("", ""),
}
"""Each answer of the page → the ``crackle`` and ``wheeze`` cells it writes."""


@dataclass
class TableRow:
    """One recording's row: the line it starts on (as an editor numbers it), its cells, the ``file`` cell
    and the recording's path, and the raw lines ``[first, last)`` of the file it spans."""

    line: int
    cells: list[str]
    file: str
    path: Path
    first: int
    last: int


def _ending(text: str) -> str:
    return text[len(text.rstrip("\r\n")) :]


class LabelsTable:
    """A ``labels.csv`` read for editing (see the module docstring); :meth:`read` checks it."""

    def __init__(self, path: Path, raw: list[str], bom: bool, delimiter: str, header: int) -> None:
        self.path = path
        self.raw = raw
        self.bom = bom
        self.delimiter = delimiter
        self.header = header
        self.columns: list[str] = []
        self.rows: list[TableRow] = []

    @classmethod
    def read(cls, path: str | Path) -> LabelsTable:
        """``path`` read and checked (one-line :class:`~respira.data.errors.LabelledFormatError`)."""
        path = Path(path)
        text = path.read_bytes().decode("utf-8")  # line endings as written (\r\n kept)
        bom = text.startswith("\ufeff")
        raw = text.removeprefix("\ufeff").splitlines(keepends=True)
        header = next((at for at, line in enumerate(raw) if line.strip()), None)
        if header is None:
            raise LabelledFormatError(
                path, f"the file is empty: expected a header with {', '.join(REQUIRED_COLUMNS)}"
            )
        delimiter = delimiter_of(raw[header])
        table = cls(path, raw, bom, delimiter, header)
        table._parse()
        return table

    def _parse(self) -> None:
        def fail(message: str, line: int) -> LabelledFormatError:
            return LabelledFormatError(self.path, message, line=line)

        reader = csv.reader(self.raw[self.header :], delimiter=self.delimiter)
        self.columns = [cell.strip().lower() for cell in next(reader)]
        header_line = self.header + 1
        missing = [name for name in REQUIRED_COLUMNS if name not in self.columns]
        if missing:
            raise fail(
                f"no {' or '.join(map(repr, missing))} column (found: {', '.join(self.columns)})", header_line
            )
        seen: dict[Path, int] = {}
        first = self.header + reader.line_num
        for cells in reader:
            last = self.header + reader.line_num
            line, start, first = first + 1, first, last
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(self.columns):
                raise fail(f"{len(cells)} values, but the header names {len(self.columns)} columns", line)
            row = TableRow(line, cells, "", self.path, start, last)
            row.file = self.cell(row, "file")
            if not row.file:
                raise fail("no file named (the 'file' column is empty)", line)
            row.path = Path(self.path.parent, row.file).expanduser().resolve()
            if not row.path.is_file():
                raise fail(f"file {row.file!r} does not exist (looked for {row.path})", line)
            if row.path in seen:
                raise fail(
                    f"file {row.file!r} is listed twice (first on line {seen[row.path]}); keep one row", line
                )
            seen[row.path] = line
            flags = {name: self.cell(row, name) for name in MULTI_LABEL_NAMES}
            for name, value in flags.items():
                if value and value.lower() not in FLAG_SPELLINGS:
                    raise fail(
                        f"{name} is {value!r}: write 0 or 1, or leave it blank (not yet labelled)", line
                    )
            if bool(flags["crackle"]) != bool(flags["wheeze"]):
                blank = "crackle" if not flags["crackle"] else "wheeze"
                raise fail(f"{blank} is blank but not the other: fill both (0 or 1), or neither", line)
            if self.cell(row, QUALITY_COLUMN).lower() not in QUALITY_VALUES:
                raise fail(
                    f"quality is {self.cell(row, QUALITY_COLUMN)!r}: write poor, good or nothing", line
                )
            self.rows.append(row)
        if not self.rows:
            raise fail("no recordings below the header line", header_line)

    def cell(self, row: TableRow, name: str) -> str:
        """``row``'s cell of column ``name``, stripped; blank when the column or the cell is missing."""
        if name not in self.columns:
            return ""
        at = self.columns.index(name)
        return row.cells[at].strip() if at < len(row.cells) else ""

    def answer_of(self, row: TableRow) -> str | None:
        """The row's answer (a key of :data:`ANSWERS`), or ``None`` while it is not yet labelled."""
        if self.cell(row, QUALITY_COLUMN).lower() == POOR:
            return "poor"
        flags = tuple(FLAG_SPELLINGS.get(self.cell(row, name).lower()) for name in MULTI_LABEL_NAMES)
        if None in flags:
            return None
        return {(1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both", (0, 0): "normal"}[flags]  # type: ignore[index]

    def unit_of(self, row: TableRow) -> str:
        """The row's unit: its patient, or its file when the table has no ``patient`` column."""
        return (self.cell(row, "patient") or row.file) if "patient" in self.columns else row.file

    def set_answer(self, row: TableRow, answer: str) -> None:
        """Write ``answer`` (a key of :data:`ANSWERS`) into ``row``'s cells (the file is not saved yet)."""
        if answer not in ANSWERS:
            raise ValueError(f"answer {answer!r} is not one of {', '.join(ANSWERS)}")
        if answer == "poor" and QUALITY_COLUMN not in self.columns:
            self._add_column(QUALITY_COLUMN)
        values = dict(zip(MULTI_LABEL_NAMES, ANSWERS[answer], strict=True))
        if QUALITY_COLUMN in self.columns:
            current = self.cell(row, QUALITY_COLUMN)
            values[QUALITY_COLUMN] = POOR if answer == "poor" else "" if current.lower() == POOR else current
        cells = row.cells + [""] * (len(self.columns) - len(row.cells))
        for name, value in values.items():
            cells[self.columns.index(name)] = value
        row.cells = cells
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerow(cells)
        ending = _ending(self.raw[row.last - 1]) or ("\n" if row.last < len(self.raw) else "")
        self.raw[row.first : row.last] = [buffer.getvalue()[:-1] + ending] + [""] * (row.last - row.first - 1)

    def _add_column(self, name: str) -> None:
        """Append the column ``name`` to the header, and one empty cell to every row's last line."""
        line = self.raw[self.header]
        self.raw[self.header] = line.rstrip("\r\n") + self.delimiter + name + _ending(line)
        for row in self.rows:
            line = self.raw[row.last - 1]
            self.raw[row.last - 1] = line.rstrip("\r\n") + self.delimiter + _ending(line)
            row.cells = row.cells + [""] * (len(self.columns) - len(row.cells))
            row.cells.append("")
        self.columns.append(name)

    def text(self) -> str:
        """The file's text as it stands (with its byte-order mark, if it had one)."""
        return ("\ufeff" if self.bom else "") + "".join(self.raw)

    def save(self) -> None:
        """Replace the file with :meth:`text`, atomically."""
        write_text_atomic(self.path, self.text())
