"""The report's confusion matrix plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .figures import new_figure, save_figure


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path
) -> Path:
    """Each cell's cycle count and its fraction of the true class (the colour); return ``path``."""
    counts = np.asarray(cm, dtype=np.float64)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(f"{len(class_names)} class names for a confusion matrix of shape {counts.shape}")
    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.full_like(counts, np.nan), where=row_sums > 0)
    figure = new_figure(6.8, 5.4, margins=(0.9, 0.1, 0.7, 0.45))
    ax = figure.subplots()
    image = ax.imshow(np.ma.masked_invalid(fractions), cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), count in np.ndenumerate(counts):
        fraction = fractions[i, j]
        text = f"{int(count)}\n({fraction:.2f})" if np.isfinite(fraction) else f"{int(count)}"
        colour = "white" if fraction > 0.5 else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=11, color=colour)
    positions = np.arange(len(class_names))
    ax.set_xticks(positions, labels=list(class_names))
    ax.set_yticks(positions, labels=list(class_names))
    ax.set(xlabel="predicted class", ylabel="true class")
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_title(f"Confusion matrix ({int(counts.sum())} cycles)", fontsize=13)
    return save_figure(figure, path)
