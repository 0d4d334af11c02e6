"""``labels.csv`` read row by row (respira.data.labels_csv): the spellings accepted, and each bad row refused
in one line naming the file, the line as a text editor numbers it and the value, through the parser and
through ``respira prepare --dataset labelled`` (exit 2, nothing written)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.data.errors import CorpusFormatError
from respira.data.labels_csv import LabelsCSVWarning, UnlabelledRowsWarning, read_labels_csv

RATE = 4000


def _write_audio(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.zeros(RATE, dtype=np.float32), RATE)


def test_spellings_optional_columns_blank_lines_and_other_separators(tmp_path: Path) -> None:
    _write_audio(tmp_path, "a.wav", "sub/b.flac", "c.wav")
    text = (
        "\ufeff File ;CRACKLE; wheeze ;Patient;device\n"
        "a.wav;1;0;p1;Litt 3200\n"
        "\n"
        "sub/b.flac; No ;YES;p1;\n"
        "c.wav;true;False;p2;Meditron\n"
    )
    (tmp_path / "labels.csv").write_text(text, encoding="utf-8")
    rows = read_labels_csv(tmp_path / "labels.csv")
    assert [(row.line, row.file, row.crackle, row.wheeze) for row in rows] == [
        (2, "a.wav", 1, 0),
        (4, "sub/b.flac", 0, 1),
        (5, "c.wav", 1, 0),
    ]
    assert [row.patient for row in rows] == ["p1", "p1", "p2"]
    assert [row.device for row in rows] == ["Litt 3200", None, "Meditron"]  # empty: not known
    assert [row.location for row in rows] == [None, None, None]  # no such column
    assert rows[1].path == (tmp_path / "sub" / "b.flac").resolve()


def test_a_column_it_does_not_read_is_named_once(tmp_path: Path) -> None:
    _write_audio(tmp_path, "a.wav")
    (tmp_path / "labels.csv").write_text("file,crackle,wheeze,patinet\na.wav,0,0,1\n")
    with pytest.warns(LabelsCSVWarning, match=r"column\(s\) 'patinet' left out"):
        rows = read_labels_csv(tmp_path / "labels.csv")
    assert rows[0].patient is None


BAD_ROWS = [
    # (labels.csv text, line named, what the message says)
    ("file,crackle,wheeze\na.wav,1,0\ngone.wav,0,0\n", 3, "file 'gone.wav' does not exist (looked for "),
    ("file,crackle,wheeze\na.wav,maybe,0\n", 2, "crackle is 'maybe': write 0 or 1"),
    ("file,crackle,wheeze\na.wav,0,2\n", 2, "wheeze is '2': write 0 or 1"),
    ("file,crackle,wheeze\na.wav,0,\n", 2, "wheeze is blank but not the other: fill both"),
    ("file,crackle,wheeze\na.wav,1,0\nb.wav,0,0\n./a.wav,0,1\n", 4,
     "file './a.wav' is listed twice (first on line 2)"),
    ("file,crackle,wheeze\n,1,0\n", 2, "no file named (the 'file' column is empty)"),
    ("file,crackle,wheeze,patient\na.wav,1,0,\n", 2, "file 'a.wav' has no patient"),
    ("file,crackle,wheeze\na.wav,1,0,extra\n", 2, "4 values, but the header names 3 columns"),
    ("\n\nfile,crackle\na.wav,1\n", 3,
     "no 'wheeze' column (found: file, crackle; required: file, crackle, wheeze"),
    ("file,crackle,wheeze,crackle\na.wav,1,0,1\n", 1, "column 'crackle' appears twice"),
    ("file,crackle,wheeze\n", 1, "no recordings below the header line"),
    ("", None, "the file is empty: expected a header line with file, crackle, wheeze"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), BAD_ROWS)
def test_a_bad_row_is_one_error_naming_file_line_and_value(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    _write_audio(tmp_path, "a.wav", "b.wav")
    labels = tmp_path / "labels.csv"
    labels.write_text(text)
    with pytest.raises(CorpusFormatError) as caught:
        read_labels_csv(labels)
    where = f"{labels}:{line}: " if line is not None else f"{labels}: "
    assert str(caught.value).startswith(where + message), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "line", "message"), [BAD_ROWS[0], BAD_ROWS[1], BAD_ROWS[4], BAD_ROWS[8]])
def test_prepare_refuses_a_bad_row_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys, text: str, line: int, message: str
) -> None:
    folder = tmp_path / "site"
    _write_audio(folder, "a.wav", "b.wav")
    (folder / "labels.csv").write_text(text)
    output = tmp_path / "prepared"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing but the one line
        code = main(
            ["prepare", "--dataset", "labelled", "--data_dir", str(folder), "--output_dir", str(output)]
        )
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and f"{folder / 'labels.csv'}:{line}: {message}" in error, error
    assert not output.exists()


def test_a_folder_without_labels_csv_is_named(tmp_path: Path, capsys) -> None:
    _write_audio(tmp_path, "a.wav")
    output = tmp_path / "prepared"
    assert (
        main(["prepare", "--dataset", "labelled", "--data_dir", str(tmp_path), "--output_dir", str(output)])
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"no labels.csv in {tmp_path}: a labelled folder lists" in error
    assert not output.exists()


# ------------------------------------------------------------------ rows not yet labelled (both blank)
def test_rows_left_blank_are_left_out_and_counted_in_one_warning(tmp_path: Path) -> None:
    _write_audio(tmp_path, "a.wav", "b.wav", "c.wav")
    text = "file,crackle,wheeze,patient,reason\na.wav,1,0,p1,\nb.wav,,,p1,uncertain\nc.wav, , ,p2,far\n"
    (tmp_path / "labels.csv").write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = read_labels_csv(tmp_path / "labels.csv")
    assert [(row.file, row.crackle, row.wheeze) for row in rows] == [("a.wav", 1, 0)]
    messages = [str(w.message) for w in caught]  # the reason column is read: no "left out" column
    assert [w.category for w in caught] == [UnlabelledRowsWarning], messages
    assert messages == [
        f"{tmp_path / 'labels.csv'}: 1 labelled, 2 left blank (not yet labelled), 0 judged too poor to "
        "label; reading the 1 labelled"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        every = read_labels_csv(tmp_path / "labels.csv", unlabelled=True)
    assert [(row.labelled, row.crackle, row.reason) for row in every] == [
        (True, 1, None),
        (False, None, "uncertain"),
        (False, None, "far"),
    ]


def test_rows_judged_too_poor_are_answered_and_counted_apart_from_the_blank_ones(tmp_path: Path) -> None:
    """A recording judged too poor to label (``quality`` poor, as the labelling page writes it, or with flags
    by hand) is an answer: left out of what is read, counted apart from the rows not yet labelled."""
    _write_audio(tmp_path, "a.wav", "b.wav", "c.wav", "d.wav")
    rows = ("a.wav,1,0,p1,good", "b.wav,,,p1,poor", "c.wav,,,p2,", "d.wav,0,0,p3,Poor")
    (tmp_path / "labels.csv").write_text("file,crackle,wheeze,patient,quality\n" + "\n".join(rows) + "\n")
    with pytest.warns(UnlabelledRowsWarning) as caught:
        rows = read_labels_csv(tmp_path / "labels.csv")
    assert [row.file for row in rows] == ["a.wav"]
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'labels.csv'}: 1 labelled, 1 left blank (not yet labelled), 2 judged too poor to "
        "label; reading the 1 labelled"
    ]
    every = read_labels_csv(tmp_path / "labels.csv", unlabelled=True)
    assert [(row.labelled, row.poor, row.answered) for row in every] == [
        (True, False, True),
        (False, True, True),
        (False, False, False),
        (False, True, True),
    ]
    (tmp_path / "labels.csv").write_text("file,crackle,wheeze,quality\na.wav,,,poor\nb.wav,,,\n")
    with pytest.raises(CorpusFormatError, match=r"labels\.csv:1: no row is labelled yet: .* 1 of 2 rows"):
        read_labels_csv(tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("file,crackle,wheeze,quality\na.wav,1,0,\nb.wav,0,0,bad\n")
    with pytest.raises(CorpusFormatError, match=r"labels\.csv:3: quality is 'bad': write poor, good or"):
        read_labels_csv(tmp_path / "labels.csv", unlabelled=True)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("file,crackle,wheeze\na.wav,1,0\nb.wav,,1\n", 3, "crackle is blank but not the other: fill both"),
        ("file,crackle,wheeze\na.wav,0,\n", 2, "wheeze is blank but not the other: fill both"),
        ("file,crackle,wheeze\na.wav,,\nb.wav,,\n", 1, "no row is labelled yet: crackle and wheeze are"),
    ],
)
def test_a_half_blank_row_or_nothing_labelled_is_one_error(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    _write_audio(tmp_path, "a.wav", "b.wav")
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(CorpusFormatError) as caught:
        read_labels_csv(tmp_path / "labels.csv")
    assert str(caught.value).startswith(f"{tmp_path / 'labels.csv'}:{line}: {message}"), str(caught.value)
    if line > 1:  # a half-blank row is refused even by a reader that takes blank rows
        with pytest.raises(CorpusFormatError):
            read_labels_csv(tmp_path / "labels.csv", unlabelled=True)
