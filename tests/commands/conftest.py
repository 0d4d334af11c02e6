"""Fixtures of the command tests: the screening tests' tiny detector and archive, and the app tests' tiny
multi-label model exported with its ONNX graph (converted once per run)."""

from __future__ import annotations

from ..app.conftest import model_dir, run_dir
from ..screening.conftest import archive, archive_template, detector_dir

__all__ = ["archive", "archive_template", "detector_dir", "model_dir", "run_dir"]
