"""PNG plots for reports: confusion matrix and a 2-D PCA of embeddings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .figures import new_figure, save_figure

__all__ = ["pca_2d", "plot_confusion_matrix", "plot_embedding_projection"]

OTHER_COLOUR = "#b0b0b0"


# ----------------------------------------------------------------------------------- confusion matrix
def _annotate(ax: Any, values: np.ndarray, texts: list[list[str]]) -> None:
    finite = values[np.isfinite(values)]
    threshold = (float(finite.max()) if finite.size else 0.0) / 2.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "white" if np.isfinite(values[i, j]) and values[i, j] > threshold else "black"
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=11, color=colour)


def _matrix_axes(ax: Any, class_names: Sequence[str], title: str) -> None:
    positions = np.arange(len(class_names))
    rotate = max((len(name) for name in class_names), default=0) > 8
    ax.set_xticks(
        positions, labels=list(class_names), rotation=30 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_yticks(positions, labels=list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Two panels: cycle counts, and the rows as fractions of each true class; return ``path``."""
    counts = np.asarray(cm, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"the confusion matrix must be square, got shape {counts.shape}")
    if counts.shape[0] != len(class_names):
        raise ValueError(f"{len(class_names)} class names for a {counts.shape[0]}x{counts.shape[0]} matrix")
    row_sums = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(row_sums > 0, counts / np.where(row_sums > 0, row_sums, 1.0), np.nan)
    size = max(4.5, 1.0 + 1.1 * len(class_names))
    figure = new_figure(2 * size + 1.6, size)
    left, right = figure.subplots(1, 2)

    image = left.imshow(counts, cmap="Blues", vmin=0)
    count_texts = [[f"{int(value)}" for value in row] for row in counts]
    _annotate(left, counts, count_texts)
    _matrix_axes(left, class_names, "counts")
    figure.colorbar(image, ax=left, shrink=0.8, label="cycles")

    masked = np.ma.masked_invalid(normalised)
    image = right.imshow(masked, cmap="Blues", vmin=0.0, vmax=1.0)
    fraction_texts = [[f"{value:.2f}" if np.isfinite(value) else "–" for value in row] for row in normalised]
    _annotate(right, np.nan_to_num(normalised, nan=0.0), fraction_texts)
    _matrix_axes(right, class_names, "normalised by row (recall of each true class)")
    figure.colorbar(image, ax=right, shrink=0.8, label="fraction of the true class")

    total = int(counts.sum())
    figure.suptitle(title or f"Confusion matrix ({total} cycles)", fontsize=14)
    return save_figure(figure, path)


# --------------------------------------------------------------------------------- embedding projection
def pca_2d(embeddings: np.ndarray | Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Project ``[N, D]`` embeddings on their first two principal components (numpy SVD).

    Returns the ``[N, 2]`` projection and each component's explained variance fraction; signs are fixed
    (largest loading positive) and missing components are zeros.
    """
    data = np.asarray(embeddings, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty [N, D] array, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("embeddings contain NaN or infinite values")
    centred = data - data.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    k = min(2, components.shape[0])
    components = components[:k]
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(k), largest])
    signs[signs == 0] = 1.0
    projection = np.zeros((data.shape[0], 2))
    projection[:, :k] = centred @ (components * signs[:, None]).T
    variance = singular**2
    explained = np.zeros(2)
    if variance.sum() > 0:
        explained[:k] = variance[:k] / variance.sum()
    return projection, explained


def _categories(values: Sequence[Any], order: Sequence[Any] | None, cap: int) -> tuple[list[str], list[str]]:
    """(labels per point, legend categories in drawing order): at most ``cap`` named, the rest ``other``."""
    labels = ["unknown" if value is None else str(value) for value in values]
    counts = Counter(labels)
    if order is not None:
        ranked = [str(value) for value in order if str(value) in counts]
        ranked += sorted((label for label in counts if label not in ranked), key=lambda c: (-counts[c], c))
    else:
        ranked = sorted(counts, key=lambda c: (-counts[c], _natural_key(c)))
    named = ranked[:cap]
    if order is None:
        named = sorted(named, key=_natural_key)
    return labels, named


def _natural_key(text: str) -> tuple:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def plot_embedding_projection(
    embeddings: np.ndarray | Sequence[Sequence[float]],
    colour_by: Mapping[str, Sequence[Any]],
    path: str | Path,
    *,
    max_legend: int = 10,
    orders: Mapping[str, Sequence[Any]] | None = None,
    title: str | None = None,
) -> Path:
    """Scatter the 2-D PCA of ``embeddings``, one panel per colouring in ``colour_by``; return ``path``.

    Each legend names at most ``max_legend`` values (most frequent, or ``orders[name]``); the rest are grey.
    """
    projection, explained = pca_2d(embeddings)
    n = projection.shape[0]
    panels = dict(colour_by) or {"all embeddings": ["all"] * n}
    for name, values in panels.items():
        if len(values) != n:
            raise ValueError(f"colour_by[{name!r}] has {len(values)} values for {n} embeddings")
    orders = orders or {}
    figure = new_figure(6.4 * len(panels), 5.4)
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    palette = _palette(max_legend)
    point_size = float(np.clip(4000.0 / max(n, 1), 4.0, 40.0))
    for ax, (name, values) in zip(axes, panels.items(), strict=True):
        labels, named = _categories(values, orders.get(name), max_legend)
        label_array = np.asarray(labels, dtype=object)
        other = ~np.isin(label_array, named)
        if other.any():
            label = f"other ({len(set(label_array[other]))} values, {int(other.sum())} points)"
            x, y = projection[other].T
            ax.scatter(x, y, s=point_size, c=OTHER_COLOUR, alpha=0.5, linewidths=0, label=label)
        for index, category in enumerate(named):
            mask = label_array == category
            x, y, colour = *projection[mask].T, palette[index % len(palette)]
            ax.scatter(
                x, y, s=point_size, color=colour, alpha=0.8, linewidths=0, label=f"{category} ({mask.sum()})"
            )
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.1f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.1f}% of variance)")
        shown = f"top {max_legend} of {len(set(labels))}" if len(set(labels)) > max_legend else ""
        ax.set_title(f"coloured by {name}" + (f" ({shown})" if shown else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(title=name, fontsize=8, title_fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(title or f"Embeddings: 2-D PCA ({n} points)", fontsize=14)
    return save_figure(figure, path)


def _palette(count: int) -> list[Any]:
    """Distinct colours without grey (grey is for "other")."""
    from matplotlib import colormaps

    if count <= 10:
        colours = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]  # 7: grey
        return [*colours, (0.0, 0.0, 0.0)]
    return [c for i, c in enumerate(colormaps["tab20"].colors) if i not in (14, 15)]  # 14, 15: greys
