"""The folder an evaluation report is written to: staged, and swapped into place only when complete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..utils.files import check_folder_target, is_occupied, staged_folder

__all__ = ["check_report_target", "is_report", "report_folder"]

REPORT_MARKER = "metrics.json"  # the file every respira evaluation report holds
REPORT_SUFFIXES = frozenset({".json", ".csv", ".png"})
"""What a report's files are: a folder holding anything else is not replaced."""


def check_report_target(output_dir: str | Path) -> Path:
    """``output_dir`` if missing, empty or an earlier report; else a one-line ``OSError``."""
    output = check_folder_target(output_dir)
    if output.is_file() or output.is_symlink():
        raise FileExistsError(f"{output} is a file; the report needs a folder there")
    if is_occupied(output) and not is_report(output):
        raise FileExistsError(
            f"{output} holds files that are not a respira evaluation report; choose another folder for it"
        )
    return output


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier report (``metrics.json`` and report files, or sub-reports)."""
    return (folder / REPORT_MARKER).is_file() and all(
        not entry.is_symlink()
        and ((entry.is_file() and entry.suffix in REPORT_SUFFIXES) or (entry.is_dir() and is_report(entry)))
        for entry in folder.iterdir()
    )


@contextmanager
def report_folder(output_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder that replaces ``output_dir`` when the block ends without error."""
    output = check_report_target(output_dir)
    with staged_folder(output, overwrite=True) as staging:
        yield staging
