"""labels.csv as the labelling page edits it: answers written into the right cells, every other byte of
the file kept (columns respira does not read, quoting, line endings, a byte-order mark), the quality
column added by the first poor answer, bad rows refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.data.errors import CorpusFormatError
from respira.data.labels_csv import LabelsTable

ORIGINAL = (
    "\ufefffile;patient;crackle;wheeze;reason\r\n"
    "a.wav;p1;;;uncertain\r\n"
    'b.wav;p1;;;"far; from the others"\r\n'
    "\r\n"
    "c.wav;p2;yes;no;\r\n"
    'd.wav;p3;;;"two\r\nlines"\r\n'
)


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    for name in "abcd":
        (tmp_path / f"{name}.wav").write_bytes(b"")
    path = tmp_path / "labels.csv"
    path.write_bytes(ORIGINAL.encode("utf-8"))
    return path


def test_answers_change_only_their_cells(labels: Path) -> None:
    table = LabelsTable.read(labels)
    assert [table.answer_of(row) for row in table.rows] == [None, None, "crackle", None]
    assert [table.unit_of(row) for row in table.rows] == ["p1", "p1", "p2", "p3"]
    table.set_answer(table.rows[1], "both")
    table.set_answer(table.rows[3], "normal")
    table.save()
    expected = ORIGINAL.replace('b.wav;p1;;;"far', 'b.wav;p1;1;1;"far').replace(
        "d.wav;p3;;;", "d.wav;p3;0;0;"
    )
    assert labels.read_bytes().decode("utf-8") == expected
    again = LabelsTable.read(labels)
    assert [again.answer_of(row) for row in again.rows] == [None, "both", "crackle", "normal"]


def test_poor_adds_the_quality_column_and_a_label_clears_it(labels: Path) -> None:
    table = LabelsTable.read(labels)
    table.set_answer(table.rows[0], "poor")
    table.save()
    text = labels.read_bytes().decode("utf-8")
    assert text.startswith("\ufefffile;patient;crackle;wheeze;reason;quality\r\n")
    assert "a.wav;p1;;;uncertain;poor\r\n" in text and "c.wav;p2;yes;no;;\r\n" in text
    assert '"two\r\nlines";\r\n' in text and "\r\n\r\n" in text  # the blank line kept
    again = LabelsTable.read(labels)
    assert again.answer_of(again.rows[0]) == "poor"
    again.set_answer(again.rows[0], "wheeze")
    assert again.text().startswith(
        "\ufefffile;patient;crackle;wheeze;reason;quality\r\na.wav;p1;0;1;uncertain;\r\n"
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("a.wav,maybe,0", "labels.csv:2: crackle is 'maybe': write 0 or 1"),
        ("e.wav,,", "labels.csv:2: file 'e.wav' does not exist"),
        (",1,0", "labels.csv:2: no file named"),
        ("a.wav,1,", "labels.csv:2: wheeze is blank but not the other: fill both"),
    ],
)
def test_a_bad_row_is_one_line(labels: Path, row: str, expected: str) -> None:
    labels.write_text(f"file,crackle,wheeze\n{row}\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=expected.replace(".", r"\.")):
        LabelsTable.read(labels)


def test_a_file_listed_twice_is_refused(labels: Path) -> None:
    labels.write_text("file,crackle,wheeze\na.wav,,\nb.wav,,\n./a.wav,1,0\n", encoding="utf-8")
    with pytest.raises(
        CorpusFormatError, match=r"labels\.csv:4: file './a.wav' is listed twice \(first on line 2\)"
    ):
        LabelsTable.read(labels)
