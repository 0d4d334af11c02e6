"""A report is swapped into place whole, replaces only an earlier report, and a failure keeps the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.utils.files import WRITTEN_FILE, check_output_folder, staged_folder


def report_folder(folder: Path):
    """How every evaluation writes its report folder."""
    return staged_folder(folder, overwrite=True)


def check_report_target(folder: Path) -> Path:
    """How every evaluation checks its report folder first."""
    return check_output_folder(folder, overwrite=True)


def _report(folder: Path, **files: str) -> Path:
    """``folder`` holding ``files`` as an earlier evaluation wrote them (staged, with respira's record)."""
    with report_folder(folder) as staging:
        for name, text in files.items():
            (staging / name).write_text(text)
    return folder


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != WRITTEN_FILE)


def test_a_new_report_replaces_the_earlier_one_whole(tmp_path: Path) -> None:
    output = _report(tmp_path / "evaluation_test", **{"metrics.json": "old", "threshold_curves.png": "old"})
    with report_folder(output) as staging:
        assert staging != output and not (staging / "metrics.json").exists()
        (staging / "metrics.json").write_text("new")
    assert _names(output) == ["metrics.json"]  # no stale figure of the old run
    assert (output / "metrics.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation_test"]


def test_a_failure_half_way_keeps_the_earlier_report_and_leaves_nothing(tmp_path: Path) -> None:
    output = _report(tmp_path / "evaluation_test", **{"metrics.json": "old", "confusion_matrix.png": "old"})
    with pytest.raises(KeyboardInterrupt), report_folder(output) as staging:
        (staging / "metrics.json").write_text("new")
        raise KeyboardInterrupt  # Ctrl-C while the figures are drawn
    assert {p.name: p.read_text() for p in output.iterdir() if p.name != WRITTEN_FILE} == {
        "metrics.json": "old",
        "confusion_matrix.png": "old",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation_test"]


def test_only_a_missing_or_empty_folder_or_an_earlier_report_is_a_target(tmp_path: Path) -> None:
    check_report_target(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    check_report_target(tmp_path / "empty")
    check_report_target(_report(tmp_path / "report", **{"metrics.json": "{}"}))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("the user's own")
    with pytest.raises(FileExistsError, match=r"notes holds no record of what respira wrote"):
        check_report_target(notes)
    with pytest.raises(FileExistsError, match=r"notes holds no record"), report_folder(notes):
        pytest.fail("the block must not run")
    assert (notes / "notes.txt").read_text() == "the user's own"
    mixed = _report(tmp_path / "mixed", **{"metrics.json": "{}"})
    (mixed / "notes.csv").write_text("mine")  # a report, and more
    with pytest.raises(FileExistsError, match=r"mixed/notes\.csv was not written by respira"):
        check_report_target(mixed)
    with pytest.raises(FileExistsError, match=r"notes\.txt is a file"):
        check_report_target(notes / "notes.txt")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        check_report_target(notes / "notes.txt" / "report")
