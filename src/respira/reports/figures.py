"""The figure and PNG plumbing shared by the report plots.

Figures are plain :class:`matplotlib.figure.Figure` objects on the Agg canvas (no pyplot: safe in
scripts, notebooks and threads, and the user's backend is never changed); PNGs are written
atomically (a temporary sibling renamed into place).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..utils.files import atomic_path

DPI = 120


def new_figure(width: float, height: float, *, layout: str | None = "constrained") -> Figure:
    """A ``width`` × ``height`` inch figure on its own Agg canvas, with constrained layout unless
    ``layout=None`` (a figure that places its axes itself; saving it then draws it once, not twice)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG to ``path`` atomically (the parent folder is created); return the path."""
    path = Path(path)
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=DPI, facecolor="white")
    return path


def save_pngs(figures: Mapping[str, Figure], folder: str | Path) -> list[Path]:
    """Write each of ``figures`` (by file name) into ``folder`` with :func:`save_png`; return the paths."""
    return [save_png(figure, Path(folder) / name) for name, figure in figures.items()]
