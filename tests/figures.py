"""Figures saved as PNG in tests without being drawn: a 1 x 1 white image is written instead.

Drawing is most of a tiny run's CPU time (text layout, constrained layout, rasterising), and a run's
figures are built (data, artists) all the same. The tests of each figure draw it (marked ``figures``; the
docs' command server and every test not so marked skip drawing); ``RESPIRA_TESTS_DRAW_FIGURES=1`` draws
every figure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

BLANK_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\r\xefF\xb8\x00\x00\x00\x00IEND\xaeB`\x82"
)
_savefig = Figure.savefig


def _blank_png(figure: Figure, fname: Any, *args: Any, **kwargs: Any) -> None:
    image_format = kwargs.get("format") or Path(str(fname)).suffix.lstrip(".").lower() or "png"
    if image_format != "png":
        return _savefig(figure, fname, *args, **kwargs)
    if hasattr(fname, "write"):
        fname.write(BLANK_PNG)
    else:
        Path(fname).write_bytes(BLANK_PNG)
    return None


def skip_drawing() -> None:
    """From now on, ``Figure.savefig`` writes :data:`BLANK_PNG` for a PNG (other formats are drawn)."""
    if os.environ.get("RESPIRA_TESTS_DRAW_FIGURES") != "1":
        Figure.savefig = _blank_png


@contextlib.contextmanager
def drawn() -> Iterator[None]:
    """Figures drawn for real inside."""
    before, Figure.savefig = Figure.savefig, _savefig
    try:
        yield
    finally:
        Figure.savefig = before
