"""``labels.csv`` (docs/how-to/datasets-and-the-hub.md): read and checked (:func:`read_labels_csv`), and
edited by ``respira label`` (:class:`LabelsTable`, every other row kept byte for byte)."""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..models.respira.labels import MULTI_LABEL_NAMES
from ..utils.files import write_text_atomic
from ..utils.locking import FileLock, FolderLockedError, follow_file
from .errors import CorpusFormatError, read_text

LABELS_FILE = "labels.csv"
"""Its name in a labelled folder or an archive (where fit-site, suggest and label look for it)."""
REQUIRED_COLUMNS: tuple[str, ...] = ("file", "crackle", "wheeze")
OPTIONAL_COLUMNS: tuple[str, ...] = ("patient", "device", "location", "reason", "quality")
FLAG_SPELLINGS: dict[str, int] = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1}

QUALITY_COLUMN = "quality"
POOR = "poor"
QUALITY_VALUES = ("", "good", POOR)


class LabelsCSVWarning(UserWarning):
    """Something in ``labels.csv`` is left out (a column respira does not read); reading goes on."""


class UnlabelledRowsWarning(UserWarning):
    """Rows of ``labels.csv`` not yet labelled or judged too poor to label are left out (counted in one
    line)."""


@dataclass(frozen=True)
class LabelledRow:
    """One recording of ``labels.csv``, checked (flags both ``None``: not yet labelled)."""

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
        return (self.quality or "").lower() == POOR

    @property
    def labelled(self) -> bool:
        return self.crackle is not None and self.wheeze is not None and not self.poor

    @property
    def answered(self) -> bool:
        """Labelled, or judged too poor to label."""
        return self.labelled or self.poor


PATIENT_PATTERN_EXAMPLE = r"[BDE]P(\d+)"
"""A ``--patient_pattern`` for KAUH's names (``BP12_Asthma,E W,P L L,50,F.wav``: patient ``12``)."""
ONE_PATIENT_NOTE = (
    "each recording counts as its own patient (labels.csv has no patient column and no --patient_pattern "
    "names them)"
)
"""What every command says once of a folder that names no patient."""


def compile_patient_pattern(text: str) -> re.Pattern[str]:
    """``--patient_pattern`` compiled: a regular expression on a recording's file name whose first group is
    its patient (one-line ``ValueError``: it does not compile, or has no group)."""
    try:
        pattern = re.compile(text)
    except re.error as error:
        raise ValueError(f"--patient_pattern '{text}' is not a regular expression: {error}") from None
    if pattern.groups < 1:
        raise ValueError(
            f"--patient_pattern '{text}' has no group: put the patient in parentheses (for KAUH's names: "
            f"'{PATIENT_PATTERN_EXAMPLE}')"
        )
    return pattern


def patient_from_name(pattern: re.Pattern[str], file: str) -> str:
    """The patient ``pattern``'s first group finds in ``file``'s name (one-line ``ValueError`` naming the
    file where it does not match or its group is empty)."""
    found = pattern.search(Path(file).name)
    patient = (found.group(1) or "").strip() if found else ""
    if not patient:
        said = "does not match" if found is None else "matches with an empty first group on"
        raise ValueError(
            f"--patient_pattern '{pattern.pattern}' {said} the file name {Path(file).name!r} ({file}): "
            "every recording needs its patient"
        )
    return patient


def read_labels_csv(labels_file: str | Path | LabelsTable, *, unlabelled: bool = False) -> list[LabelledRow]:
    """The labelled rows of ``labels_file`` (a path, or the table read from it; an
    :class:`UnlabelledRowsWarning` counts the others); ``unlabelled=True``: every row, silently."""
    table = labels_file if isinstance(labels_file, LabelsTable) else LabelsTable.read(labels_file)
    header_line = table.header + 1
    others = [name for name in table.columns if name not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
    if others:
        warnings.warn(
            f"{table.path}: column(s) {', '.join(repr(name) for name in others)} left out (read: "
            f"{', '.join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))})",
            LabelsCSVWarning,
            stacklevel=2,
        )
    rows = []
    for row in table.rows:
        flags = [FLAG_SPELLINGS.get(table.cell(row, name).lower()) for name in MULTI_LABEL_NAMES]
        optional = (table.cell(row, name) or None for name in OPTIONAL_COLUMNS)  # LabelledRow's order
        rows.append(LabelledRow(row.line, row.file, row.path, *flags, *optional))
    if unlabelled:
        return rows
    labelled = [row for row in rows if row.labelled]
    poor = sum(row.poor for row in rows)
    blank = len(rows) - len(labelled) - poor
    if not labelled:
        raise CorpusFormatError(
            table.path,
            f"no row is labelled yet: crackle and wheeze are blank on {blank} of {len(rows)} rows (fill "
            "them: 0 or 1)" + (f"; {poor} judged too poor to label" if poor else ""),
            line=header_line,
        )
    if blank or poor:
        warnings.warn(
            f"{table.path}: {len(labelled)} labelled, {blank} left blank (not yet labelled), {poor} judged "
            f"too poor to label; reading the {len(labelled)} labelled",
            UnlabelledRowsWarning,
            stacklevel=2,
        )
    return labelled


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
    """One recording's row: the line it starts on, its cells, and the raw lines ``[first, last)`` it spans."""

    line: int
    cells: list[str]
    file: str
    path: Path
    first: int
    last: int


def _ending(text: str) -> str:
    return text[len(text.rstrip("\r\n")) :]


@dataclass(eq=False)
class LabelsTable:
    """A ``labels.csv`` read for editing (``header``: its header line's index); :meth:`read` checks it."""

    path: Path
    raw: list[str]
    bom: bool
    delimiter: str
    header: int
    columns: list[str] = field(default_factory=list)
    rows: list[TableRow] = field(default_factory=list)

    @classmethod
    def read(cls, path: str | Path) -> LabelsTable:
        """``path`` read and checked (one-line :class:`~respira.data.errors.CorpusFormatError`)."""
        return cls.parse(path, read_text(Path(path)))  # line endings as written

    @classmethod
    def parse(cls, path: str | Path, text: str) -> LabelsTable:
        """``text``, the content of ``path``, checked (as :meth:`read`)."""
        path = Path(path)
        bom = text.startswith("\ufeff")
        raw = text.removeprefix("\ufeff").splitlines(keepends=True)
        header = next((at for at, line in enumerate(raw) if line.strip()), None)
        if header is None:
            raise CorpusFormatError(
                path, f"the file is empty: expected a header line with {', '.join(REQUIRED_COLUMNS)}"
            )
        delimiter = next((mark for mark in (",", ";", "\t") if mark in raw[header]), ",")
        table = cls(path, raw, bom, delimiter, header)
        table._parse()
        return table

    def _check_columns(self, header_line: int) -> None:
        """Refuse a header without a required column, or naming one twice."""
        missing = [name for name in REQUIRED_COLUMNS if name not in self.columns]
        if missing:
            raise CorpusFormatError(
                self.path,
                f"no {' or '.join(map(repr, missing))} column (found: {', '.join(self.columns)}; required: "
                f"{', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)})",
                line=header_line,
            )
        repeated = sorted({name for name in self.columns if name and self.columns.count(name) > 1})
        if repeated:
            raise CorpusFormatError(self.path, f"column {repeated[0]!r} appears twice", line=header_line)

    def _parse(self) -> None:
        def fail(message: str, line: int) -> CorpusFormatError:
            return CorpusFormatError(self.path, message, line=line)

        reader = csv.reader(self.raw[self.header :], delimiter=self.delimiter)
        self.columns = [cell.strip().lower() for cell in next(reader)]
        header_line = self.header + 1
        self._check_columns(header_line)
        seen: dict[Path, int] = {}
        first = self.header + reader.line_num
        for cells in reader:
            last = self.header + reader.line_num
            line, start, first = first + 1, first, last
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(self.columns):
                raise fail(
                    f"{len(cells)} values, but the header names {len(self.columns)} columns: {cells!r}", line
                )
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
                        f"{name} is {value!r}: write 0 or 1 (true/false, yes/no are read too), or leave both "
                        "blank (not yet labelled)",
                        line,
                    )
            if bool(flags["crackle"]) != bool(flags["wheeze"]):
                blank = "crackle" if not flags["crackle"] else "wheeze"
                raise fail(f"{blank} is blank but not the other: fill both (0 or 1), or neither", line)
            if "patient" in self.columns and not self.cell(row, "patient"):
                raise fail(
                    f"file {row.file!r} has no patient: give every row one, or drop the patient column", line
                )
            if self.cell(row, QUALITY_COLUMN).lower() not in QUALITY_VALUES:
                raise fail(
                    f"quality is {self.cell(row, QUALITY_COLUMN)!r}: write poor, good or nothing", line
                )
            self.rows.append(row)
        if not self.rows:
            raise fail("no recordings below the header line", header_line)

    def cell(self, row: TableRow, name: str) -> str:
        """``row``'s cell of column ``name``, stripped (blank when missing)."""
        if name not in self.columns:
            return ""
        at = self.columns.index(name)
        return row.cells[at].strip() if at < len(row.cells) else ""

    def cells_of(self, row: TableRow) -> dict[str, str]:
        """``row``'s cells by column name, stripped."""
        return {name: self.cell(row, name) for name in self.columns}

    def answer_of(self, row: TableRow) -> str | None:
        """The row's answer (a key of :data:`ANSWERS`), or ``None`` while not yet labelled."""
        if self.cell(row, QUALITY_COLUMN).lower() == POOR:
            return "poor"
        flags = tuple(FLAG_SPELLINGS.get(self.cell(row, name).lower()) for name in MULTI_LABEL_NAMES)
        if None in flags:
            return None
        return {(1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both", (0, 0): "normal"}[flags]  # type: ignore[index]

    def unit_of(self, row: TableRow) -> str:
        """The row's unit: its patient, or its file when the table has no ``patient`` column."""
        return self.cell(row, "patient") if "patient" in self.columns else row.file

    def set_answer(self, row: TableRow, answer: str) -> None:
        """Write ``answer`` (a key of :data:`ANSWERS`) into ``row``'s cells (not saved yet)."""
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
        line = self.raw[self.header]
        self.raw[self.header] = line.rstrip("\r\n") + self.delimiter + name + _ending(line)
        for row in self.rows:
            line = self.raw[row.last - 1]
            self.raw[row.last - 1] = line.rstrip("\r\n") + self.delimiter + _ending(line)
            row.cells = row.cells + [""] * (len(self.columns) - len(row.cells))
            row.cells.append("")
        self.columns.append(name)

    def text(self) -> str:
        return ("\ufeff" if self.bom else "") + "".join(self.raw)

    def save(self, *, held: bool = False) -> None:
        """Write the table to its file: atomically, through a symlink to its target, the file's mode kept;
        under its lock (:func:`hold_labels`), taken here unless the caller ``held`` it."""
        lock = None if held else hold_labels(self.path)
        try:
            write_text_atomic(self.path, self.text())
            follow_file(self.path)  # the lock holds the new file: a hard link made now is refused too
        finally:
            if lock is not None:
                lock.release()


class LabelsBusyError(RuntimeError):
    """Another live process writes the labels file (the message names it)."""


def hold_labels(path: str | Path) -> FileLock:
    """Take the lock of the labels file ``path`` (of its target when ``path`` is a symlink; by its inode: a
    hard link is the same file): one writer at a time; release it with
    :meth:`~respira.utils.locking.FileLock.release`. :class:`LabelsBusyError`
    names the live holder."""
    lock = FileLock(Path(path).resolve(), what="writer of labels")
    try:
        return lock.acquire()
    except FolderLockedError as error:
        raise LabelsBusyError(
            f"{path} is being written by another process ({error.holder or 'unknown'}): stop it, or wait "
            "until it is done"
        ) from None
