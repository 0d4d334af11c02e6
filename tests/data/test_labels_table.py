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
        ("a.wav,1,0,", "labels.csv:2: file 'a.wav' has no patient: give every row one, or drop the patient"),
        ("a.wav,1,0, ", "labels.csv:2: file 'a.wav' has no patient"),
    ],
)
def test_a_bad_row_is_one_line(labels: Path, row: str, expected: str) -> None:
    header = "file,crackle,wheeze" + (",patient" if "patient" in expected else "")
    labels.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=expected.replace(".", r"\.")):
        LabelsTable.read(labels)


def test_a_file_listed_twice_is_refused(labels: Path) -> None:
    labels.write_text("file,crackle,wheeze\na.wav,,\nb.wav,,\n./a.wav,1,0\n", encoding="utf-8")
    with pytest.raises(
        CorpusFormatError, match=r"labels\.csv:4: file './a.wav' is listed twice \(first on line 2\)"
    ):
        LabelsTable.read(labels)


def test_it_is_saved_through_a_symlink_with_its_mode_and_never_beside_a_live_writer(
    labels: Path, tmp_path: Path
) -> None:
    import stat

    from respira.data.labels_csv import LabelsBusyError, hold_labels

    target = tmp_path / "kept" / "labels.csv"
    target.parent.mkdir()
    labels.rename(target)
    target.chmod(0o600)
    labels.symlink_to(target)
    table = LabelsTable.read(labels)
    table.set_answer(table.rows[0], "normal")
    held = hold_labels(target)  # a labelling page on the file, by its own name
    try:
        with pytest.raises(LabelsBusyError, match=rf"^{labels} is being written by another process \(pid "):
            table.save()
        table.save(held=True)
    finally:
        held.release()
    assert labels.is_symlink() and target.read_bytes().decode() == ORIGINAL.replace(
        "a.wav;p1;;", "a.wav;p1;0;0"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    table.set_answer(table.rows[1], "crackle")
    table.save()  # the lock taken and given back
    assert sorted(p.name for p in target.parent.iterdir()) == ["labels.csv"]


@pytest.mark.parametrize(
    "command",
    [
        ["suggest", "--data_dir", "{site}", "--budget", "1", "--output", "{site}/next.csv"],
        ["label", "{site}", "--port", "0"],
        ["fit-site", "--data_dir", "{site}", "--output_dir", "{site}/fitted"],
        ["evaluate", "--dataset", "labelled", "--data_dir", "{site}"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_reading_a_labelled_folder_refuses_a_blank_patient_alike(
    labels: Path, command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira.inference.detector
    from respira.cli import main

    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    labels.write_text("file,patient,crackle,wheeze\na.wav,p1,1,0\nb.wav,,0,0\nc.wav,p2,,\n")
    before = sorted(p.name for p in labels.parent.iterdir())
    assert main([part.format(site=labels.parent) for part in command]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the line naming the default model
    assert error == (
        f"respira {command[0]}: error: {labels}:3: file 'b.wav' has no patient: give every row one, or drop "
        "the patient column"
    )
    assert sorted(p.name for p in labels.parent.iterdir()) == before
