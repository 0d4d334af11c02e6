"""events.csv: read and checked row by row (one line naming the file, line and value), written back."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.data.errors import CorpusFormatError
from respira.data.labelled import MarkedEvent, format_events_csv, read_events_csv

FILES = {"a.wav": 10.0, "b.wav": 5.0}


def read(folder: Path, text: str) -> list[MarkedEvent]:
    path = folder / "events.csv"
    path.write_text(text, encoding="utf-8")
    return read_events_csv(path, files=FILES, duration=FILES.__getitem__)


def test_rows_are_read_and_written_back(tmp_path: Path) -> None:
    events = read(tmp_path, "file,onset,offset,type\na.wav,1.5,2.25,crackle\n\nb.wav,0,5.0,Wheeze\n")
    assert events == [
        MarkedEvent("a.wav", 1.5, 2.25, "crackle", 2),
        MarkedEvent("b.wav", 0.0, 5.0, "wheeze", 4),
    ]
    again = read(tmp_path, format_events_csv(reversed(events)))
    assert [(e.file, e.onset, e.offset, e.type) for e in again] == [
        (e.file, e.onset, e.offset, e.type) for e in events
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("a.wav,3,2,crackle", "events.csv:2: onset 3 is not before offset 2"),
        ("a.wav,2,2,crackle", "events.csv:2: onset 2 is not before offset 2"),
        ("b.wav,1,5.5,wheeze", "events.csv:2: offset 5.5 is past the end of b.wav (5.000 s)"),
        ("c.wav,1,2,wheeze", "events.csv:2: file 'c.wav' is not listed in labels.csv"),
        ("a.wav,1,2,rhonchus", "events.csv:2: type 'rhonchus' is not crackle or wheeze"),
        ("a.wav,soon,2,crackle", "events.csv:2: onset is 'soon': write a number of seconds >= 0"),
        ("a.wav,-1,2,crackle", "events.csv:2: onset is '-1': write a number of seconds >= 0"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_line_and_value(tmp_path: Path, row: str, expected: str) -> None:
    with pytest.raises(CorpusFormatError) as caught:
        read(tmp_path, f"file,onset,offset,type\n{row}\n")
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"{tmp_path}/{expected}"


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"events.csv:1: no 'type' column"):
        read(tmp_path, "file,onset,offset\na.wav,1,2\n")
