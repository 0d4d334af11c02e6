"""The folder an evaluation report is written to: staged, and swapped into place only when complete."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from ..utils.files import check_output_folder, staged_folder


def check_report_target(output_dir: str | Path) -> Path:
    """``output_dir`` if missing, empty or an earlier report (every path in it one respira wrote); else a
    one-line ``OSError`` (:func:`respira.utils.files.check_output_folder`)."""
    return check_output_folder(output_dir, overwrite=True)


def report_folder(output_dir: str | Path) -> AbstractContextManager[Path]:
    """A staging folder (checked as :func:`check_report_target`) that replaces ``output_dir`` when the block
    ends without error."""
    return staged_folder(output_dir, overwrite=True)
