"""Reports: what an evaluation, a training run or a prediction draws and writes (metrics, confusion
matrices, training curves, embedding projections and the picture of a recording, as PNG); what runs a
model over a corpus is :mod:`respira.evaluation`.

Plots are drawn with matplotlib's Agg renderer on ``Figure`` objects (pyplot's global state and the
user's backend are left alone) and written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

from .plots import pca_2d, plot_confusion_matrix, plot_embedding_projection
from .recording_plot import plot_recording, recording_figure
from .training_curves import plot_training_curves

__all__ = [
    "pca_2d",
    "plot_confusion_matrix",
    "plot_embedding_projection",
    "plot_recording",
    "plot_training_curves",
    "recording_figure",
]
