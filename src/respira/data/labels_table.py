"""``labels.csv`` as ``respira label`` edits it: every row and column of the user's file kept as written,
only the cells of the recording answered rewritten, the file replaced atomically.

:class:`LabelsTable` reads the file as :mod:`respira.data.labels_csv` defines it (header, delimiter, the
``file`` / ``crackle`` / ``wheeze`` columns) but takes a blank ``crackle`` and ``wheeze`` as *not yet
labelled*, and keeps the text of every row it does not answer byte for byte (quoting, spaces, line
endings, a byte-order mark, columns respira does not read such as ``reason``). An answer (:data:`ANSWERS`)
writes the row's two flags; *poor* (too poor to judge) leaves them blank and writes ``poor`` in the
``quality`` column, which the first such answer adds at the end of the header (every other row then
ends with one more, empty, cell). :meth:`LabelsTable.save` writes a temporary file beside it and
renames it over the file (:func:`respira.utils.files.write_text_atomic`), so a killed process leaves the
old file or the new one, never half of one.

Checked when read (one line naming ``labels.csv:LINE`` and the value, as :mod:`~respira.data.labels_csv`
says it): the required columns, a row with no file, a file that does not exist or is listed twice, a
flag that is neither blank nor 0/1, one flag blank and not the other, a ``quality`` cell that is neither
blank, ``good`` nor ``poor``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..labels import MULTI_LABEL_NAMES
from ..utils.files import write_text_atomic
from .errors import LabelledFormatError
from .labels_csv import (
    FLAG_SPELLINGS,
    POOR,
    QUALITY_COLUMN,
    QUALITY_VALUES,
    REQUIRED_COLUMNS,
    delimiter_of,
)

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
