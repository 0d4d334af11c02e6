"""Fixtures of the command tests: the screening tests' tiny detector and archive."""

from __future__ import annotations

from ..screening.conftest import archive, archive_template, detector_dir

__all__ = ["archive", "archive_template", "detector_dir"]
