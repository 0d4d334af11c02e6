"""Figures on their own Agg canvas (no pyplot), written atomically in the format the suffix names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..utils.files import atomic_path, check_file_target

DPI = 120
FIGURE_FORMATS = tuple(sorted(set(FigureCanvasAgg.get_supported_filetypes()) - {"pgf"}))
"""The file suffixes a figure can be written as (matplotlib's; ``pgf`` needs a LaTeX installation)."""


def new_figure(
    width: float, height: float, *, margins: tuple[float, float, float, float] | None = None
) -> Figure:
    """A ``width`` × ``height`` inch figure on its own Agg canvas, its subplots ``margins`` (left, right,
    bottom, top) inches from its edges, else placed by constrained layout."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout=None if margins is not None else "constrained")
    FigureCanvasAgg(figure)
    if margins is not None:
        left, right, bottom, top = margins
        figure.subplots_adjust(left / width, bottom / height, 1 - right / width, 1 - top / height)
    return figure


def figure_format(path: str | Path) -> str:
    """The image format ``path``'s suffix names (``png`` for ``a.PNG``), else ``ValueError``."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        named = f"'.{suffix}' is not an image format" if suffix else "has no suffix to name its format"
        choices = ", ".join(f".{name}" for name in FIGURE_FORMATS)
        raise ValueError(f"{path}: {named}; name the figure's file with one of {choices}")
    return suffix


def check_figure_target(path: str | Path) -> str:
    """``path`` checked as a figure's file before any work (:func:`~respira.utils.files.check_file_target`,
    :func:`figure_format`); its format."""
    return figure_format(check_file_target(path))


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` atomically in the format its suffix names; return the path."""
    path = Path(path)
    image_format = figure_format(path)
    with atomic_path(path) as partial:
        figure.savefig(partial, format=image_format, dpi=DPI, facecolor="white")
    return path


def save_figures(figures: Mapping[str, Figure], folder: str | Path) -> list[Path]:
    """Write each of ``figures`` (by file name) into ``folder`` with :func:`save_figure`; return the paths."""
    return [save_figure(figure, Path(folder) / name) for name, figure in figures.items()]
