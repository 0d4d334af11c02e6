"""The folder an evaluation report is written to: staged, and swapped into place only when complete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..utils.files import check_output_folder, staged_folder


def check_report_target(output_dir: str | Path) -> Path:
    """``output_dir`` if missing, empty or an earlier report (every path in it one respira wrote); else a
    one-line ``OSError`` (:func:`respira.utils.files.check_output_folder`)."""
    return check_output_folder(output_dir, overwrite=True)


@contextmanager
def report_folder(output_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder that replaces ``output_dir`` when the block ends without error."""
    with staged_folder(check_report_target(output_dir), overwrite=True) as staging:
        yield staging
