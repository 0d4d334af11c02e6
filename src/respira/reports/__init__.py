"""Reports: what an evaluation, a training run or a prediction draws and writes (PNG figures on Agg
``Figure`` objects, written atomically).
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
