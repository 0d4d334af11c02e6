"""Evaluation reports: metrics, confusion matrices, training curves, embedding projections and the
picture of a recording (PNG).

Plots are drawn with matplotlib's Agg renderer on ``Figure`` objects (pyplot's global state and the
user's backend are left alone) and written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

from .evaluation import evaluate_model
from .plots import pca_2d, plot_confusion_matrix, plot_embedding_projection
from .recording_plot import plot_recording, recording_figure
from .training_curves import plot_training_curves

__all__ = [
    "evaluate_model",
    "pca_2d",
    "plot_confusion_matrix",
    "plot_embedding_projection",
    "plot_recording",
    "plot_training_curves",
    "recording_figure",
]
